//! `combine`: one image per platform, from tags or digests anywhere,
//! merged into one index. A source that is an index is flattened to its
//! image for the platform, and the attestation manifests about that image
//! (provenance, SBOM) come along; each platform is checked against the
//! image's config; the index is serialized canonically, so its digest is
//! known before anything is pushed and an unchanged combine pushes nothing.

use oci_spec::image::{Descriptor, Digest, ImageConfiguration, MediaType};

use super::error::RegistryError;
use super::manifest::{
    Annotations, Manifest, attestations_for, build_index, config_platform, describe, for_platform,
    images as images_of, index_annotations, is_index_type, list_platforms, oci_platform,
};
use super::registries::{Located, Registries, until_cancelled};
use super::transfer::{CopyOutcome, Progress, TargetOutcome, TargetResult};
use crate::backend::handle::JobHandle;
use crate::plan::platform::Platform;
use crate::plan::reference::ImageRef;

impl Registries {
    /// `combine`: an index over one image per platform, each checked against
    /// its config, serialized canonically so an unchanged combine pushes nothing.
    /// Cancellation (Ctrl-C) drops the copy where it is: see [`until_cancelled`].
    pub async fn combine(
        &self,
        sources: &[(Platform, ImageRef)],
        to: &[ImageRef],
        annotations: &Annotations,
        context: &dyn JobHandle,
    ) -> Result<CopyOutcome, RegistryError> {
        until_cancelled(context, self.combine_now(sources, to, annotations, context)).await
    }

    async fn combine_now(
        &self,
        sources: &[(Platform, ImageRef)],
        to: &[ImageRef],
        annotations: &Annotations,
        context: &dyn JobHandle,
    ) -> Result<CopyOutcome, RegistryError> {
        let progress = Progress::new(context);
        let (images, index) = self.desired_combine(sources, annotations, context).await?;
        let mut targets = Vec::new();
        for target in to {
            let target = self.open(target)?;
            let current = target.store.digest_of(&target.reference).await?;
            let what = if current.as_deref() == Some(index.digest().as_str()) {
                TargetResult::Unchanged
            } else {
                for (source, manifests) in &images {
                    for manifest in manifests {
                        self.copy_image(&source.store, &target.store, manifest, &progress)
                            .await?;
                    }
                }
                let digest = index.digest();
                self.once(
                    format!("manifest {}@{digest}", target.store.describe()),
                    || target.store.put_manifest(&digest, &index),
                )
                .await?;
                if self.move_tag(&target, &index, context).await? {
                    TargetResult::Held
                } else if current.is_some() {
                    TargetResult::Updated
                } else {
                    TargetResult::Created
                }
            };
            context.output(format!(
                "{}: {} ({})",
                target.display,
                what.word(),
                index.digest()
            ));
            targets.push(TargetOutcome {
                reference: target.display,
                result: what,
            });
        }
        Ok(CopyOutcome {
            digest: index.digest(),
            from: None,
            targets,
            transfer: progress.summary(),
        })
    }

    /// What a combine wants at its targets (read-only): each source's image
    /// for its platform, checked against its config, and the index over them.
    pub async fn desired_combine(
        &self,
        sources: &[(Platform, ImageRef)],
        annotations: &Annotations,
        context: &dyn JobHandle,
    ) -> Result<(Vec<(Located, Vec<Manifest>)>, Manifest), RegistryError> {
        // Each source with the manifests to copy from it: its image, then
        // the attestation manifests about that image, copied as they are.
        let mut images: Vec<(Located, Vec<Manifest>)> = Vec::new();
        let mut entries: Vec<Descriptor> = Vec::new();
        let mut attestation_entries: Vec<Descriptor> = Vec::new();
        for (platform, image) in sources {
            context.step(format!("reading {image}"));
            let (source, manifest) = self.read(image, context).await?;
            let mut about: Vec<Descriptor> = Vec::new();
            let manifest = if manifest.is_index() {
                let index = manifest.index().map_err(RegistryError::fatal)?;
                let only: Vec<&Descriptor> = images_of(&index).collect();
                let entry = for_platform(&index, platform)
                    .or_else(|| (only.len() == 1).then(|| only[0]))
                    .ok_or_else(|| {
                        RegistryError::fatal(format!(
                            "`{image}` has no {platform} image (it has {})",
                            list_platforms(&index)
                        ))
                    })?;
                let digest = entry.digest().to_string();
                about = attestations_for(&index, &digest).cloned().collect();
                source.store.manifest(&digest).await?.ok_or_else(|| {
                    RegistryError::fatal(format!("`{image}` lists {digest} but does not have it"))
                })?
            } else {
                manifest
            };
            let config: ImageConfiguration = self.config(&source.store, &manifest).await?;
            let found = config_platform(&config).ok_or_else(|| {
                RegistryError::fatal(format!(
                    "`{image}`: its config names an odd platform: {}/{}",
                    config.os(),
                    config.architecture()
                ))
            })?;
            if found != *platform {
                return Err(RegistryError::fatal(format!(
                    "`{image}` is a {found} image, but the plan lists it for {platform}"
                )));
            }
            let descriptor =
                describe(&manifest, Some(oci_platform(platform))).map_err(RegistryError::fatal)?;
            let mut manifests = vec![manifest];
            for attestation in about {
                let digest = attestation.digest().to_string();
                let read = source.store.manifest(&digest).await?.ok_or_else(|| {
                    RegistryError::fatal(format!("`{image}` lists {digest} but does not have it"))
                })?;
                manifests.push(read);
                attestation_entries.push(attestation);
            }
            entries.push(descriptor);
            images.push((source, manifests));
        }
        // Images first, in the plan's order, then their attestations, as
        // buildx writes an index.
        entries.extend(attestation_entries);
        let index =
            build_index(&entries, index_annotations(annotations)).map_err(RegistryError::fatal)?;
        Ok((images, index))
    }

    /// The digest of the index a combine wants, from `HEAD`s alone, when
    /// every source is one image manifest (an index has to be read to be
    /// flattened): the same entries `desired_combine` builds, so the same
    /// digest. `None` when it cannot be told this way. Only "unchanged" is
    /// decided on it; anything else is read in full, platform checks and all.
    pub async fn desired_combine_digest_from_heads(
        &self,
        sources: &[(Platform, ImageRef)],
        annotations: &Annotations,
    ) -> Option<String> {
        let mut entries = Vec::new();
        for (platform, image) in sources {
            let head = self.head(image).await.ok()??;
            let media_type = head.media_type?;
            if is_index_type(&media_type) {
                return None;
            }
            let mut entry = Descriptor::new(
                MediaType::from(media_type.as_str()),
                head.size?,
                head.digest.parse::<Digest>().ok()?,
            );
            entry.set_platform(Some(oci_platform(platform)));
            entries.push(entry);
        }
        build_index(&entries, index_annotations(annotations))
            .ok()
            .map(|index| index.digest())
    }
}
