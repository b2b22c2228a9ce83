//! `builds:`, `syncs:` and `combines:`: each job's references, platforms,
//! builder and inputs, with build contexts relative to the plan file.

use std::path::PathBuf;
use std::rc::Rc;

use indexmap::IndexMap;

use super::{Resolver, origin, tidy};
use crate::plan::address::JobKind;
use crate::plan::builder_choice::BuilderChoice;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::dockerfile::Dockerfile;
use crate::plan::located::Located;
use crate::plan::model;
use crate::plan::reference::ImageRef;
use crate::plan::resolved::{At, Build, Combine, CombineSource, Placement, Strategy, Sync, Via};
use crate::plan::source::FileId;

impl Resolver<'_> {
    pub(super) fn build(
        &mut self,
        file: FileId,
        name: &Located<String>,
        spec: &Located<Box<model::BuildSpec>>,
    ) {
        let spec_at = origin(file, spec.span);
        let spec = &*spec.value;
        for (name, scope) in self.expand(JobKind::Build, file, name, spec.matrix.as_ref()) {
            let dir = self.plan.sources.get(file).dir().to_path_buf();
            let context = match &spec.context {
                Some(c) => self
                    .text(file, c, &scope)
                    .map(|c| At::new(tidy(&dir.join(c.value)), c.at)),
                None => Some(At::new(dir.clone(), name.at)),
            };
            let Some(context) = context else { continue };
            let dockerfile = match &spec.dockerfile {
                Some(d) => self
                    .text(file, d, &scope)
                    .map(|d| At::new(tidy(&context.value.join(d.value)), d.at)),
                None => Some(At::new(context.value.join("Dockerfile"), context.at)),
            };
            let Some(dockerfile) = dockerfile else {
                continue;
            };
            let args = self.map(file, &spec.args, &scope);
            let mut labels = self.map(file, &spec.labels, &scope);
            let oci = self.oci_labels(file, spec);
            for (key, value) in &oci {
                labels.entry(key.clone()).or_insert_with(|| value.clone());
            }
            let builder = match spec.builder.as_ref() {
                None => Placement::Default,
                Some(choice) => match &choice.value {
                    BuilderChoice::One(b) => self
                        .text(file, &Located::new(b.clone(), choice.span), &scope)
                        .map_or(Placement::Default, Placement::One),
                    BuilderChoice::PerPlatform(map) => Placement::PerPlatform(
                        map.iter()
                            .filter_map(|(platform, builder)| {
                                Some((
                                    self.platform(file, platform, &scope)?,
                                    self.text(file, builder, &scope)?,
                                ))
                            })
                            .collect(),
                    ),
                },
            };
            let mut platforms = self.platforms(file, spec.platforms.as_ref(), &scope);
            if platforms.is_empty()
                && let Placement::PerPlatform(map) = &builder
            {
                platforms = map.iter().map(|(p, _)| p.clone()).collect();
            }
            let tags = spec
                .tags
                .as_ref()
                .map(|t| self.images(file, t, &scope))
                .unwrap_or_default();
            let push = spec.push.as_ref().map_or(!tags.is_empty(), |p| p.value);
            if push && tags.is_empty() {
                let at = spec.push.as_ref().map_or(spec_at, |p| origin(file, p.span));
                self.error(
                    Diagnostic::error(
                        "plan::push-without-tags",
                        format!("build `{}` pushes but has no tags", name.value),
                    )
                    .label(at, "push: true")
                    .help("add `tags:` naming where to push, or set `push: false`"),
                );
            }
            let strategy = spec.strategy.as_ref().map_or(Strategy::Auto, |s| s.value);
            let mut inputs = self.base_images(&dockerfile, &args);
            // A `FROM` that names a named context reads the context, not an
            // image of that name.
            let shadowed: Vec<ImageRef> = spec
                .contexts
                .keys()
                .filter_map(|name| ImageRef::parse(&name.value).ok())
                .collect();
            inputs.retain(|input| !shadowed.contains(&input.value));
            let contexts = self.named_contexts(file, spec, &scope, &mut inputs);
            let build = Build {
                context,
                dockerfile,
                platforms,
                builder,
                tags,
                args,
                labels,
                target: spec
                    .target
                    .as_ref()
                    .and_then(|t| self.text(file, t, &scope))
                    .map(|t| t.value),
                push,
                strategy,
                needs: self.needs(file, spec.needs.as_ref(), &scope),
                inputs,
                run: {
                    let mut run = self.run_settings(file, spec, &scope);
                    for (key, value) in oci {
                        run.annotations.entry(key).or_insert(value);
                    }
                    run
                },
                contexts,
                name,
            };
            self.plan.builds.push(build);
        }
    }

    /// Reads the Dockerfile (once per path) for the images its `FROM` lines name.
    fn base_images(
        &mut self,
        dockerfile: &At<PathBuf>,
        args: &IndexMap<String, String>,
    ) -> Vec<At<ImageRef>> {
        let read = self
            .dockerfiles
            .entry(dockerfile.value.clone())
            .or_insert_with(|| read_dockerfile(&dockerfile.value));
        let parsed = match read {
            Ok(parsed) => Rc::clone(parsed),
            Err(err) => {
                let shown = self
                    .plan
                    .sources
                    .get(dockerfile.at.file)
                    .display_path(&dockerfile.value)
                    .display()
                    .to_string();
                let diagnostic = if err.is_not_found() {
                    Diagnostic::error("plan::missing-dockerfile", format!("Dockerfile `{shown}` not found"))
                        .help("create it, or point `context:` (relative to the plan file) and `dockerfile:` (relative to the context) at it")
                } else {
                    Diagnostic::error(
                        "plan::unreadable-file",
                        format!("cannot read Dockerfile `{shown}`: {err}"),
                    )
                    .help("point `dockerfile:` at a regular text file of at most 1 MiB")
                };
                self.error(diagnostic.label(dockerfile.at, "the build's Dockerfile"));
                return Vec::new();
            }
        };
        parsed
            .base_images(args)
            .into_iter()
            // `scratch`, earlier stages and references still holding an
            // unresolved `${ARG}` are not images another job could produce.
            .filter_map(|base| ImageRef::parse(&base.image).ok())
            .map(|image| At::new(image, dockerfile.at))
            .collect()
    }

    pub(super) fn sync(
        &mut self,
        file: FileId,
        name: &Located<String>,
        spec: &Located<model::SyncSpec>,
    ) {
        let spec = &spec.value;
        for (name, scope) in self.expand(JobKind::Sync, file, name, spec.matrix.as_ref()) {
            let from = self.image(file, &spec.from, &scope);
            self.require_targets(JobKind::Sync, &name, &spec.to);
            let mut to = self.images(file, &spec.to, &Self::repository_scope(spec, &scope));
            let platforms = self.platforms(file, spec.platforms.as_ref(), &scope);
            let builder = spec
                .builder
                .as_ref()
                .and_then(|b| self.text(file, b, &scope));
            let needs = self.needs(file, spec.needs.as_ref(), &scope);
            let annotations = self.map(file, &spec.annotations, &scope);
            let via = spec.via.as_ref().map_or(Via::Registry, |v| v.value);
            self.check_annotations(file, &spec.annotations, via, platforms.is_empty());
            let Some(from) = from else { continue };
            let repository = self.repository_sync(file, spec, &from, &mut to, &scope);
            self.plan.syncs.push(Sync {
                name,
                from,
                to,
                platforms,
                via: spec.via.as_ref().map_or(Via::Registry, |v| v.value),
                builder,
                needs,
                repository,
                referrers: spec.referrers.as_ref().is_none_or(|r| r.value),
                annotations,
            });
        }
    }

    pub(super) fn combine(
        &mut self,
        file: FileId,
        name: &Located<String>,
        spec: &Located<model::CombineSpec>,
    ) {
        let spec = &spec.value;
        for (name, scope) in self.expand(JobKind::Combine, file, name, spec.matrix.as_ref()) {
            let from: Vec<CombineSource> = spec
                .from
                .value
                .iter()
                .filter_map(|(platform, image)| {
                    let platform = self.platform(file, platform, &scope);
                    let image = self.image(file, image, &scope);
                    Some(CombineSource {
                        platform: platform?,
                        image: image?,
                    })
                })
                .collect();
            if spec.from.value.is_empty() {
                self.error(
                    Diagnostic::error("plan::empty-combine", format!("combine `{}` has no sources", name.value))
                        .label(origin(file, spec.from.span), "no platforms")
                        .help("map each platform to its image, e.g. `linux/amd64: example.com/app:1-amd64`"),
                );
            }
            self.require_targets(JobKind::Combine, &name, &spec.to);
            let to = self.images(file, &spec.to, &scope);
            let builder = spec
                .builder
                .as_ref()
                .and_then(|b| self.text(file, b, &scope));
            let needs = self.needs(file, spec.needs.as_ref(), &scope);
            let annotations = self.map(file, &spec.annotations, &scope);
            let via = spec.via.as_ref().map_or(Via::Registry, |v| v.value);
            self.check_annotations(file, &spec.annotations, via, false);
            self.plan.combines.push(Combine {
                name,
                from,
                to,
                via: spec.via.as_ref().map_or(Via::Registry, |v| v.value),
                builder,
                needs,
                annotations,
            });
        }
    }
}

impl Resolver<'_> {
    /// `oci_labels: true`: the OCI labels from `git.*` (a label or
    /// annotation the build sets itself wins).
    fn oci_labels(&mut self, file: FileId, spec: &model::BuildSpec) -> Vec<(String, String)> {
        let Some(flag) = spec.oci_labels.as_ref().filter(|f| f.value) else {
            return Vec::new();
        };
        match self.templates.git_meta() {
            Ok(meta) => meta.oci_labels(),
            Err(why) => {
                self.error(
                    Diagnostic::error("plan::git-unreadable", format!("cannot read `git.*` for the OCI labels: {why}"))
                        .label(origin(file, flag.span), "reads git metadata")
                        .help("run plan inside a git repository with `git` installed, or set the GITHUB_* variables in CI; or remove `oci_labels`"),
                );
                Vec::new()
            }
        }
    }

    /// Index annotations need an index plan writes itself: a native
    /// combine, or a sync with `platforms` (a whole-image sync keeps its
    /// source's bytes, and buildx-made copies write their own).
    fn check_annotations(
        &mut self,
        file: FileId,
        annotations: &model::Map<Located<String>, Located<String>>,
        via: Via,
        whole_image: bool,
    ) {
        let Some((first, _)) = annotations.first() else {
            return;
        };
        let at = origin(file, first.span);
        if via != Via::Registry {
            self.error(
                Diagnostic::error(
                    "plan::annotations-via",
                    "annotations are written by the native copy only",
                )
                .label(at, "needs `via: registry`")
                .help("remove `via:` (the native copy is the default), or remove `annotations:`"),
            );
        } else if whole_image {
            self.error(
                Diagnostic::error("plan::annotations-whole-image", "a sync of a whole image copies it byte for byte: it cannot add annotations")
                    .label(at, "no index of plan's own to put them on")
                    .help("add `platforms:` (the sync then writes a new index, with these annotations), or remove `annotations:`"),
            );
        }
    }
}

/// Largest Dockerfile read (BuildKit's own frontend refuses far smaller).
const MAX_DOCKERFILE_BYTES: u64 = 1024 * 1024;

/// A Dockerfile's text: a regular file, bounded, UTF-8.
fn read_dockerfile(
    path: &std::path::Path,
) -> Result<Rc<Dockerfile>, crate::local_file::LocalFileError> {
    let bytes = crate::local_file::read(path, MAX_DOCKERFILE_BYTES)?;
    let text = String::from_utf8(bytes).map_err(|err| {
        crate::local_file::LocalFileError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 (byte {})", err.utf8_error().valid_up_to()),
        ))
    })?;
    Ok(Rc::new(Dockerfile::parse(&text)))
}
