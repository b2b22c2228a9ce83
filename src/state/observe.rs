//! Observing live state, read-only: builders from `docker buildx ls`,
//! engines by a version query, images by `HEAD` and `GET` on registries.
//! Nothing here writes anything: `diff` is handed only an [`Observer`].

mod repository;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;

use super::fingerprint::Fingerprint;
use crate::apply::{JobRef, PlannedRun};
use crate::backend::buildx::{Docker, Engine};
use crate::backend::engine_info::EngineInfo;
use crate::backend::registry::RegistryReader;
use crate::backend::registry::error::RegistryError;
use crate::backend::registry::record::children;
use crate::plan::platform::Platform;
use crate::plan::reference::ImageRef;
use crate::plan::resolved::{Build, Builder, Combine, Driver, Plan, Sync, Via};

/// A node as `docker buildx ls --format json` shows it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct LiveNode {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Endpoint", default)]
    pub endpoint: String,
    #[serde(rename = "Platforms", default)]
    pub platforms: Vec<String>,
    #[serde(rename = "Flags", default)]
    pub flags: Vec<String>,
    #[serde(rename = "DriverOpts", default)]
    pub driver_opts: BTreeMap<String, String>,
    /// Ordered, so a saved plan records the same text for the same files.
    #[serde(rename = "Files", default)]
    pub files: BTreeMap<String, String>,
}

impl LiveNode {
    /// The node's buildkitd.toml (buildx keeps it base64-encoded); `None`
    /// when the node has none. One that cannot be decoded is an error, not
    /// an empty file: taken for empty, it would look changed and the
    /// builder would be replaced, losing its cache.
    pub fn buildkitd_toml(&self) -> Result<Option<String>, String> {
        use base64::Engine as _;
        let Some(encoded) = self.files.get("buildkitd.toml") else {
            return Ok(None);
        };
        let cannot = |why: &dyn std::fmt::Display| {
            format!(
                "node {}: its buildkitd.toml, as buildx stores it, cannot be read ({why})",
                crate::untrusted::escape(&self.name)
            )
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|err| cannot(&err))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|err| cannot(&err))
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct LiveBuilder {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Driver", default)]
    pub driver: String,
    #[serde(rename = "Nodes", default)]
    pub nodes: Vec<LiveNode>,
}

/// What was seen for one job.
#[derive(Debug, Clone)]
pub enum Observation {
    /// A native copy: the digest wanted (or why it could not be read), and
    /// what each target has now.
    Copy {
        desired: Result<String, String>,
        targets: Vec<(String, Option<String>)>,
        /// What refers to the image (a whole-image sync with `referrers`).
        referrers: ReferrerCount,
    },
    /// A buildx builder, or `None` when there is none by that name.
    Builder(Option<LiveBuilder>),
    /// A `docker` builder's engine: what it is, or why it is unreachable.
    Engine(Result<EngineInfo, String>),
    /// A build: its fingerprint now, and what each of its tags holds.
    Build {
        fingerprint: Fingerprint,
        tags: Vec<BuiltTag>,
    },
    /// A copy made through buildx: the record of its sources now (or why
    /// they could not be read), and each target's digest and record.
    Recorded {
        desired: Result<String, String>,
        targets: Vec<RecordedTarget>,
    },
    /// A repository sync: its selected tags and the tags to prune.
    Repository(RepositoryObservation),
    Failed(String),
}

pub use repository::{RepositoryObservation, StaleTag};

/// Signatures and attestations of a synced image: how many the source
/// has, and how many of them some target lacks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReferrerCount {
    pub found: usize,
    pub missing: usize,
}

/// A build's tag: the image it points at and that image's labels (where
/// the fingerprint of the inputs it was built from is). `digest` `None`:
/// the tag does not exist.
#[derive(Debug, Clone)]
pub struct BuiltTag {
    pub reference: ImageRef,
    pub digest: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// How a buildx-made copy's target says what it holds.
#[derive(Clone, Copy)]
enum Record {
    /// The images (platform, digest) of its index: `imagetools`.
    Images,
    /// The record label on its image: `via: builder`.
    Label,
}

/// A target of a buildx-made copy: what it points at, and the record of
/// what it was made from (see `backend::registry::record`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordedTarget {
    pub reference: String,
    pub digest: Option<String>,
    pub record: Option<String>,
}

/// The read-only side of the world.
pub struct Observer {
    /// Reads only: the observer cannot write to a registry.
    registries: RegistryReader,
    docker: Docker,
    /// `--timeout`: how long one job's observation may wait on the world.
    timeout: Option<Duration>,
}

impl Observer {
    pub fn new(registries: RegistryReader, docker: Docker) -> Self {
        Self {
            registries,
            docker,
            timeout: None,
        }
    }

    /// Bounds every job's observation (and the builder listing) by `limit`.
    #[must_use]
    pub fn timeout(mut self, limit: Option<Duration>) -> Self {
        self.timeout = limit;
        self
    }

    /// `work`, unless it outlasts `--timeout`.
    async fn bounded<T>(
        &self,
        work: impl std::future::Future<Output = T>,
        timed_out: impl FnOnce(String) -> T,
    ) -> T {
        match self.timeout {
            Some(limit) => tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
                timed_out(format!(
                    "no answer within {}s (--timeout)",
                    limit.as_secs_f64()
                ))
            }),
            None => work.await,
        }
    }

    /// One observation per job of the run, all at once.
    pub async fn observe(&self, plan: &Plan, run: &PlannedRun) -> Vec<Observation> {
        let needs_builders = run.jobs.iter().any(
            |job| matches!(job, JobRef::Builder(i) if plan.builders[*i].driver != Driver::Docker),
        );
        let live = if needs_builders {
            self.bounded(self.builders(), Err).await
        } else {
            Ok(Vec::new())
        };
        let mut pending = futures_util::stream::FuturesOrdered::new();
        for job in &run.jobs {
            pending
                .push_back(self.bounded(self.observe_job(plan, *job, &live), Observation::Failed));
        }
        pending.collect().await
    }

    async fn observe_job(
        &self,
        plan: &Plan,
        job: JobRef,
        live: &Result<Vec<LiveBuilder>, String>,
    ) -> Observation {
        match job {
            JobRef::Builder(i) => self.observe_builder(&plan.builders[i], live).await,
            JobRef::Sync(i) => self.observe_sync(&plan.syncs[i], None).await,
            JobRef::Combine(i) => self.observe_combine(&plan.combines[i]).await,
            JobRef::Build(i) => self.observe_build(plan, &plan.builds[i]).await,
        }
    }

    /// A buildx builder as `buildx ls` shows it, or a `docker` builder's engine.
    async fn observe_builder(
        &self,
        builder: &Builder,
        live: &Result<Vec<LiveBuilder>, String>,
    ) -> Observation {
        if builder.driver == Driver::Docker {
            let Some(node) = builder.nodes.first() else {
                return Observation::Failed("no engine".into());
            };
            return Observation::Engine(
                self.engine(&Engine::Endpoint(node.endpoint.value.clone()))
                    .await,
            );
        }
        match live {
            Ok(list) => {
                Observation::Builder(list.iter().find(|b| b.name == builder.name.value).cloned())
            }
            Err(err) => Observation::Failed(err.clone()),
        }
    }

    /// What a native sync's targets hold, and what they should.
    async fn observe_sync(&self, sync: &Sync, listed: Option<&HashSet<String>>) -> Observation {
        if let Some(repository) = &sync.repository {
            return Box::pin(self.observe_repository(sync, repository)).await;
        }
        let platforms: Vec<Platform> = sync.platforms.iter().map(|p| p.value).collect();
        // `imagetools create` of one whole source keeps its digest, as the
        // native copy does; a filtered one holds the images the filter gives.
        if sync.via == Via::Imagetools && !platforms.is_empty() {
            let desired = self
                .registries
                .desired_filtered_sync(&sync.from.value, &platforms, &sync.annotations)
                .await
                .and_then(|index| children(&index));
            return self
                .observe_made(desired, Record::Images, sync.to.iter().map(|t| &t.value))
                .await;
        }
        if sync.via == Via::Builder {
            let made_by = format!("sync.{}", sync.name.value);
            let desired = self
                .registries
                .sources_record(&made_by, &[&sync.from.value])
                .await
                .map(|record| record.text());
            return self
                .observe_made(desired, Record::Label, sync.to.iter().map(|t| &t.value))
                .await;
        }
        let targets = match self.targets_now(sync.to.iter().map(|t| &t.value)).await {
            Ok(targets) => targets,
            Err(err) => return Observation::Failed(err),
        };
        // A whole-image sync wants its source's digest: one `HEAD`.
        // A filtered one that is done says so in its target's index.
        if !platforms.is_empty()
            && let Some((_, Some(now))) = targets.first()
            && targets.iter().all(|(_, t)| t.as_ref() == Some(now))
            && let Some(done) = self
                .registries
                .filtered_sync_done(
                    &sync.from.value,
                    &platforms,
                    &sync.annotations,
                    &sync.to[0].value,
                )
                .await
            && done == *now
        {
            return Observation::Copy {
                desired: Ok(done),
                targets,
                referrers: ReferrerCount::default(),
            };
        }
        let desired = if platforms.is_empty() {
            self.registries.desired_sync_digest(&sync.from.value).await
        } else {
            self.registries
                .desired_filtered_sync(&sync.from.value, &platforms, &sync.annotations)
                .await
                .map(|manifest| manifest.digest())
        };
        // Signatures and attestations come along where the digest is kept.
        let referrers = match &desired {
            // Only the native copy carries them (buildx's does not).
            Ok(digest) if sync.referrers && platforms.is_empty() && sync.via == Via::Registry => {
                let to: Vec<ImageRef> = sync.to.iter().map(|t| t.value.clone()).collect();
                match self
                    .registries
                    .referrer_count(&sync.from.value, digest, &to, listed)
                    .await
                {
                    Ok((found, missing)) => ReferrerCount { found, missing },
                    Err(err) => return Observation::Failed(err.message),
                }
            }
            _ => ReferrerCount::default(),
        };
        Observation::Copy {
            desired: desired.map_err(|err| err.message),
            targets,
            referrers,
        }
    }

    /// What a native combine's targets hold, and what they should.
    async fn observe_combine(&self, combine: &Combine) -> Observation {
        if combine.via == Via::Imagetools {
            let sources: Vec<(Platform, ImageRef)> = combine
                .from
                .iter()
                .map(|s| (s.platform.value, s.image.value.clone()))
                .collect();
            let desired = self
                .registries
                .desired_combine(&sources, &combine.annotations)
                .await
                .and_then(|index| children(&index));
            return self
                .observe_made(desired, Record::Images, combine.to.iter().map(|t| &t.value))
                .await;
        }
        if combine.via == Via::Builder {
            let sources: Vec<&ImageRef> = combine.from.iter().map(|s| &s.image.value).collect();
            let made_by = format!("combine.{}", combine.name.value);
            let desired = self
                .registries
                .sources_record(&made_by, &sources)
                .await
                .map(|record| record.text());
            return self
                .observe_made(desired, Record::Label, combine.to.iter().map(|t| &t.value))
                .await;
        }
        let sources: Vec<(Platform, ImageRef)> = combine
            .from
            .iter()
            .map(|s| (s.platform.value, s.image.value.clone()))
            .collect();
        let targets = match self.targets_now(combine.to.iter().map(|t| &t.value)).await {
            Ok(targets) => targets,
            Err(err) => return Observation::Failed(err),
        };
        // Unchanged is told from `HEAD`s when it can be: nothing read.
        if let Some(digest) = self
            .registries
            .desired_combine_digest_from_heads(&sources, &combine.annotations)
            .await
            && targets
                .iter()
                .all(|(_, now)| now.as_deref() == Some(digest.as_str()))
        {
            return Observation::Copy {
                desired: Ok(digest),
                targets,
                referrers: ReferrerCount::default(),
            };
        }
        let desired = self
            .registries
            .desired_combine(&sources, &combine.annotations)
            .await
            .map(|index| index.digest())
            .map_err(|err| err.message);
        Observation::Copy {
            desired,
            targets,
            referrers: ReferrerCount::default(),
        }
    }

    /// A buildx-made copy: what its sources give now (`desired`: the images
    /// for `imagetools`, the record for `via: builder`), against what each
    /// target holds, read the same way (`record`).
    async fn observe_made(
        &self,
        desired: Result<String, RegistryError>,
        record: Record,
        targets: impl Iterator<Item = &ImageRef>,
    ) -> Observation {
        let desired = match desired {
            Ok(desired) => desired,
            // Nothing to compare with: the copy runs (a source may be made
            // earlier in this run), and its targets need not be read.
            Err(err) => {
                return Observation::Recorded {
                    desired: Err(err.message),
                    targets: Vec::new(),
                };
            }
        };
        let mut seen = Vec::new();
        for target in targets {
            let digest = match self.registries.current(target).await {
                Ok(digest) => digest,
                Err(err) => return Observation::Failed(err.message),
            };
            let held = match (&digest, record) {
                (None, _) => Ok(None),
                (Some(_), Record::Images) => self.registries.children_of(target).await,
                (Some(_), Record::Label) => self.registries.made_from(target).await,
            };
            let held = match held {
                Ok(held) => held,
                Err(err) => return Observation::Failed(err.message),
            };
            seen.push(RecordedTarget {
                reference: target.to_string(),
                digest,
                record: held,
            });
        }
        Observation::Recorded {
            desired: Ok(desired),
            targets: seen,
        }
    }

    /// A build's input fingerprint now, and the one on its pushed image.
    async fn observe_build(&self, plan: &Plan, build: &Build) -> Observation {
        let bases = super::inputs::input_digests(plan, build, &self.registries).await;
        let fingerprint = match Fingerprint::of(build, &bases) {
            Ok(fingerprint) => fingerprint,
            Err(err) => return Observation::Failed(err),
        };
        let mut tags: Vec<BuiltTag> = Vec::new();
        if build.push {
            for tag in &build.tags {
                let digest = match self.registries.current(&tag.value).await {
                    Ok(digest) => digest,
                    Err(err) => return Observation::Failed(err.message),
                };
                // Labels are read once per image, however many tags name it.
                let known = tags
                    .iter()
                    .find(|t| t.digest.is_some() && t.digest == digest)
                    .map(|t| t.labels.clone());
                let labels = match (known, &digest) {
                    (Some(labels), _) => labels,
                    (None, None) => None,
                    (None, Some(_)) => match self.registries.labels(&tag.value).await {
                        Ok(labels) => labels,
                        Err(err) => return Observation::Failed(err.message),
                    },
                };
                tags.push(BuiltTag {
                    reference: tag.value.clone(),
                    digest,
                    labels,
                });
            }
        }
        Observation::Build { fingerprint, tags }
    }

    /// What each target tag points at now (`HEAD`), by reference.
    async fn targets_now(
        &self,
        targets: impl Iterator<Item = &ImageRef>,
    ) -> Result<Vec<(String, Option<String>)>, String> {
        let mut seen = Vec::new();
        for target in targets {
            let current = self
                .registries
                .current(target)
                .await
                .map_err(|err| err.message)?;
            seen.push((target.to_string(), current));
        }
        Ok(seen)
    }

    async fn engine(&self, engine: &Engine) -> Result<EngineInfo, String> {
        let invocation = self.docker.engine_info(engine);
        let output = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::process::Command::new(&invocation.program)
                .args(&invocation.args)
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .map_err(|_| "no answer in 30 s".to_owned())?
        .map_err(|err| format!("cannot run docker: {err}"))?;
        if output.status.success() {
            EngineInfo::parse(&String::from_utf8_lossy(&output.stdout))
        } else {
            let stderr: Vec<String> = String::from_utf8_lossy(&output.stderr)
                .lines()
                .map(str::to_owned)
                .collect();
            Err(crate::backend::process::telling_line(&stderr)
                .unwrap_or_else(|| "no answer".to_owned()))
        }
    }

    /// Every builder buildx knows, each once (buildx 0.13 prints some twice).
    async fn builders(&self) -> Result<Vec<LiveBuilder>, String> {
        let output = tokio::process::Command::new(&self.docker.program)
            .args(["buildx", "ls", "--format", "json"])
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|err| format!("cannot run `docker buildx ls`: {err}"))?;
        if !output.status.success() {
            return Err(format!(
                "`docker buildx ls` failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        parse_builder_list(&String::from_utf8_lossy(&output.stdout))
    }
}

/// `docker buildx ls --format json`, one builder per line, each once
/// (buildx 0.13 prints some twice). A line that cannot be read is an error,
/// never a builder taken for absent: apply would remove and recreate an
/// existing builder, and lose its cache.
fn parse_builder_list(text: &str) -> Result<Vec<LiveBuilder>, String> {
    let mut builders: Vec<LiveBuilder> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let builder = serde_json::from_str::<LiveBuilder>(line).map_err(|err| {
            format!(
                "`docker buildx ls --format json` printed a line plan cannot read ({err}): {}; no builder is changed on a guess",
                crate::untrusted::excerpt(line, 200)
            )
        })?;
        if !builders.iter().any(|b| b.name == builder.name) {
            builders.push(builder);
        }
    }
    Ok(builders)
}

#[cfg(test)]
mod builder_list_tests {
    use super::parse_builder_list;

    #[test]
    fn an_unreadable_line_is_an_error_not_an_absent_builder() {
        let ok =
            "{\"Name\":\"a\",\"Driver\":\"docker\"}\n{\"Name\":\"a\",\"Driver\":\"docker\"}\n\n";
        assert_eq!(parse_builder_list(ok).unwrap().len(), 1);
        let err = parse_builder_list("{\"Name\":\"a\"}\nnot json\x1b[2J\n").unwrap_err();
        assert!(err.contains("cannot read"), "{err}");
        assert!(!err.contains('\x1b'), "escaped: {err}");
    }
}
