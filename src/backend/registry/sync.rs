//! `sync`: a source image under other names, byte for byte (the same
//! digest), or, with `platforms`, a new index holding only those and naming
//! its source in an annotation.

use super::error::RegistryError;
use super::manifest::{
    Annotations, Manifest, SOURCE_DIGEST_ANNOTATION, attestations_for, build_index, for_platform,
    index_annotations, list_platforms, plan_platform,
};
use super::registries::{Located, Registries, until_cancelled};
use super::store::Store;
use super::transfer::{CopyOutcome, Progress, TargetOutcome, TargetResult};
use crate::backend::handle::JobHandle;
use crate::plan::platform::Platform;
use crate::plan::reference::ImageRef;

/// What a sync copies besides its source: a platform filter, the
/// annotations of the index it then writes, and whether what refers to the
/// image (signatures, attestations) comes along.
pub struct SyncOptions<'a> {
    pub platforms: &'a [Platform],
    pub annotations: &'a Annotations,
    pub referrers: bool,
}

static NO_ANNOTATIONS: std::sync::LazyLock<Annotations> =
    std::sync::LazyLock::new(Annotations::new);

impl SyncOptions<'_> {
    /// The image alone, byte for byte: a retag of plan's own build.
    pub fn image_only() -> Self {
        Self {
            platforms: &[],
            annotations: &NO_ANNOTATIONS,
            referrers: false,
        }
    }
}

impl Registries {
    /// Publishes `manifest` (already complete at `to`) under the target's tag,
    /// unless the tag already points at it. Returns what happened.
    async fn publish(
        &self,
        from: &Store,
        target: &Located,
        manifest: &Manifest,
        progress: &Progress<'_>,
    ) -> Result<TargetResult, RegistryError> {
        let digest = manifest.digest();
        let current = target.store.digest_of(&target.reference).await?;
        if current.as_deref() == Some(digest.as_str()) {
            return Ok(TargetResult::Unchanged);
        }
        if manifest.is_index() {
            self.copy_index(from, &target.store, manifest, progress)
                .await?;
        } else {
            self.copy_image(from, &target.store, manifest, progress)
                .await?;
        }
        // The tag moves last, once everything it points at is there.
        if self.move_tag(target, manifest, progress.context).await? {
            return Ok(TargetResult::Held);
        }
        Ok(if current.is_some() {
            TargetResult::Updated
        } else {
            TargetResult::Created
        })
    }

    /// `sync`: the source under each target name, byte for byte (same
    /// digest), or, with `platforms`, a new index holding only those.
    /// Cancellation (Ctrl-C) drops the copy where it is: see [`until_cancelled`].
    pub async fn sync(
        &self,
        from: &ImageRef,
        to: &[ImageRef],
        options: &SyncOptions<'_>,
        context: &dyn JobHandle,
    ) -> Result<CopyOutcome, RegistryError> {
        until_cancelled(context, self.sync_now(from, to, options, context)).await
    }

    async fn sync_now(
        &self,
        from: &ImageRef,
        to: &[ImageRef],
        options: &SyncOptions<'_>,
        context: &dyn JobHandle,
    ) -> Result<CopyOutcome, RegistryError> {
        let progress = Progress::new(context);
        let (source, desired) = self
            .desired_sync(from, options.platforms, options.annotations, context)
            .await?;
        // Signatures and attestations name the image by digest: they are
        // carried where the digest is kept (a copy byte for byte).
        let whole = desired.digest() == source_digest(&source, &desired);
        let referrers = if options.referrers && whole {
            self.referrers(&source.store, &desired.digest(), None)
                .await?
        } else {
            Vec::new()
        };
        let mut targets = Vec::new();
        for target in to {
            let target = self.open(target)?;
            let what = self
                .publish(&source.store, &target, &desired, &progress)
                .await?;
            context.output(format!(
                "{}: {} ({})",
                target.display,
                what.word(),
                desired.digest()
            ));
            if !referrers.is_empty() {
                let written = self
                    .copy_referrers(
                        &source.store,
                        &target,
                        &desired.digest(),
                        &referrers,
                        &progress,
                    )
                    .await?;
                context.output(format!(
                    "{}: {written} of {} signatures and attestations copied",
                    target.display,
                    referrers.len()
                ));
            }
            targets.push(TargetOutcome {
                reference: target.display,
                result: what,
            });
        }
        Ok(CopyOutcome {
            digest: desired.digest(),
            from: Some(source.display),
            targets,
            transfer: progress.summary(),
        })
    }

    /// What a sync wants at its targets, read from its source (read-only):
    /// the source's own manifest, or the filtered index.
    pub async fn desired_sync(
        &self,
        from: &ImageRef,
        platforms: &[Platform],
        annotations: &Annotations,
        context: &dyn JobHandle,
    ) -> Result<(Located, Manifest), RegistryError> {
        context.step(format!("reading {from}"));
        let (source, manifest) = self.read(from, context).await?;
        let desired = if platforms.is_empty() || !manifest.is_index() {
            manifest
        } else {
            let index = manifest.index().map_err(RegistryError::fatal)?;
            let mut entries = Vec::new();
            for platform in platforms {
                let entry = for_platform(&index, platform).ok_or_else(|| {
                    RegistryError::fatal(format!(
                        "`{from}` has no {platform} image (it has {})",
                        list_platforms(&index)
                    ))
                })?;
                entries.push(entry.clone());
                // Its provenance and SBOM stay with it.
                entries.extend(attestations_for(&index, entry.digest().as_ref()).cloned());
            }
            let mut annotations = index_annotations(annotations).unwrap_or_default();
            annotations.insert(SOURCE_DIGEST_ANNOTATION.to_owned(), manifest.digest());
            build_index(&entries, Some(annotations)).map_err(RegistryError::fatal)?
        };
        Ok((source, desired))
    }

    /// The digest a whole-image sync wants at its targets, from one `HEAD`
    /// on its source (its own digest: the copy is byte for byte). Nothing
    /// is read, so a check spends no pull quota.
    pub async fn desired_sync_digest(&self, from: &ImageRef) -> Result<String, RegistryError> {
        self.head(from)
            .await?
            .map(|head| head.digest)
            .ok_or_else(|| RegistryError::fatal(format!("`{from}` not found")))
    }

    /// Whether a platform-filtered sync is already done at `target`, told
    /// without reading its source: one `HEAD` on the source, and the
    /// target's own index, which names the source digest it was made from
    /// and the platforms it holds. `Some(digest at the target)` when both
    /// still match; `None` when the source has to be read to know.
    pub async fn filtered_sync_done(
        &self,
        from: &ImageRef,
        platforms: &[Platform],
        annotations: &Annotations,
        target: &ImageRef,
    ) -> Option<String> {
        let source = self.head(from).await.ok()??.digest;
        let located = self.open(target).ok()?;
        let index = located.store.manifest(&located.reference).await.ok()??;
        let parsed = index.index().ok()?;
        let held = parsed.annotations().as_ref()?;
        let made_from = held.get(SOURCE_DIGEST_ANNOTATION)?;
        // The plan's annotations, exactly: one added, changed or removed
        // makes another index.
        let plan_says = held.len() == annotations.len() + 1
            && annotations.iter().all(|(k, v)| held.get(k) == Some(v));
        let holds: Vec<Platform> = parsed
            .manifests()
            .iter()
            .filter_map(|d| d.platform().as_ref().and_then(plan_platform))
            .collect();
        (*made_from == source && holds == platforms && plan_says).then(|| index.digest())
    }
}

/// The digest of what the source itself holds: `desired` is the source's
/// own manifest unless a platform filter made a new index (which names
/// its source in an annotation).
fn source_digest(_source: &Located, desired: &Manifest) -> String {
    desired
        .index()
        .ok()
        .and_then(|index| {
            index
                .annotations()
                .as_ref()?
                .get(SOURCE_DIGEST_ANNOTATION)
                .cloned()
        })
        .unwrap_or_else(|| desired.digest())
}
