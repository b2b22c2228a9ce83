//! What each kind of job does, through the buildx backend.
//!
//! Builds, and syncs or combines `via: builder`, push by digest (or to a
//! staging tag where the `docker` driver cannot) and only then point the
//! final tags at the result with one `imagetools create`: a failed build
//! never moves a tag.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::json;
use tokio::task::JoinSet;

use super::placement::{Slot, slots};
use super::schedule::JobRef;
use crate::backend::buildkitd;
use crate::backend::buildx::{
    BuildRequest, Docker, Engine, Output, RawManifest, digest_from_metadata, parse_raw_manifest,
    repository_of,
};
use crate::backend::process::{self, Captured, Invocation};
use crate::backend::rawjson::{RawJson, Update};
use crate::backend::registry::Registries;
use crate::exec::{BoxFuture, JobContext, JobError, Runner};
use crate::plan::address::Address;
use crate::plan::platform::Platform;
use crate::plan::reference::ImageRef;
use crate::plan::resolved::{At, Builder, Driver, Placement, Plan, Strategy, Via};
use crate::state::{Action, Change};

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
    /// `--publish at-end`: the tag moves held back until every job succeeded.
    pub held: std::sync::Mutex<Vec<Invocation>>,
}

impl Runner for JobRunner {
    fn run(self: Arc<Self>, context: JobContext) -> BoxFuture<Result<serde_json::Value, JobError>> {
        Box::pin(async move {
            let job = self.jobs[context.job];
            let change = &self.changes[context.job];
            if !change.action.runs() && !self.forced[context.job] {
                context.output(format!("unchanged: {}", change.reason));
                return Ok(json!({ "unchanged": true, "reason": change.reason }));
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

/// What a build publishes: where from, and under which tags.
struct Publish<'a> {
    context: &'a Path,
    dockerfile: &'a Path,
    args: IndexMap<String, String>,
    labels: IndexMap<String, String>,
    target: Option<&'a str>,
    tags: Vec<String>,
    push: bool,
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
    let raw = format!("buildplan-{job}-{platform}");
    let tag: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect();
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

    /// Points `tags` at `sources` (one `imagetools create`), or, under
    /// `--publish at-end`, at a staging tag now and the real tags at the end.
    async fn move_tags(
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
        if let Ok(mut held) = self.held.lock() {
            held.push(self.docker.imagetools_create(engine, tags, &[staging]));
        }
        Ok(false)
    }

    /// Runs the held tag moves, in order. Returns what moved.
    pub async fn publish_held(&self) -> Result<Vec<String>, String> {
        let held: Vec<Invocation> = self
            .held
            .lock()
            .map(|mut h| std::mem::take(&mut *h))
            .unwrap_or_default();
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

    async fn builder(
        &self,
        builder: &Builder,
        change: &Change,
        dir: &Path,
        context: &JobContext,
    ) -> Result<serde_json::Value, JobError> {
        if builder.driver == Driver::Docker {
            let Some(node) = builder.nodes.first() else {
                return Err(JobError::fatal(format!(
                    "builder `{}` has no engine",
                    builder.name.value
                )));
            };
            context.step("checking the engine");
            let engine = Engine::Endpoint(node.endpoint.value.clone());
            let captured = run_logged(&self.docker.engine_version(&engine), context)
                .await
                .map_err(|err| JobError {
                    message: format!(
                        "the engine of builder `{}` is unreachable: {}",
                        builder.name.value, err.message
                    ),
                    ..err
                })?;
            return Ok(json!({ "engine": captured.stdout.trim() }));
        }
        let config = buildkitd::render(builder, &self.plan.mirrors).map_err(JobError::fatal)?;
        let mut paths = Vec::new();
        for node in &builder.nodes {
            // One file per node: buildx copies it into that node at create time.
            let path = dir.join(format!("{}.buildkitd.toml", node.name.value));
            write(&path, &config)?;
            paths.push(path);
        }
        let configs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        let creates = self.docker.create_builder(builder, &configs);
        if change.action == Action::Update {
            // In place: append the nodes it lacks, drop those the plan no longer has.
            context.step("updating");
            for (node, invocation) in builder.nodes.iter().zip(&creates) {
                if change.append.contains(&node.name.value) {
                    let mut invocation = invocation.clone();
                    if !invocation.args.iter().any(|a| a == "--append") {
                        invocation.args.insert(2, "--append".into());
                    }
                    run_logged(&invocation, context).await?;
                }
            }
            for node in &change.leave {
                run_logged(&self.docker.leave_node(&builder.name.value, node), context).await?;
            }
        } else {
            // Created, or replaced: a node only reads its buildkitd.toml when
            // its container is created, so a changed config means a new builder.
            context.step("creating");
            if run_logged(&self.docker.builder_exists(&builder.name.value), context)
                .await
                .is_ok()
            {
                run_logged(&self.docker.remove_builder(&builder.name.value), context).await?;
            }
            for invocation in creates {
                run_logged(&invocation, context).await?;
            }
        }
        context.step("booting");
        // buildx names each node it boots ("[node-a internal] booting buildkit"):
        // those it was booting when it failed are the ones to blame.
        let mut booting: Vec<String> = Vec::new();
        let bootstrap = self.docker.bootstrap(&builder.name.value);
        let result = process::run(&bootstrap, context, |line| {
            context.output(line);
            if let Some(node) = booting_node(line)
                && !booting.contains(&node)
            {
                booting.push(node);
            }
        })
        .await;
        if let Err(err) = result {
            let nodes = if booting.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = booting.iter().map(|n| format!("`{n}`")).collect();
                let word = if names.len() == 1 { "node" } else { "nodes" };
                format!(" on {word} {}", names.join(", "))
            };
            let message = format!(
                "builder `{}` failed to boot{nodes}: {}",
                builder.name.value, err.message
            );
            return Err(JobError { message, ..err });
        }
        Ok(
            json!({ "nodes": builder.nodes.iter().map(|n| n.name.value.clone()).collect::<Vec<_>>() }),
        )
    }

    async fn build(
        &self,
        index: usize,
        dir: &Path,
        context: &JobContext,
    ) -> Result<serde_json::Value, JobError> {
        let build = &self.plan.builds[index];
        let slots = slots(&self.plan, &build.builder, &build.platforms, build.strategy);
        // The fingerprint goes on the image, so the next `diff` can read it back.
        let mut labels = build.labels.clone();
        for (key, value) in &self.changes[context.job].labels {
            labels.insert(key.clone(), value.clone());
        }
        let publish = Publish {
            context: &build.context.value,
            dockerfile: &build.dockerfile.value,
            args: build.args.clone(),
            labels,
            target: build.target.as_deref(),
            tags: build.tags.iter().map(image_text).collect(),
            push: build.push,
        };
        self.publish(&build.name.value, slots, &publish, dir, context)
            .await
    }

    /// Builds on each slot (concurrently), then moves the tags in one step.
    async fn publish(
        &self,
        job: &str,
        slots: Vec<Slot<'_>>,
        what: &Publish<'_>,
        dir: &Path,
        context: &JobContext,
    ) -> Result<serde_json::Value, JobError> {
        let repository = what.tags.first().map(|t| repository_of(t));
        let mut tasks: JoinSet<Result<(usize, Option<String>), JobError>> = JoinSet::new();
        let engines: Vec<Engine> = slots.iter().map(|s| s.engine.clone()).collect();
        for (i, slot) in slots.iter().enumerate() {
            let output = match (&repository, what.push) {
                (Some(repository), true) if slot.push_by_digest => Output::PushByDigest {
                    repository: repository.clone(),
                },
                (Some(repository), true) => Output::PushTag {
                    tag: staging_tag(repository, job, &slot.platforms),
                },
                _ => Output::Local {
                    tags: what.tags.clone(),
                },
            };
            let metadata = dir.join(format!("metadata-{i}.json"));
            let invocation = self.docker.build(&BuildRequest {
                engine: slot.engine.clone(),
                builder: slot.builder,
                context: what.context,
                dockerfile: what.dockerfile,
                platforms: slot.platforms.clone(),
                args: &what.args,
                labels: &what.labels,
                target: what.target,
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
            return Ok(json!({ "platforms": platform_digests }));
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
        Ok(json!({ "tags": what.tags, "platforms": platform_digests, "tags_moved": moved }))
    }

    async fn inspect(
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
    async fn platform_digest(
        &self,
        reference: &str,
        platform: &Platform,
        context: &JobContext,
    ) -> Result<String, JobError> {
        match self.inspect(reference, context).await? {
            RawManifest::Image { digest } => Ok(digest),
            RawManifest::Index(entries) => entries
                .into_iter()
                .find(|e| e.platform.as_ref().is_some_and(|p| p.matches(platform)))
                .map(|e| e.digest)
                .ok_or_else(|| JobError::fatal(format!("`{reference}` has no {platform} image"))),
        }
    }

    async fn sync(
        &self,
        index: usize,
        dir: &Path,
        context: &JobContext,
    ) -> Result<serde_json::Value, JobError> {
        let sync = &self.plan.syncs[index];
        let from = self.resolve(&sync.from.value);
        let tags: Vec<String> = sync.to.iter().map(image_text).collect();
        let platforms: Vec<&Platform> = sync.platforms.iter().map(|p| &p.value).collect();
        match sync.via {
            Via::Registry => {
                let to: Vec<ImageRef> = sync.to.iter().map(|t| t.value.clone()).collect();
                let platforms: Vec<Platform> = platforms.into_iter().cloned().collect();
                Ok(self
                    .registries
                    .sync(&sync.from.value, &to, &platforms, context)
                    .await?)
            }
            Via::Imagetools => {
                let sources = if platforms.is_empty() {
                    vec![from.clone()]
                } else {
                    let repository = repository_of(&from);
                    let mut sources = Vec::new();
                    for platform in &platforms {
                        sources.push(format!(
                            "{repository}@{}",
                            self.platform_digest(&from, platform, context).await?
                        ));
                    }
                    sources
                };
                context.step("copying");
                let moved = self
                    .move_tags(&sync.name.value, &Engine::Default, &tags, &sources, context)
                    .await?;
                Ok(json!({ "tags": tags, "from": from, "tags_moved": moved }))
            }
            Via::Builder => {
                let platforms: Vec<Platform> = if platforms.is_empty() {
                    match self.inspect(&from, context).await? {
                        RawManifest::Index(entries) => entries
                            .iter()
                            .filter_map(|e| e.platform.as_ref())
                            .filter(|p| p.os != "unknown")
                            .filter_map(|p| {
                                Platform::parse(&format!("{}/{}", p.os, p.architecture)).ok()
                            })
                            .collect(),
                        RawManifest::Image { .. } => Vec::new(),
                    }
                } else {
                    platforms.into_iter().cloned().collect()
                };
                // The seed's sync: a Dockerfile that is nothing but its base image.
                let dockerfile = dir.join("Dockerfile");
                write(&dockerfile, "ARG IMAGE\nFROM ${IMAGE}\n")?;
                let mut args = IndexMap::new();
                args.insert("IMAGE".to_owned(), from.clone());
                self.on_builder(
                    &sync.name.value,
                    sync.builder.as_ref(),
                    &platforms,
                    dir,
                    &dockerfile,
                    args,
                    tags,
                    context,
                )
                .await
            }
        }
    }

    async fn combine(
        &self,
        index: usize,
        dir: &Path,
        context: &JobContext,
    ) -> Result<serde_json::Value, JobError> {
        let combine = &self.plan.combines[index];
        let tags: Vec<String> = combine.to.iter().map(image_text).collect();
        match combine.via {
            Via::Registry => {
                let sources: Vec<(Platform, ImageRef)> = combine
                    .from
                    .iter()
                    .map(|s| (s.platform.value.clone(), s.image.value.clone()))
                    .collect();
                let to: Vec<ImageRef> = combine.to.iter().map(|t| t.value.clone()).collect();
                Ok(self.registries.combine(&sources, &to, context).await?)
            }
            Via::Imagetools => {
                let mut sources = Vec::new();
                for source in &combine.from {
                    let reference = self.resolve(&source.image.value);
                    let digest = self
                        .platform_digest(&reference, &source.platform.value, context)
                        .await?;
                    sources.push(format!("{}@{digest}", repository_of(&reference)));
                }
                context.step("combining");
                let moved = self
                    .move_tags(
                        &combine.name.value,
                        &Engine::Default,
                        &tags,
                        &sources,
                        context,
                    )
                    .await?;
                Ok(json!({ "tags": tags, "sources": sources, "tags_moved": moved }))
            }
            Via::Builder => {
                // The seed's combine: one stage per architecture, picked by TARGETARCH.
                let mut text = String::new();
                for source in &combine.from {
                    text.push_str(&format!(
                        "FROM {} AS {}\n",
                        image_text(&source.image),
                        stage_name(&source.platform.value)
                    ));
                }
                text.push_str("FROM ${TARGETARCH}${TARGETVARIANT}\n");
                let dockerfile = dir.join("Dockerfile");
                write(&dockerfile, &text)?;
                let platforms: Vec<Platform> = combine
                    .from
                    .iter()
                    .map(|s| s.platform.value.clone())
                    .collect();
                self.on_builder(
                    &combine.name.value,
                    combine.builder.as_ref(),
                    &platforms,
                    dir,
                    &dockerfile,
                    IndexMap::new(),
                    tags,
                    context,
                )
                .await
            }
        }
    }

    /// A generated Dockerfile built on the job's builder and published.
    #[allow(clippy::too_many_arguments)]
    async fn on_builder(
        &self,
        job: &str,
        builder: Option<&At<String>>,
        platforms: &[Platform],
        dir: &Path,
        dockerfile: &Path,
        args: IndexMap<String, String>,
        tags: Vec<String>,
        context: &JobContext,
    ) -> Result<serde_json::Value, JobError> {
        let Some(builder) = builder else {
            return Err(JobError::fatal("`via: builder` needs a builder"));
        };
        let at = builder.at;
        let placement = Placement::One(builder.clone());
        let located: Vec<At<Platform>> = platforms.iter().map(|p| At::new(p.clone(), at)).collect();
        let engine_is_docker = self
            .plan
            .builders
            .iter()
            .find(|b| b.name.value == builder.value)
            .is_some_and(|b| b.driver == Driver::Docker);
        let strategy = if engine_is_docker {
            Strategy::Split
        } else {
            Strategy::Multi
        };
        let slots = slots(&self.plan, &placement, &located, strategy);
        let publish = Publish {
            context: dir,
            dockerfile,
            args,
            labels: IndexMap::new(),
            target: None,
            tags,
            push: true,
        };
        self.publish(job, slots, &publish, dir, context).await
    }
}

/// `arm64`, or `armv7` where a variant tells two `arm` images apart.
fn stage_name(platform: &Platform) -> String {
    format!(
        "{}{}",
        platform.architecture,
        platform.variant.as_deref().unwrap_or("")
    )
}

/// The node in buildx's "[NODE internal] booting buildkit" progress line.
fn booting_node(line: &str) -> Option<String> {
    if !line.contains("booting buildkit") {
        return None;
    }
    let start = line.find('[')? + 1;
    let node = line[start..].split_once(" internal]")?.0;
    Some(node.trim().to_owned())
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

    #[test]
    fn booting_nodes_are_read_from_progress() {
        assert_eq!(
            booting_node(" > [node-b internal] booting buildkit:").as_deref(),
            Some("node-b")
        );
        assert_eq!(
            booting_node("#1 [node-a internal] booting buildkit").as_deref(),
            Some("node-a")
        );
        assert_eq!(booting_node("ERROR: something"), None);
    }
}
