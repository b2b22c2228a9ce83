//! Build jobs: one multi-platform build, or one per platform on the builder
//! that has it, each pushed by digest (or to a staging tag on the `docker`
//! driver), then the tags moved at once.

use crate::backend::registry::sync::SyncOptions;
use std::path::Path;

use indexmap::IndexMap;
use serde_json::json;
use tokio::task::JoinSet;

use super::{JobRunner, image_text, run_logged, staging_tag};
use crate::apply::cache::{CacheScope, cache_flags, tag_safe};
use crate::apply::placement::{Slot, slots};
use crate::backend::buildx::{
    BuildRequest, Engine, Output, RawManifest, digest_from_metadata, parse_raw_manifest,
    repository_of,
};
use crate::backend::process;
use crate::backend::rawjson::{RawJson, Update};
use crate::backend::registry::RegistryReader;
use crate::exec::{JobContext, JobError, Outcome};
use crate::plan::address::Address;
use crate::plan::platform::Platform;
use crate::plan::resolved::{Build, ContextSource, RunSettings};
use crate::state::change::Retag;
use crate::state::fingerprint::Fingerprint;
use crate::state::inputs::input_digests;

/// What a build publishes: where from, and under which tags.
pub(super) struct Publish<'a> {
    pub(super) context: &'a Path,
    pub(super) dockerfile: &'a Path,
    pub(super) args: IndexMap<String, String>,
    pub(super) labels: IndexMap<String, String>,
    pub(super) target: Option<&'a str>,
    pub(super) run: &'a RunSettings,
    /// Where `cache: local` keeps its folders (the plan file's folder).
    pub(super) local_root: &'a Path,
    /// Named contexts, resolved (a job's result pinned by digest).
    pub(super) contexts: Vec<(String, String)>,
    pub(super) tags: Vec<String>,
    pub(super) push: bool,
}

impl JobRunner {
    pub(super) async fn build(
        &self,
        index: usize,
        dir: &Path,
        context: &JobContext,
    ) -> Result<Outcome, JobError> {
        let build = &self.plan.builds[index];
        let retag = self.changes[context.job].retag.as_ref();
        if let Some(retag) = retag.filter(|_| !self.forced[context.job]) {
            return self.retag(retag, context).await;
        }
        let slots = slots(&self.plan, &build.builder, &build.platforms, build.strategy);
        // The fingerprint goes on the image, so the next `diff` can read it back.
        let mut labels = build.labels.clone();
        for (key, value) in self.fingerprint_labels(build, context).await? {
            labels.insert(key, value);
        }
        let contexts = self.named_contexts(build).await?;
        let publish = Publish {
            contexts,
            context: &build.context.value,
            dockerfile: &build.dockerfile.value,
            args: build.args.clone(),
            labels,
            target: build.target.as_deref(),
            run: &build.run,
            local_root: self.plan.sources.get(build.name.at.file).dir(),
            tags: build.tags.iter().map(image_text).collect(),
            push: build.push,
        };
        self.publish(&build.name.value, slots, &publish, dir, context)
            .await
    }

    /// An image built from exactly these inputs exists under another tag:
    /// it is copied to the tags that lack it, through the registry (no
    /// builder, no build). `--force` builds instead.
    async fn retag(&self, retag: &Retag, context: &JobContext) -> Result<Outcome, JobError> {
        context.step("retagging (same inputs)");
        let copied = self
            .registries
            .sync(&retag.from, &retag.to, &SyncOptions::image_only(), context)
            .await?;
        Ok(Outcome::done(json!({
            "retagged_from": retag.from.to_string(),
            "copy": copied,
        })))
    }

    /// The fingerprint labels as observed; for a build that reads other
    /// jobs' results, computed again now that those jobs have run (one of
    /// them may have just published a new image).
    async fn fingerprint_labels(
        &self,
        build: &Build,
        context: &JobContext,
    ) -> Result<Vec<(String, String)>, JobError> {
        let observed = &self.changes[context.job].labels;
        if self.makers.made_in_run(build).is_empty() {
            return Ok(observed.clone());
        }
        let reader = RegistryReader::of(&self.registries);
        let digests = input_digests(&self.plan, build, &reader).await;
        let fingerprint = Fingerprint::of(build, &digests).map_err(JobError::fatal)?;
        Ok(fingerprint.labels())
    }

    /// Each named context as buildx takes it. A job's result is passed as
    /// the image its first target names, pinned by the digest it has now
    /// (the job ran before this one: the graph says so).
    async fn named_contexts(&self, build: &Build) -> Result<Vec<(String, String)>, JobError> {
        let mut out = Vec::new();
        for context in &build.contexts {
            let value = match &context.value.source {
                ContextSource::Path(path) => path.display().to_string(),
                ContextSource::Layout(path) => format!("oci-layout://{path}"),
                ContextSource::Image(image) => format!("docker-image://{}", self.resolve(image)),
                ContextSource::Job(address) => {
                    format!("docker-image://{}", self.pinned_result(address).await?)
                }
            };
            out.push((context.value.name.clone(), value));
        }
        Ok(out)
    }

    /// `REPO@DIGEST` of what the job at `address` published.
    async fn pinned_result(&self, address: &Address) -> Result<String, JobError> {
        let image = self
            .plan
            .published_image(address)
            .map(|image| image.value.clone())
            .ok_or_else(|| JobError::fatal(format!("`{address}` publishes no image to read")))?;
        if let Some(pinned) = self.registries.pinned(&image) {
            return Ok(pinned.to_string());
        }
        let digest = self.registries.current(&image).await?.ok_or_else(|| {
            JobError::fatal(format!("`{image}` ({address}'s result) is not there"))
        })?;
        Ok(format!("{}@{digest}", repository_of(&image.to_string())))
    }

    /// Builds on each slot (concurrently), then moves the tags in one step.
    pub(super) async fn publish(
        &self,
        job: &str,
        slots: Vec<Slot<'_>>,
        what: &Publish<'_>,
        dir: &Path,
        context: &JobContext,
    ) -> Result<Outcome, JobError> {
        let repository = what.tags.first().map(|t| repository_of(t));
        let mut tasks: JoinSet<Result<(usize, Option<String>), JobError>> = JoinSet::new();
        let engines: Vec<Engine> = slots.iter().map(|s| s.engine.clone()).collect();
        // Each invocation's cache key: its platforms.
        let keys: Vec<String> = slots
            .iter()
            .map(|slot| {
                let platforms: Vec<String> =
                    slot.platforms.iter().map(ToString::to_string).collect();
                tag_safe(&platforms.join("-"))
            })
            .collect();
        // Staging tags this job pushes (the `docker` driver cannot push by
        // digest): removed once the real tags point at the result.
        let mut staged: Vec<String> = Vec::new();
        for (i, slot) in slots.iter().enumerate() {
            let output = match (&repository, what.push) {
                (Some(repository), true) if slot.push_by_digest => Output::PushByDigest {
                    repository: repository.clone(),
                },
                (Some(repository), true) => {
                    let tag = staging_tag(repository, job, &slot.platforms);
                    staged.push(tag.clone());
                    Output::PushTag { tag }
                }
                _ => Output::Local {
                    tags: what.tags.clone(),
                },
            };
            let metadata = dir.join(format!("metadata-{i}.json"));
            let cache = cache_flags(
                what.run,
                &CacheScope {
                    job,
                    repository: repository.as_deref(),
                    first_tag: what.tags.first().map(String::as_str),
                    key: &keys[i],
                    siblings: &siblings(&keys, i),
                    local_root: what.local_root,
                },
            );
            let invocation = self.docker.build(&BuildRequest {
                engine: slot.engine.clone(),
                builder: slot.builder,
                context: what.context,
                dockerfile: what.dockerfile,
                platforms: slot.platforms.clone(),
                args: &what.args,
                labels: &what.labels,
                target: what.target,
                run: what.run,
                cache_from: cache.from,
                cache_to: cache.to,
                contexts: &what.contexts,
                output,
                metadata_file: &metadata,
            });
            let context = context.clone();
            tasks.spawn(async move {
                let mut progress = RawJson::default();
                process::run(&invocation, &context, |line| {
                    for update in progress.feed(line) {
                        match update {
                            Update::Step(step) => context.step(step),
                            Update::Line(line) => context.output(line),
                        }
                    }
                })
                .await?;
                let digest = std::fs::read_to_string(&metadata)
                    .ok()
                    .and_then(|t| digest_from_metadata(&t));
                Ok((i, digest))
            });
        }
        let mut digests: Vec<Option<String>> = vec![None; slots.len()];
        while let Some(joined) = tasks.join_next().await {
            let (i, digest) =
                joined.map_err(|err| JobError::fatal(format!("build task failed: {err}")))??;
            digests[i] = digest;
        }
        let platform_digests: serde_json::Map<String, serde_json::Value> = slots
            .iter()
            .zip(&digests)
            .map(|(slot, digest)| {
                let platforms: Vec<String> =
                    slot.platforms.iter().map(ToString::to_string).collect();
                (platforms.join(","), json!(digest))
            })
            .collect();
        let (Some(repository), true) = (repository, what.push) else {
            return Ok(Outcome::done(json!({ "platforms": platform_digests })));
        };
        let sources = digests
            .iter()
            .map(|d| {
                d.as_ref()
                    .map(|d| format!("{repository}@{d}"))
                    .ok_or_else(|| JobError::fatal("buildx did not report the pushed digest (no `containerimage.digest` in the metadata file)"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        context.step("moving tags");
        let engine = engines.first().cloned().unwrap_or(Engine::Default);
        let moved = self
            .move_tags(job, &engine, &what.tags, &sources, context)
            .await?;
        if moved {
            self.remove_staging_tags(&staged, context).await;
        }
        Ok(Outcome::done(
            json!({ "tags": what.tags, "platforms": platform_digests, "tags_moved": moved }),
        ))
    }

    /// Deletes the staging tags a build pushed, now that its real tags
    /// point at the result: by tag, never by digest (the result's index
    /// names those images). A registry that will not delete leaves them,
    /// said in the log; the build has succeeded either way.
    async fn remove_staging_tags(&self, staged: &[String], context: &JobContext) {
        for tag in staged {
            let Ok(image) = crate::plan::reference::ImageRef::parse(tag) else {
                continue;
            };
            match self.registries.delete_tag(&image, None).await {
                Ok(_) => context.output(format!("{tag}: staging tag removed")),
                Err(err) => context.output(format!(
                    "{tag}: staging tag left in place ({})",
                    err.message
                )),
            }
        }
    }

    pub(super) async fn inspect(
        &self,
        reference: &str,
        context: &JobContext,
    ) -> Result<RawManifest, JobError> {
        let captured = run_logged(
            &self
                .docker
                .imagetools_inspect_raw(&Engine::Default, reference),
            context,
        )
        .await?;
        parse_raw_manifest(&captured.stdout)
            .map_err(|err| JobError::fatal(format!("`{reference}`: {err}")))
    }

    /// The digest of `reference`'s image for `platform`.
    pub(super) async fn platform_digest(
        &self,
        reference: &str,
        platform: &Platform,
        context: &JobContext,
    ) -> Result<String, JobError> {
        match self.inspect(reference, context).await? {
            RawManifest::Image { digest } => Ok(digest),
            RawManifest::Index(entries) => entries
                .into_iter()
                .find(|(_, p)| p == platform)
                .map(|(digest, _)| digest)
                .ok_or_else(|| JobError::fatal(format!("`{reference}` has no {platform} image"))),
        }
    }
}

/// The other invocations' keys (a split build's other platforms).
fn siblings(keys: &[String], own: usize) -> Vec<String> {
    keys.iter()
        .enumerate()
        .filter(|(i, _)| *i != own)
        .map(|(_, key)| key.clone())
        .collect()
}
