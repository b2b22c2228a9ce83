//! A sync with `tags:`: `from` names a repository, `to` names target
//! repositories or a tag template using `{{ tag }}`, filled per tag at run
//! time. The graph stays static; the tags are read by `diff` and `apply`.

use minijinja::value::Value;

use super::{Resolver, origin};
use crate::plan::diagnostic::Diagnostic;
use crate::plan::model;
use crate::plan::reference::ImageRef;
use crate::plan::resolved::{At, RepositorySync, TagRename, Via};
use crate::plan::source::{FileId, Origin};
use crate::plan::tag_selection::{SelectionError, Selector, TagSelection};
use crate::plan::template::Scope;

/// What `{{ tag }}` renders to while `to` is resolved: a valid tag that
/// no plan would write, found again afterwards to split `to` around it.
const TAG_MARKER: &str = "__buildplan_tag__";

impl Resolver<'_> {
    /// The scope `to` is rendered in: `{{ tag }}` is known in a repository sync.
    pub(super) fn repository_scope(spec: &model::SyncSpec, scope: &Scope) -> Scope {
        if spec.tags.is_some() {
            scope.with_value("tag", Value::from(TAG_MARKER))
        } else {
            scope.clone()
        }
    }

    /// A repository sync's selection and tag renames; checks `from` and `to`
    /// (`to` rendered with the marker, its tags taken off). `None` for a
    /// sync of one image, or after an error.
    pub(super) fn repository_sync(
        &mut self,
        file: FileId,
        spec: &model::SyncSpec,
        from: &At<ImageRef>,
        to: &mut [At<ImageRef>],
        scope: &Scope,
    ) -> Option<RepositorySync> {
        let Some(tags) = &spec.tags else {
            if let Some(prune) = spec.prune.as_ref().filter(|p| p.value) {
                self.error(
                    Diagnostic::error("plan::prune-needs-tags", "`prune` needs a repository sync")
                        .label(origin(file, prune.span), "nothing to prune")
                        .help("pruning deletes target tags a `tags:` selection no longer yields: add `tags:` and name a repository in `from`"),
                );
            }
            return None;
        };
        let at = origin(file, tags.span);
        let mut ok = true;
        if !from.value.is_bare() {
            self.error(
                Diagnostic::error(
                    "plan::repository-sync-tag",
                    format!(
                        "`{}` names one image; a sync with `tags:` copies a repository's tags",
                        from.value
                    ),
                )
                .label(from.at, "has a tag or digest")
                .help(format!(
                    "write the repository alone: `from: {}`",
                    from.value.repository_name()
                )),
            );
            ok = false;
        }
        if let Some(via) = spec.via.as_ref().filter(|v| v.value != Via::Registry) {
            self.error(
                Diagnostic::error(
                    "plan::repository-sync-via",
                    "a repository sync copies natively",
                )
                .label(origin(file, via.span), "not supported with `tags:`")
                .help("remove `via:`: a repository sync uses `via: registry`"),
            );
            ok = false;
        }
        let mut renames = Vec::new();
        for target in to.iter_mut() {
            match split_target(&target.value) {
                Ok((repository, rename)) => {
                    target.value = repository;
                    renames.push(rename);
                }
                Err(why) => {
                    self.error(
                        Diagnostic::error("plan::repository-sync-target", why)
                            .label(target.at, "one target per source tag")
                            .help("name a repository (each tag keeps its name), or put `{{ tag }}` in the tag, e.g. `mirror/alpine:{{ tag }}-mirror`"),
                    );
                    ok = false;
                }
            }
        }
        let selection = self.selection(file, &tags.value, at, scope)?;
        ok.then(|| RepositorySync {
            tags: selection,
            renames,
            prune: spec.prune.as_ref().is_some_and(|p| p.value),
        })
    }

    /// `tags:` rendered and compiled once here, so a bad regex or range is
    /// a diagnostic at its place, not an error at run time.
    fn selection(
        &mut self,
        file: FileId,
        spec: &model::TagsSpec,
        at: Origin,
        scope: &Scope,
    ) -> Option<TagSelection> {
        let semver = spec.semver.as_ref().and_then(|s| self.text(file, s, scope));
        let include = self.texts(file, spec.include.as_ref(), scope);
        let exclude = self.texts(file, spec.exclude.as_ref(), scope);
        if let Some(latest) = spec.latest.as_ref().filter(|l| l.value == 0) {
            self.error(
                Diagnostic::error("plan::latest-zero", "`latest: 0` selects no tag")
                    .label(origin(file, latest.span), "zero")
                    .help("give how many of the highest versions to keep, e.g. `latest: 5`, or remove `latest`"),
            );
            return None;
        }
        let selection = TagSelection {
            semver: semver.as_ref().map(|s| s.value.clone()),
            include: include.iter().map(|t| t.value.clone()).collect(),
            exclude: exclude.iter().map(|t| t.value.clone()).collect(),
            latest: spec.latest.as_ref().map(|l| l.value),
        };
        let (place, what, why) = match Selector::new(&selection) {
            Ok(_) => return Some(selection),
            Err(SelectionError::Semver(why)) => (
                semver.map_or(at, |s| s.at),
                "a semver range, e.g. `>=3.18`, `^1.2` or `>=1.0, <2`",
                why,
            ),
            Err(SelectionError::Include(i, why)) => (
                include.get(i).map_or(at, |t| t.at),
                "a regex (Rust's `regex` syntax: no look-around or back-references)",
                why,
            ),
            Err(SelectionError::Exclude(i, why)) => (
                exclude.get(i).map_or(at, |t| t.at),
                "a regex (Rust's `regex` syntax: no look-around or back-references)",
                why,
            ),
        };
        self.error(
            Diagnostic::error(
                "plan::bad-tag-selection",
                format!("cannot read this selection: {}", first_line(&why)),
            )
            .label(place, "here")
            .help(format!("write {what}")),
        );
        None
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
}

/// A target rendered with the marker: its repository, and how a source
/// tag becomes its tag.
fn split_target(target: &ImageRef) -> Result<(ImageRef, TagRename), String> {
    let (repository, tag) = match target {
        ImageRef::Registry(r) => {
            if r.digest.is_some() {
                return Err(format!(
                    "`{target}` pins a digest; a repository sync writes tags"
                ));
            }
            (r.repository.as_str(), r.tag.as_deref())
        }
        ImageRef::Layout(_) => {
            return Err("a repository sync writes to a registry, not to an OCI layout".into());
        }
    };
    if repository.contains(TAG_MARKER) {
        return Err("`{{ tag }}` can only be in the tag".into());
    }
    let bare = match target {
        ImageRef::Registry(r) => ImageRef::Registry(crate::plan::reference::RegistryRef {
            tag: None,
            ..r.clone()
        }),
        ImageRef::Layout(_) => unreachable!("refused above"),
    };
    let Some(tag) = tag else {
        return Ok((bare, TagRename::default()));
    };
    let mut parts = tag.split(TAG_MARKER);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(prefix), Some(suffix), None) => Ok((
            bare,
            TagRename {
                prefix: prefix.to_owned(),
                suffix: suffix.to_owned(),
            },
        )),
        (_, None, _) => Err(format!(
            "`{}` names one tag; every selected tag would overwrite it",
            target.to_string().replace(TAG_MARKER, "{{ tag }}")
        )),
        _ => Err("`{{ tag }}` is used twice in one tag".into()),
    }
}
