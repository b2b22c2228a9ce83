//! Syncs and combines run through buildx: `via: imagetools` (one
//! `imagetools create`) and `via: builder` (the seed's generated
//! Dockerfiles, built on the named builder).

use crate::backend::registry::sync::SyncOptions;
use std::path::Path;

use indexmap::IndexMap;
use serde_json::json;

use super::builds::Publish;
use super::{JobRunner, image_text, write};
use crate::apply::placement::slots;
use crate::backend::buildx::{Engine, RawManifest, repository_of};
use crate::backend::registry::manifest::SOURCES_RECORD;
use crate::exec::{JobContext, JobError, Outcome};
use crate::plan::platform::Platform;
use crate::plan::reference::ImageRef;
use crate::plan::resolved::{At, Driver, Placement, RunSettings, Strategy, Via};

impl JobRunner {
    pub(super) async fn sync(
        &self,
        index: usize,
        dir: &Path,
        context: &JobContext,
    ) -> Result<Outcome, JobError> {
        let sync = &self.plan.syncs[index];
        if sync.repository.is_some() {
            return self.repository_sync(index, context).await;
        }
        let from = self.resolve(&sync.from.value);
        let tags: Vec<String> = sync.to.iter().map(image_text).collect();
        let platforms: Vec<&Platform> = sync.platforms.iter().map(|p| &p.value).collect();
        match sync.via {
            Via::Registry => {
                let to: Vec<ImageRef> = sync.to.iter().map(|t| t.value.clone()).collect();
                let platforms: Vec<Platform> = platforms.into_iter().cloned().collect();
                Ok(Outcome::done(
                    self.registries
                        .sync(
                            &sync.from.value,
                            &to,
                            &SyncOptions {
                                platforms: &platforms,
                                annotations: &sync.annotations,
                                referrers: sync.referrers,
                            },
                            context,
                        )
                        .await?,
                ))
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
                Ok(Outcome::done(
                    json!({ "tags": tags, "from": from, "tags_moved": moved }),
                ))
            }
            Via::Builder => {
                let platforms: Vec<Platform> = if platforms.is_empty() {
                    match self.inspect(&from, context).await? {
                        RawManifest::Index(entries) => {
                            entries.into_iter().map(|(_, platform)| platform).collect()
                        }
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
                let record = self.record(&[&sync.from.value], context).await;
                self.on_builder(
                    &sync.name.value,
                    sync.builder.as_ref(),
                    &platforms,
                    dir,
                    &dockerfile,
                    (args, record.into_iter().collect()),
                    tags,
                    context,
                )
                .await
            }
        }
    }

    pub(super) async fn combine(
        &self,
        index: usize,
        dir: &Path,
        context: &JobContext,
    ) -> Result<Outcome, JobError> {
        let combine = &self.plan.combines[index];
        let tags: Vec<String> = combine.to.iter().map(image_text).collect();
        match combine.via {
            Via::Registry => {
                let sources: Vec<(Platform, ImageRef)> = combine
                    .from
                    .iter()
                    .map(|s| (s.platform.value, s.image.value.clone()))
                    .collect();
                let to: Vec<ImageRef> = combine.to.iter().map(|t| t.value.clone()).collect();
                Ok(Outcome::done(
                    self.registries
                        .combine(&sources, &to, &combine.annotations, context)
                        .await?,
                ))
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
                Ok(Outcome::done(
                    json!({ "tags": tags, "sources": sources, "tags_moved": moved }),
                ))
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
                let platforms: Vec<Platform> =
                    combine.from.iter().map(|s| s.platform.value).collect();
                let record = self.record(&combine_sources(combine), context).await;
                self.on_builder(
                    &combine.name.value,
                    combine.builder.as_ref(),
                    &platforms,
                    dir,
                    &dockerfile,
                    (IndexMap::new(), record.into_iter().collect()),
                    tags,
                    context,
                )
                .await
            }
        }
    }

    /// What `sources` are now, as the record a buildx-made copy carries
    /// (see `backend::registry::record`). Without it the copy still runs,
    /// and the next `diff` runs it again: said, not hidden.
    async fn record(&self, sources: &[&ImageRef], context: &JobContext) -> Vec<(String, String)> {
        let made_by = self.addresses[context.job].to_string();
        match self.registries.sources_record(&made_by, sources).await {
            Ok(record) => vec![(SOURCES_RECORD.to_owned(), record.text())],
            Err(err) => {
                context.output(format!(
                    "cannot record what this copy is made from ({}); the next diff will show it as changed",
                    err.message
                ));
                Vec::new()
            }
        }
    }

    /// A generated Dockerfile built on the job's builder and published,
    /// with its build args and labels.
    #[allow(clippy::too_many_arguments)]
    async fn on_builder(
        &self,
        job: &str,
        builder: Option<&At<String>>,
        platforms: &[Platform],
        dir: &Path,
        dockerfile: &Path,
        (args, labels): (IndexMap<String, String>, IndexMap<String, String>),
        tags: Vec<String>,
        context: &JobContext,
    ) -> Result<Outcome, JobError> {
        let Some(builder) = builder else {
            return Err(JobError::fatal("`via: builder` needs a builder"));
        };
        let at = builder.at;
        let placement = Placement::One(builder.clone());
        let located: Vec<At<Platform>> = platforms.iter().map(|p| At::new(*p, at)).collect();
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
            labels,
            target: None,
            // The seed's generated Dockerfiles run nothing.
            run: &RunSettings::default(),
            local_root: dir,
            contexts: Vec::new(),
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
        platform.variant.unwrap_or("")
    )
}

/// A combine's source images, for its record.
fn combine_sources(combine: &crate::plan::resolved::Combine) -> Vec<&ImageRef> {
    combine.from.iter().map(|s| &s.image.value).collect()
}
