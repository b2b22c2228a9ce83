//! An OCI image layout on disk (`oci:PATH[:TAG]`): `oci-layout`,
//! `index.json` and `blobs/sha256/…`. Blobs are written to a temporary file,
//! checked against their digest, then renamed (the partial file is removed
//! on any failure); `index.json` is replaced atomically and last, so a
//! layout never names a blob it does not have.
//!
//! Reads are held to the layout too: a blob must be a regular file inside
//! the layout's own `blobs/sha256` folder (a symlink out of it — to a
//! private key, say — is refused, not uploaded), manifests are read bounded
//! and checked against their digest, and blobs are checked as they stream.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use oci_spec::image::{Descriptor, ImageIndex, MediaType};
use sha2::Digest as _;
use tokio::io::AsyncWriteExt;

use super::registry::manifest::{Manifest, describe};
use super::registry::store::{BlobStream, MAX_MANIFEST_BYTES};
use super::registry::verify;
use std::os::unix::fs::OpenOptionsExt;

/// Why a blob could not be read from a layout.
#[derive(Debug, thiserror::Error)]
enum LayoutReadError {
    #[error("{0}")]
    Io(std::io::Error),
    #[error("{0}")]
    Invalid(String),
}

impl LayoutReadError {
    fn is_not_found(&self) -> bool {
        matches!(self, Self::Io(err) if err.kind() == std::io::ErrorKind::NotFound)
    }
}

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

pub struct Layout {
    pub root: PathBuf,
    /// One writer of `index.json` at a time (several jobs may write one layout).
    pub lock: Arc<tokio::sync::Mutex<()>>,
}

fn blob_path(root: &Path, digest: &str) -> Result<PathBuf, String> {
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or_else(|| format!("`{digest}` is not a digest"))?;
    if algorithm != "sha256" || hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("`{digest}` is not a sha256 digest"));
    }
    Ok(root.join("blobs").join(algorithm).join(hex))
}

/// The tag an `index.json` entry carries, if any.
fn ref_name(descriptor: &Descriptor) -> Option<&str> {
    descriptor
        .annotations()
        .as_ref()
        .and_then(|a| a.get(REF_NAME))
        .map(String::as_str)
}

impl Layout {
    fn index(&self) -> Result<Option<ImageIndex>, String> {
        let path = self.root.join("index.json");
        match crate::local_file::read(&path, MAX_MANIFEST_BYTES as u64) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|err| format!("{} is not an OCI index: {err}", path.display())),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(format!("cannot read {}: {err}", path.display())),
        }
    }

    /// The manifest a tag names in `index.json`, or the blob a digest names.
    pub async fn manifest(&self, reference: &str) -> Result<Option<Manifest>, String> {
        let digest = if reference.starts_with("sha256:") {
            reference.to_owned()
        } else {
            let Some(index) = self.index()? else {
                return Ok(None);
            };
            let entries = index.manifests();
            let tagged = entries.iter().find(|d| ref_name(d) == Some(reference));
            // An untagged reference to a layout with one image means that image.
            let only = (reference == "latest" && entries.len() == 1).then(|| &entries[0]);
            match tagged.or(only) {
                Some(descriptor) => descriptor.digest().to_string(),
                None => return Ok(None),
            }
        };
        let path = match self.contained_blob(&digest) {
            Ok(path) => path,
            Err(err) if err.is_not_found() => return Ok(None),
            Err(err) => return Err(err.to_string()),
        };
        let bytes = crate::local_file::read(&path, MAX_MANIFEST_BYTES as u64)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let what = format!("oci:{}@{digest}", self.root.display());
        verify::check(&bytes, &digest, &what).map_err(|err| err.to_string())?;
        let media_type = Manifest::sniff_media_type(&bytes);
        Ok(Some(Manifest {
            bytes: bytes.into(),
            media_type,
        }))
    }

    /// The path of a blob that is a regular file inside this layout's
    /// `blobs/sha256` folder, with no link on the way out of it.
    fn contained_blob(&self, digest: &str) -> Result<PathBuf, LayoutReadError> {
        let path = blob_path(&self.root, digest).map_err(LayoutReadError::Invalid)?;
        let folder = path.parent().unwrap_or(&self.root);
        let inside = |p: &Path| -> Result<PathBuf, LayoutReadError> {
            std::fs::canonicalize(p).map_err(LayoutReadError::Io)
        };
        let root = inside(&self.root)?;
        let real_folder = inside(folder)?;
        if real_folder != root.join("blobs").join("sha256") {
            return Err(LayoutReadError::Invalid(format!(
                "{} leads out of the layout {}: refused",
                folder.display(),
                self.root.display()
            )));
        }
        let meta = std::fs::symlink_metadata(&path).map_err(LayoutReadError::Io)?;
        if !meta.file_type().is_file() {
            return Err(LayoutReadError::Invalid(format!(
                "{} is not a regular file (a link or special file in a layout is refused)",
                path.display()
            )));
        }
        Ok(path)
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        blob_path(&self.root, digest).is_ok_and(|p| p.is_file())
    }

    /// A blob's bytes, unchecked: `Store::blob` checks them as they stream.
    pub async fn blob(&self, digest: &str) -> Result<BlobStream, String> {
        let path = self
            .contained_blob(digest)
            .map_err(|err| format!("{} has no blob {digest}: {err}", self.root.display()))?;
        // No link at the last step either, even one made since the check.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|err| format!("{} has no blob {digest}: {err}", self.root.display()))?;
        Ok(Box::pin(tokio_util::io::ReaderStream::new(
            tokio::fs::File::from_std(file),
        )))
    }

    /// Streams into a temporary file, checks the digest, then renames.
    pub async fn put_blob(&self, digest: &str, mut stream: BlobStream) -> Result<(), String> {
        let path = blob_path(&self.root, digest)?;
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        // Unique per writer: two jobs may write the same blob at once; the
        // renames are atomic and the content is the same.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temp = dir.join(format!(
            ".{}.partial-{}-{n}",
            digest.trim_start_matches("sha256:"),
            std::process::id()
        ));
        let written = async {
            let mut file = tokio::fs::File::create(&temp)
                .await
                .map_err(|err| format!("cannot write {}: {err}", temp.display()))?;
            let mut hasher = sha2::Sha256::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|err| format!("reading blob {digest}: {err}"))?;
                hasher.update(&chunk);
                file.write_all(&chunk)
                    .await
                    .map_err(|err| format!("writing {}: {err}", temp.display()))?;
            }
            file.flush()
                .await
                .map_err(|err| format!("writing {}: {err}", temp.display()))?;
            let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
            if actual != digest {
                return Err(format!("blob {digest} arrived with digest {actual}"));
            }
            tokio::fs::rename(&temp, &path)
                .await
                .map_err(|err| format!("cannot write {}: {err}", path.display()))
        }
        .await;
        if written.is_err() {
            // Best effort: the partial file may not have been created at all.
            let _ = tokio::fs::remove_file(&temp).await;
        }
        written
    }

    /// Writes the manifest as a blob; a tag is then recorded in `index.json`.
    pub async fn put_manifest(&self, reference: &str, manifest: &Manifest) -> Result<(), String> {
        let digest = manifest.digest();
        if !self.has_blob(&digest) {
            let bytes = manifest.bytes.clone();
            let stream: BlobStream = Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
            self.put_blob(&digest, stream).await?;
        }
        if reference.starts_with("sha256:") {
            return Ok(());
        }
        let _guard = self.lock.lock().await;
        std::fs::create_dir_all(&self.root)
            .map_err(|err| format!("cannot create {}: {err}", self.root.display()))?;
        let layout_file = self.root.join("oci-layout");
        if !layout_file.exists() {
            std::fs::write(&layout_file, "{\"imageLayoutVersion\":\"1.0.0\"}")
                .map_err(|err| format!("cannot write {}: {err}", layout_file.display()))?;
        }
        let mut index = self.index()?.unwrap_or_else(|| {
            let mut index = ImageIndex::default();
            index.set_media_type(Some(MediaType::ImageIndex));
            index
        });
        let mut descriptor = describe(manifest, None)?;
        descriptor.set_annotations(Some(HashMap::from([(
            REF_NAME.to_owned(),
            reference.to_owned(),
        )])));
        let mut entries = index.manifests().clone();
        entries.retain(|d| ref_name(d) != Some(reference));
        entries.push(descriptor);
        index.set_manifests(entries);
        let text = serde_json::to_vec_pretty(&index).map_err(|err| err.to_string())?;
        let temp = self
            .root
            .join(format!(".index.json.{}", std::process::id()));
        std::fs::write(&temp, text)
            .map_err(|err| format!("cannot write {}: {err}", temp.display()))?;
        std::fs::rename(&temp, self.root.join("index.json"))
            .map_err(|err| format!("cannot write index.json in {}: {err}", self.root.display()))
    }
}
