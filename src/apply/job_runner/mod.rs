//! What each kind of job does, through the buildx backend.
//!
//! Builds, and syncs or combines `via: builder`, push by digest (or to a
//! staging tag where the `docker` driver cannot) and only then point the
//! final tags at the result with one `imagetools create`: a failed build
//! never moves a tag.
//!
//! Each kind of job has its own file: `builders.rs`, `builds.rs`,
//! `copies.rs`; `tag_moves.rs` points tags at what they pushed.

mod builders;
mod builds;
mod copies;
mod repository;
mod tag_moves;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::schedule::JobRef;
use crate::backend::buildx::Docker;
use crate::backend::process::{self, Captured, Invocation};
use crate::backend::registry::Registries;
use crate::exec::{BoxFuture, JobContext, JobError, Outcome, Runner};
use crate::plan::address::Address;
use crate::plan::platform::Platform;
use crate::plan::reference::ImageRef;
use crate::plan::resolved::{At, Plan};
use crate::state::Change;

pub struct JobRunner {
    pub plan: Arc<Plan>,
    pub addresses: Vec<Address>,
    pub jobs: Vec<JobRef>,
    pub docker: Docker,
    /// Run-scoped folder for metadata files, buildkitd.toml files and generated Dockerfiles.
    pub workdir: PathBuf,
    /// The native copy engine, shared by every job of the run.
    pub registries: Arc<Registries>,
    /// What `decide` said for each job (as `diff` shows it).
    pub changes: Vec<Change>,
    /// Jobs to run even when unchanged (`--force`).
    pub forced: Vec<bool>,
    /// Which job of the run makes which image: a build reading one computes
    /// its fingerprint again once that job has run.
    pub makers: crate::state::inputs::Makers,
    /// `--allow-delete`: a repository sync may delete the tags it prunes.
    pub allow_delete: bool,
    /// `--publish at-end`: the tag moves held back until every job succeeded.
    pub held: std::sync::Mutex<Vec<Invocation>>,
}

impl Runner for JobRunner {
    fn run(self: Arc<Self>, context: JobContext) -> BoxFuture<Result<Outcome, JobError>> {
        Box::pin(async move {
            let job = self.jobs[context.job];
            let change = &self.changes[context.job];
            if !change.action.runs() && !self.forced[context.job] {
                context.output(format!("unchanged: {}", change.reason));
                return Ok(Outcome::unchanged(change.reason.clone()));
            }
            let dir = self.workdir.join(self.addresses[context.job].to_string());
            tokio::fs::create_dir_all(&dir).await.map_err(|err| {
                JobError::fatal(format!("cannot create {}: {err}", dir.display()))
            })?;
            match job {
                JobRef::Builder(i) => {
                    self.builder(&self.plan.builders[i], change, &dir, &context)
                        .await
                }
                JobRef::Build(i) => self.build(i, &dir, &context).await,
                JobRef::Sync(i) => self.sync(i, &dir, &context).await,
                JobRef::Combine(i) => self.combine(i, &dir, &context).await,
            }
        })
    }
}

/// The executor's job context, as the backend's handle: the adapter
/// between the two layers' seams (each owns its own).
impl crate::backend::handle::JobHandle for JobContext {
    fn step(&self, step: String) {
        JobContext::step(self, step);
    }
    fn output(&self, line: String) {
        JobContext::output(self, line);
    }
    fn cancellation(&self) -> &tokio_util::sync::CancellationToken {
        &self.cancel
    }
    fn grace(&self) -> std::time::Duration {
        self.grace
    }
}

async fn run_logged(invocation: &Invocation, context: &JobContext) -> Result<Captured, JobError> {
    process::run(invocation, context, |line| context.output(line)).await
}

fn write(path: &Path, text: &str) -> Result<(), JobError> {
    std::fs::write(path, text)
        .map_err(|err| JobError::fatal(format!("cannot write {}: {err}", path.display())))
}

/// A tag for an intermediate push: `repo:buildplan-<job>-<platform>`.
fn staging_tag(repository: &str, job: &str, platforms: &[&Platform]) -> String {
    let platform = platforms
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("-");
    let tag = crate::apply::cache::tag_safe(&format!("buildplan-{job}-{platform}"));
    format!("{repository}:{tag}")
}

fn image_text(image: &At<ImageRef>) -> String {
    image.value.to_string()
}

impl JobRunner {
    /// An image as this run should read it: a tag held back under
    /// `--publish at-end` is read where its content already is.
    fn resolve(&self, image: &ImageRef) -> String {
        self.registries
            .pinned(image)
            .unwrap_or_else(|| image.clone())
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_tags_are_valid_tags() {
        let p = Platform::parse("linux/arm/v7").unwrap();
        assert_eq!(
            staging_tag("127.0.0.1:5000/app", "hello", &[&p]),
            "127.0.0.1:5000/app:buildplan-hello-linux-arm-v7"
        );
        assert!(ImageRef::parse(&staging_tag("r.example/a", &"x".repeat(300), &[&p])).is_ok());
    }
}
