//! `--publish at-end`: every job pushes its content by digest, and the tags
//! move only once every job of the run succeeded, so a failed run publishes
//! nothing half-done. Jobs that read a held-back tag read the content it
//! will point at.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::RegistryError;
use super::manifest::Manifest;
use super::registries::{Located, Registries, interrupted};
use crate::backend::handle::JobHandle;
use crate::lock::lock;
use crate::plan::reference::ImageRef;

/// The tags of one run that are held back, and where their content is.
#[derive(Default)]
pub struct HeldTags {
    /// Set by `--publish at-end` before the run starts.
    holding: AtomicBool,
    /// Tags to move at the end, to the manifest each will point at.
    tags: Mutex<Vec<(ImageRef, Manifest)>>,
    /// Held-back tag -> where its content already is.
    pinned: Mutex<HashMap<String, ImageRef>>,
}

impl Registries {
    /// `--publish at-end`: from now on, tags are held back until `publish_held`.
    pub fn hold_tags(&self) {
        self.held.holding.store(true, Ordering::SeqCst);
    }

    pub fn holding(&self) -> bool {
        self.held.holding.load(Ordering::SeqCst)
    }

    /// Where the content of a held-back tag is, if `image` is one.
    pub fn pinned(&self, image: &ImageRef) -> Option<ImageRef> {
        lock(&self.held.pinned).get(&image.to_string()).cloned()
    }

    /// Records that `tag` is held back and its content is at `at`.
    pub fn pin(&self, tag: &ImageRef, at: ImageRef) {
        lock(&self.held.pinned).insert(tag.to_string(), at);
    }

    /// Moves the target's tag to `manifest`, or holds it back under
    /// `--publish at-end` (true). The content is already complete.
    /// After Ctrl-C no tag moves: the job was not complete when the signal came.
    pub(super) async fn move_tag(
        &self,
        target: &Located,
        manifest: &Manifest,
        context: &dyn JobHandle,
    ) -> Result<bool, RegistryError> {
        if context.cancellation().is_cancelled() {
            return Err(interrupted());
        }
        if self.holding() {
            if let ImageRef::Registry(r) = &target.image {
                let mut pinned = r.clone();
                pinned.tag = None;
                pinned.digest = Some(manifest.digest());
                self.pin(&target.image, ImageRef::Registry(pinned));
            }
            lock(&self.held.tags).push((target.image.clone(), manifest.clone()));
            return Ok(true);
        }
        target
            .store
            .put_manifest(&target.reference, manifest)
            .await?;
        Ok(false)
    }

    /// Moves every held-back tag (once every job succeeded). Returns what moved.
    pub async fn publish_held(&self) -> Result<Vec<String>, RegistryError> {
        let tags: Vec<(ImageRef, Manifest)> = std::mem::take(&mut *lock(&self.held.tags));
        let mut moved = Vec::new();
        for (image, manifest) in tags {
            let target = self.open(&image)?;
            target
                .store
                .put_manifest(&target.reference, &manifest)
                .await?;
            moved.push(format!("{image} -> {}", manifest.digest()));
        }
        Ok(moved)
    }
}
