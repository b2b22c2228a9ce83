//! The registries of a run, read-only: what the observation behind `plan
//! diff` (and the first step of `plan apply`) is given. It shares the run's
//! clients (tokens, caps, the memory of unreachable hosts) but offers only
//! reads and hands out no store, so a dry run cannot write by construction.

use std::sync::Arc;

use indexmap::IndexMap;

use super::error::RegistryError;
use super::manifest::{Annotations, Manifest};
use super::record::Record;
use super::registries::Registries;
use crate::backend::handle::Quiet;
use crate::plan::platform::Platform;
use crate::plan::reference::ImageRef;
use crate::plan::resolved::{Mirror, Registry};

#[derive(Clone)]
pub struct RegistryReader(Arc<Registries>);

impl RegistryReader {
    /// Registries for reading only (`plan diff`).
    pub fn new(
        settings: IndexMap<String, Registry>,
        mirrors: IndexMap<String, Vec<Mirror>>,
    ) -> Self {
        Self(Arc::new(Registries::new(settings, mirrors)))
    }

    /// The reading side of a run's registries (`plan apply` observes first).
    pub fn of(registries: &Arc<Registries>) -> Self {
        Self(Arc::clone(registries))
    }

    /// The digest a tag points at now; `None` when it does not exist.
    pub async fn current(&self, image: &ImageRef) -> Result<Option<String>, RegistryError> {
        self.0.current(image).await
    }

    /// See [`Registries::referrer_count`].
    pub async fn referrer_count(
        &self,
        from: &ImageRef,
        digest: &str,
        targets: &[ImageRef],
        listed: Option<&std::collections::HashSet<String>>,
    ) -> Result<(usize, usize), RegistryError> {
        self.0.referrer_count(from, digest, targets, listed).await
    }

    /// See [`Registries::tags`].
    pub async fn tags(&self, image: &ImageRef) -> Result<Vec<String>, RegistryError> {
        self.0.tags(image).await
    }

    /// See [`Registries::created`].
    pub async fn created(&self, image: &ImageRef) -> Result<Option<String>, RegistryError> {
        self.0.created(image).await
    }

    /// The labels of the image at `image` (the first platform's).
    pub async fn labels(
        &self,
        image: &ImageRef,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, RegistryError> {
        self.0.labels(image).await
    }

    /// What a whole-image sync wants: its source's digest, by one `HEAD`.
    pub async fn desired_sync_digest(&self, from: &ImageRef) -> Result<String, RegistryError> {
        self.0.desired_sync_digest(from).await
    }

    /// The index a platform-filtered sync wants at its targets.
    pub async fn desired_filtered_sync(
        &self,
        from: &ImageRef,
        platforms: &[Platform],
        annotations: &Annotations,
    ) -> Result<Manifest, RegistryError> {
        Ok(self
            .0
            .desired_sync(from, platforms, annotations, &Quiet::default())
            .await?
            .1)
    }

    /// See [`Registries::filtered_sync_done`].
    pub async fn filtered_sync_done(
        &self,
        from: &ImageRef,
        platforms: &[Platform],
        annotations: &Annotations,
        target: &ImageRef,
    ) -> Option<String> {
        self.0
            .filtered_sync_done(from, platforms, annotations, target)
            .await
    }

    /// The index a combine wants, its sources read and checked.
    pub async fn desired_combine(
        &self,
        sources: &[(Platform, ImageRef)],
        annotations: &Annotations,
    ) -> Result<Manifest, RegistryError> {
        Ok(self
            .0
            .desired_combine(sources, annotations, &Quiet::default())
            .await?
            .1)
    }

    /// See [`Registries::desired_combine_digest_from_heads`].
    pub async fn desired_combine_digest_from_heads(
        &self,
        sources: &[(Platform, ImageRef)],
        annotations: &Annotations,
    ) -> Option<String> {
        self.0
            .desired_combine_digest_from_heads(sources, annotations)
            .await
    }

    /// See [`Registries::sources_record`].
    pub async fn sources_record(
        &self,
        made_by: &str,
        sources: &[&ImageRef],
    ) -> Result<Record, RegistryError> {
        self.0.sources_record(made_by, sources).await
    }

    /// See [`Registries::made_from`].
    pub async fn made_from(&self, target: &ImageRef) -> Result<Option<String>, RegistryError> {
        self.0.made_from(target).await
    }

    /// What the index at `target` holds, as `record::children` says.
    pub async fn children_of(&self, target: &ImageRef) -> Result<Option<String>, RegistryError> {
        self.0.children_of(target).await
    }
}
