//! Moving tags: one `imagetools create` per job once its content is
//! pushed, or, under `--publish at-end`, a staging tag now and the real
//! tags once every job succeeded.

use super::{JobRunner, run_logged, staging_tag};
use crate::backend::buildx::{Engine, repository_of};
use crate::backend::process::Invocation;
use crate::exec::{JobContext, JobError};
use crate::plan::reference::ImageRef;

impl JobRunner {
    /// Points `tags` at `sources` (one `imagetools create`), or, under
    /// `--publish at-end`, at a staging tag now and the real tags at the end.
    pub(super) async fn move_tags(
        &self,
        job: &str,
        engine: &Engine,
        tags: &[String],
        sources: &[String],
        context: &JobContext,
    ) -> Result<bool, JobError> {
        if !self.registries.holding() {
            run_logged(
                &self.docker.imagetools_create(engine, tags, sources),
                context,
            )
            .await?;
            return Ok(true);
        }
        let Some(first) = tags.first() else {
            return Ok(false);
        };
        let staging = staging_tag(&repository_of(first), job, &[]);
        run_logged(
            &self
                .docker
                .imagetools_create(engine, std::slice::from_ref(&staging), sources),
            context,
        )
        .await?;
        if let Ok(at) = ImageRef::parse(&staging) {
            for tag in tags {
                if let Ok(tag) = ImageRef::parse(tag) {
                    self.registries.pin(&tag, at.clone());
                }
            }
        }
        context.output(format!(
            "holding {} until the run succeeds (content at {staging})",
            tags.join(", ")
        ));
        crate::lock::lock(&self.held).push(self.docker.imagetools_create(engine, tags, &[staging]));
        Ok(false)
    }

    /// Runs the held tag moves, in order. Returns what moved.
    pub async fn publish_held(&self) -> Result<Vec<String>, String> {
        let held: Vec<Invocation> = std::mem::take(&mut *crate::lock::lock(&self.held));
        let mut moved = Vec::new();
        for invocation in held {
            let output = tokio::process::Command::new(&invocation.program)
                .args(&invocation.args)
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output()
                .await
                .map_err(|err| format!("cannot run docker: {err}"))?;
            if !output.status.success() {
                return Err(format!(
                    "`{}` failed: {}",
                    invocation.display(),
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
            moved.push(invocation.display());
        }
        Ok(moved)
    }
}
