//! A repository sync: each selected tag that `diff` found missing or
//! moved is copied as a sync of one image (several at once; a blob shared
//! by tags crosses once, see `Registries::once`), then the tags its
//! selection no longer yields are deleted, only under `--allow-delete`.

use crate::backend::registry::sync::SyncOptions;
use futures_util::StreamExt;
use serde_json::json;

use super::JobRunner;
use crate::backend::registry::error::RegistryError;
use crate::exec::{JobContext, JobError, Outcome};
use crate::plan::platform::Platform;
use crate::plan::reference::ImageRef;

/// Tags copied at once within one job.
const TAGS_AT_ONCE: usize = 8;

impl JobRunner {
    pub(super) async fn repository_sync(
        &self,
        index: usize,
        context: &JobContext,
    ) -> Result<Outcome, JobError> {
        let sync = &self.plan.syncs[index];
        let change = &self.changes[context.job];
        // Forced, or moved by an upstream job of this run: every tag.
        let every = self.forced[context.job]
            || (change.tags.iter().all(|t| !t.action.runs()) && change.deletes.is_empty());
        let due: Vec<&str> = change
            .tags
            .iter()
            .filter(|t| every || t.action.runs())
            .map(|t| t.tag.as_str())
            .collect();
        let platforms: Vec<Platform> = sync.platforms.iter().map(|p| p.value).collect();
        context.step(format!(
            "copying {} of {} tags",
            due.len(),
            change.tags.len()
        ));
        // Futures made first, polled a few at once (a closure in the
        // stream would have to be general over lifetimes it cannot name).
        let mut copies = Vec::with_capacity(due.len());
        for tag in due {
            copies.push(self.copy_tag(sync.for_tag(tag), tag.to_owned(), &platforms, context));
        }
        let results: Vec<(String, Result<String, RegistryError>)> =
            futures_util::stream::iter(copies)
                .buffer_unordered(TAGS_AT_ONCE)
                .collect()
                .await;
        let mut copied = serde_json::Map::new();
        let mut failed = Vec::new();
        for (tag, result) in results {
            match result {
                Ok(digest) => {
                    copied.insert(tag, json!(digest));
                }
                Err(err) => failed.push(format!("{tag}: {}", err.message)),
            }
        }
        if !failed.is_empty() {
            failed.sort();
            return Err(JobError::fatal(format!(
                "{} of {} tags failed (the others are in place): {}",
                failed.len(),
                copied.len() + failed.len(),
                failed.join("; ")
            )));
        }
        let deleted = self.prune(change, context).await?;
        Ok(Outcome::done(json!({
            "from": sync.from.value.repository_name(),
            "copied": copied,
            "deleted": deleted,
        })))
    }

    async fn copy_tag(
        &self,
        one: crate::plan::resolved::Sync,
        tag: String,
        platforms: &[Platform],
        context: &JobContext,
    ) -> (String, Result<String, RegistryError>) {
        let to: Vec<ImageRef> = one.to.iter().map(|t| t.value.clone()).collect();
        let result = self
            .registries
            .sync(
                &one.from.value,
                &to,
                &SyncOptions {
                    platforms,
                    annotations: &one.annotations,
                    referrers: one.referrers,
                },
                context,
            )
            .await
            .map(|outcome| outcome.digest);
        (tag, result)
    }

    /// Deletes the stale tags `diff` showed; the run was refused before
    /// it started unless `--allow-delete` was given.
    async fn prune(
        &self,
        change: &crate::state::Change,
        context: &JobContext,
    ) -> Result<Vec<String>, JobError> {
        if change.deletes.is_empty() {
            return Ok(Vec::new());
        }
        if !self.allow_delete {
            return Err(JobError::fatal(
                "tags to delete, and no --allow-delete: nothing deleted",
            ));
        }
        let mut deleted = Vec::new();
        for stale in &change.deletes {
            // Ctrl-C stops the deletions between two tags.
            if context.cancel.is_cancelled() {
                return Err(JobError::fatal(format!(
                    "interrupted: {} of {} tags deleted",
                    deleted.len(),
                    change.deletes.len()
                )));
            }
            let image =
                ImageRef::parse(&stale.reference).map_err(|err| JobError::fatal(err.message))?;
            context.step(format!("deleting {image}"));
            let unshared = stale.digest.as_deref().filter(|_| stale.by_digest);
            let how = self.registries.delete_tag(&image, unshared).await?;
            context.output(format!("{image}: {}", how.word()));
            deleted.push(stale.reference.clone());
        }
        Ok(deleted)
    }
}
