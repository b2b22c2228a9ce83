//! A repository sync, observed: the source's tags listed and selected,
//! each selected tag observed as a sync of one image (`HEAD`s only when it
//! is up to date), and, with `prune`, the target tags it no longer yields.

use std::collections::{BTreeSet, HashMap, HashSet};

use futures_util::StreamExt;

use super::{Observation, Observer};
use crate::backend::registry::tags::is_referrer_tag;
use crate::plan::resolved::{RepositorySync, Sync};
use crate::plan::tag_selection::Selector;

/// Tags observed at once: enough to hide round trips, few enough not to
/// look like a flood to a registry's rate limiter.
const TAGS_AT_ONCE: usize = 16;

/// What was seen of a repository sync.
#[derive(Debug, Clone)]
pub struct RepositoryObservation {
    /// Tags the source has (referrer tags left out).
    pub listed: usize,
    /// Each selected tag, by name, and what was seen of its copy.
    pub tags: Vec<(String, Observation)>,
    /// Target tags the selection no longer yields (with `prune`).
    pub stale: Vec<StaleTag>,
}

/// A target tag to delete, and the image it points at now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StaleTag {
    pub reference: String,
    pub digest: Option<String>,
    /// No tag that stays points at its image: where the registry cannot
    /// delete a tag alone, the image is deleted by digest.
    #[serde(skip)]
    pub by_digest: bool,
}

impl Observer {
    pub(super) async fn observe_repository(
        &self,
        sync: &Sync,
        repository: &RepositorySync,
    ) -> Observation {
        let selector = match Selector::new(&repository.tags) {
            Ok(selector) => selector,
            // Checked when the plan was resolved; said plainly if not.
            Err(err) => {
                return Observation::Failed(format!("the tag selection cannot be read: {err:?}"));
            }
        };
        let all_tags = match self.registries.tags(&sync.from.value).await {
            Ok(tags) => tags,
            Err(err) => return Observation::Failed(err.message),
        };
        let listed: Vec<String> = all_tags
            .iter()
            .filter(|t| !is_referrer_tag(t))
            .cloned()
            .collect();
        if listed.is_empty() {
            return Observation::Failed(format!(
                "{} has no tags (or does not exist)",
                sync.from.value.repository_name()
            ));
        }
        let dates = match self.creation_dates(sync, &selector, &listed).await {
            Ok(dates) => dates,
            Err(why) => return Observation::Failed(why),
        };
        let selected = selector.select(&listed, &|tag| dates.get(tag).cloned().flatten());
        // Referrer tags are found in this listing: no request per tag.
        let all_tags: HashSet<String> = all_tags.into_iter().collect();
        let all_tags = &all_tags;
        let tags: Vec<(String, Observation)> = futures_util::stream::iter(&selected)
            .map(|tag| async move {
                let one = sync.for_tag(tag);
                (tag.clone(), self.observe_sync(&one, Some(all_tags)).await)
            })
            .buffered(TAGS_AT_ONCE)
            .collect()
            .await;
        let stale = if repository.prune {
            match self.stale_tags(sync, repository, &selected).await {
                Ok(stale) => stale,
                Err(err) => return Observation::Failed(err),
            }
        } else {
            Vec::new()
        };
        Observation::Repository(RepositoryObservation {
            listed: listed.len(),
            tags,
            stale,
        })
    }

    /// Creation dates of the candidates, read only when `latest` needs
    /// them (some candidate is not a version). An image whose config says
    /// no date sorts oldest; one that cannot be read is an error, never a
    /// guess: the selection decides what is copied, and with `prune`, what
    /// is deleted.
    async fn creation_dates(
        &self,
        sync: &Sync,
        selector: &Selector,
        listed: &[String],
    ) -> Result<HashMap<String, Option<String>>, String> {
        let candidates = selector.candidates(listed);
        if !selector.needs_dates(&candidates) {
            return Ok(HashMap::new());
        }
        futures_util::stream::iter(candidates)
            .map(|tag| async move {
                let image = sync.from.value.with_tag(&tag);
                let created = self.registries.created(&image).await.map_err(|err| {
                    format!(
                        "`latest` needs when {image} was made, and it cannot be read: {}",
                        err.message
                    )
                })?;
                Ok((tag, created))
            })
            .buffered(TAGS_AT_ONCE)
            .collect::<Vec<Result<_, String>>>()
            .await
            .into_iter()
            .collect()
    }

    /// Target tags this sync makes (by its `{{ tag }}` template) whose
    /// source tag is no longer selected; referrer and staging tags are
    /// never among them, except the referrer tags of an image deleted
    /// with its last tag. Each says whether its image may go by digest:
    /// only when no other tag of the repository points at it.
    async fn stale_tags(
        &self,
        sync: &Sync,
        repository: &RepositorySync,
        selected: &[String],
    ) -> Result<Vec<StaleTag>, String> {
        let selected: BTreeSet<&str> = selected.iter().map(String::as_str).collect();
        let mut stale = Vec::new();
        for (target, rename) in sync.to.iter().zip(&repository.renames) {
            let existing = self
                .registries
                .tags(&target.value)
                .await
                .map_err(|err| err.message)?;
            let is_stale = |t: &str| {
                !is_referrer_tag(t)
                    && !t.starts_with("buildplan-")
                    && rename.source_of(t).is_some_and(|s| !selected.contains(s))
            };
            if !existing.iter().any(|t| is_stale(t)) {
                continue;
            }
            // What every tag points at: a stale tag's image is deleted by
            // digest only when no tag that stays shares it.
            let others = existing.iter().filter(|t| !is_referrer_tag(t));
            let heads: Vec<(&String, Option<String>)> = futures_util::stream::iter(others)
                .map(|tag| async move {
                    let digest = self.registries.current(&target.value.with_tag(tag)).await;
                    (tag, digest)
                })
                .buffered(TAGS_AT_ONCE)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .map(|(tag, digest)| digest.map(|d| (tag, d)))
                .collect::<Result<_, _>>()
                .map_err(|err| err.message)?;
            for (tag, digest) in heads.iter().filter(|(t, _)| is_stale(t)) {
                let shared = digest.is_none()
                    || heads
                        .iter()
                        .any(|(other, d)| !is_stale(other) && d == digest);
                stale.push(StaleTag {
                    reference: target.value.with_tag(tag).to_string(),
                    digest: digest.clone(),
                    by_digest: !shared,
                });
            }
            // An image that goes takes its signatures and attestations.
            let gone: Vec<String> = stale
                .iter()
                .filter(|s| s.by_digest)
                .filter_map(|s| s.digest.as_deref()?.strip_prefix("sha256:"))
                .map(|hex| format!("sha256-{hex}"))
                .collect();
            for tag in existing.iter().filter(|t| is_referrer_tag(t)) {
                if gone.iter().any(|prefix| tag.starts_with(prefix.as_str())) {
                    stale.push(StaleTag {
                        reference: target.value.with_tag(tag).to_string(),
                        digest: None,
                        by_digest: false,
                    });
                }
            }
        }
        Ok(stale)
    }
}
