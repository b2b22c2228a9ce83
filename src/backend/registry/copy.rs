//! Sync and combine, natively. Children before their index, the tag last:
//! a failed or killed run never leaves a tag pointing at something
//! incomplete, and running again finishes the work. A blob already at the
//! target is skipped, one in another repository of the same registry is
//! mounted, and anything else is streamed through in one `PUT`. A blob
//! needed by several jobs of one run is copied once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{StreamExt, TryStreamExt as _};
use oci_spec::image::Descriptor;

use super::error::RegistryError;
use super::manifest::{Manifest, blobs};
use super::registries::Registries;
use super::store::{BlobStream, Store};
use super::transfer::Progress;
use super::upload::too_large;

/// Blobs copied at once within one image.
const BLOB_CONCURRENCY: usize = 4;

impl Registries {
    async fn copy_blob(
        &self,
        from: &Store,
        to: &Store,
        blob: &Descriptor,
        progress: &Progress<'_>,
    ) -> Result<(), RegistryError> {
        let digest: &str = blob.digest().as_ref();
        let mine = self
            .once(format!("blob {}@{digest}", to.describe()), || async {
                progress.first_sight(digest);
                if to.has_blob(digest).await? {
                    progress.skipped.fetch_add(1, Ordering::Relaxed);
                    progress.say();
                    return Ok(());
                }
                if let Some(repository) = to.can_mount_from(from)
                    && to.mount(digest, &repository).await?
                {
                    progress.mounted.fetch_add(1, Ordering::Relaxed);
                    progress.say();
                    return Ok(());
                }
                let retry = crate::exec::RetryPolicy::REGISTRY;
                let mut attempt = 1;
                let mut refused_whole = false;
                loop {
                    // What this attempt sent, so a failed attempt's bytes can be
                    // taken back out of the job's count.
                    let sent = Arc::new(AtomicU64::new(0));
                    let result = async {
                        let stream = from.blob(digest, Some(blob.size())).await?;
                        let bytes = Arc::clone(&progress.bytes);
                        let sent = Arc::clone(&sent);
                        let counting: BlobStream = Box::pin(stream.inspect_ok(move |chunk| {
                            bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                            sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        }));
                        // After a 413 the store sends blobs this large in chunks.
                        to.put_blob(digest, blob.size(), counting).await
                    }
                    .await;
                    if result.is_err() {
                        progress
                            .bytes
                            .fetch_sub(sent.load(Ordering::Relaxed), Ordering::Relaxed);
                    }
                    match result {
                        Ok(()) => {
                            progress.blobs.fetch_add(1, Ordering::Relaxed);
                            progress.say();
                            return Ok(());
                        }
                        Err(err) if !refused_whole && too_large(&err) => {
                            progress.context.output(format!(
                                "blob {digest}: {}; sending it in chunks",
                                err.message
                            ));
                            refused_whole = true;
                        }
                        Err(err) if err.transient && attempt < retry.attempts => {
                            progress
                                .context
                                .output(format!("blob {digest}: {}; retrying", err.message));
                            tokio::time::sleep(retry.delay(attempt, err.retry_after)).await;
                            attempt += 1;
                        }
                        Err(err) if err.transient => return Err(err.exhausted(attempt)),
                        Err(err) => return Err(err),
                    }
                }
            })
            .await?;
        if !mine && progress.first_sight(digest) {
            // Another job of this run wrote it: for this job it was there.
            progress.skipped.fetch_add(1, Ordering::Relaxed);
            progress.say();
        }
        Ok(())
    }

    /// One image (config and layers, then its manifest by digest) into `to`.
    pub(super) async fn copy_image(
        &self,
        from: &Store,
        to: &Store,
        manifest: &Manifest,
        progress: &Progress<'_>,
    ) -> Result<(), RegistryError> {
        let digest = manifest.digest();
        let mine = self
            .once(format!("manifest {}@{digest}", to.describe()), || {
                self.copy_image_once(from, to, manifest, &digest, progress)
            })
            .await?;
        if !mine {
            // Another job of this run copied the whole image.
            Self::all_present(manifest, progress)?;
        }
        Ok(())
    }

    /// Counts an image's blobs as present for this job (the image was
    /// already at the target, or another job of the run put it there).
    fn all_present(manifest: &Manifest, progress: &Progress<'_>) -> Result<(), RegistryError> {
        let image = manifest.image().map_err(RegistryError::fatal)?;
        for blob in blobs(&image) {
            if progress.first_sight(blob.digest().as_ref()) {
                progress.skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
        progress.say();
        Ok(())
    }

    async fn copy_image_once(
        &self,
        from: &Store,
        to: &Store,
        manifest: &Manifest,
        digest: &str,
        progress: &Progress<'_>,
    ) -> Result<(), RegistryError> {
        if to.digest_of(digest).await?.is_some() {
            return Self::all_present(manifest, progress);
        }
        let image = manifest.image().map_err(RegistryError::fatal)?;
        // A few blobs at once; written as a loop rather than stream adapters,
        // whose closures over borrowed stores defeat the `Send` check.
        let mut queue = blobs(&image);
        let mut running = futures_util::stream::FuturesUnordered::new();
        loop {
            while running.len() < BLOB_CONCURRENCY {
                match queue.next() {
                    Some(blob) => running.push(self.copy_blob(from, to, blob, progress)),
                    None => break,
                }
            }
            match running.next().await {
                Some(result) => result?,
                None => break,
            }
        }
        to.put_manifest(digest, manifest).await
    }

    /// The children of an index (each an image) into `to`, then the index by digest.
    pub(super) async fn copy_index(
        &self,
        from: &Store,
        to: &Store,
        index: &Manifest,
        progress: &Progress<'_>,
    ) -> Result<(), RegistryError> {
        let parsed = index.index().map_err(RegistryError::fatal)?;
        // Every platform at once: their own layers upload side by side,
        // shared layers are copied once (see `once`).
        let mut running = futures_util::stream::FuturesUnordered::new();
        for child in parsed.manifests() {
            running.push(self.copy_child(from, to, child, progress));
        }
        while let Some(result) = running.next().await {
            result?;
        }
        let digest = index.digest();
        self.once(format!("manifest {}@{digest}", to.describe()), || {
            to.put_manifest(&digest, index)
        })
        .await
        .map(|_| ())
    }

    async fn copy_child(
        &self,
        from: &Store,
        to: &Store,
        child: &Descriptor,
        progress: &Progress<'_>,
    ) -> Result<(), RegistryError> {
        let manifest = from
            .manifest(child.digest().as_ref())
            .await?
            .ok_or_else(|| {
                RegistryError::fatal(format!(
                    "{} lists {} but does not have it",
                    from.describe(),
                    child.digest()
                ))
            })?;
        if manifest.is_index() {
            return Err(RegistryError::fatal(format!(
                "{}: nested indexes are not supported",
                from.describe()
            )));
        }
        self.copy_image(from, to, &manifest, progress).await
    }
}
