//! Blob uploads to a registry. The usual way is one streamed `PUT` of the
//! whole blob (its size is known, nothing is held in memory). A registry
//! that refuses a body that large (413: a proxy in front of it with a body
//! limit, as nginx has by default) gets the chunked protocol instead: `PATCH`
//! after `PATCH` with a `Content-Range`, then an empty `PUT` with the digest.
//! Each chunk is held in memory (at most [`CHUNK`]) and halved when a chunk
//! is still refused as too large.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::BytesMut;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};

use super::auth::Scope;
use super::client::RegistryClient;
use super::error::RegistryError;
use super::store::{BlobStream, expect_ok};

/// Largest chunk sent in one `PATCH`: with a few uploads at once, memory
/// stays within tens of MiB even in this fallback.
pub const CHUNK: usize = 4 << 20;
/// Chunks are not halved below this: a registry refusing 64 KiB is broken.
const SMALLEST_CHUNK: usize = 64 << 10;

/// What one registry turned out to accept, learned during the run so that
/// only the first large blob pays for finding out.
#[derive(Debug)]
pub struct Limits {
    /// Smallest whole blob refused as too large (`u64::MAX`: none yet).
    refused_whole: AtomicU64,
    /// Chunk size that works (starts at [`CHUNK`], halved on a 413).
    chunk: AtomicUsize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            refused_whole: AtomicU64::new(u64::MAX),
            chunk: AtomicUsize::new(CHUNK),
        }
    }
}

impl Limits {
    /// Whether a blob of `size` should go in chunks from the start.
    pub fn needs_chunks(&self, size: u64) -> bool {
        size >= self.refused_whole.load(Ordering::Relaxed)
    }

    pub fn refused_whole(&self, size: u64) {
        self.refused_whole.fetch_min(size, Ordering::Relaxed);
    }
}

/// Whether an upload failed because the registry refused its size: worth
/// sending again in chunks.
pub fn too_large(err: &RegistryError) -> bool {
    err.status == Some(StatusCode::PAYLOAD_TOO_LARGE)
}

/// `POST`s a new upload session; returns its `Location`.
async fn start(client: &RegistryClient, repository: &str) -> Result<String, RegistryError> {
    let request = client.request(Method::POST, &format!("/v2/{repository}/blobs/uploads/"));
    let response = client
        .send(&Scope::push(repository), &|http| {
            request(http).header(reqwest::header::CONTENT_LENGTH, 0)
        })
        .await?;
    let response = expect_ok(
        response,
        &format!("starting an upload to {}/{repository}", client.host),
    )
    .await?;
    location(client, &response)
}

fn location(
    client: &RegistryClient,
    response: &reqwest::Response,
) -> Result<String, RegistryError> {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            RegistryError::fatal(format!(
                "{} answered an upload without a Location",
                client.host
            ))
        })
}

/// The upload's URL with `digest=` added: the request that completes it.
fn completing(client: &RegistryClient, location: &str, digest: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    client.url(&format!("{location}{separator}digest={digest}"))
}

/// The whole blob in one streamed `PUT`.
pub async fn whole(
    client: &RegistryClient,
    repository: &str,
    digest: &str,
    size: u64,
    stream: BlobStream,
) -> Result<(), RegistryError> {
    let location = start(client, repository).await?;
    let url = completing(client, &location, digest);
    // The body is a stream and cannot be replayed: one attempt here, the
    // copy engine retries the whole blob.
    let body = std::sync::Mutex::new(Some(reqwest::Body::wrap_stream(stream)));
    let response = client
        .send_once(&Scope::push(repository), &|http| {
            // A second build of this request (a re-send after a 401) has no
            // body left: it fails as incomplete and the copy engine retries
            // the blob from its source.
            let body = crate::lock::lock(&body)
                .take()
                .unwrap_or_else(|| reqwest::Body::from(Vec::new()));
            http.put(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::CONTENT_LENGTH, size)
                .body(body)
        })
        .await?;
    expect_ok(
        response,
        &format!("uploading blob {digest} to {}/{repository}", client.host),
    )
    .await?;
    Ok(())
}

/// The blob in chunks: `PATCH`es of at most [`CHUNK`] bytes (or what this
/// registry was found to take), halving a refused chunk until it passes,
/// then the completing `PUT`.
pub async fn in_chunks(
    client: &RegistryClient,
    repository: &str,
    digest: &str,
    mut stream: BlobStream,
) -> Result<(), RegistryError> {
    let what = format!("uploading blob {digest} to {}/{repository}", client.host);
    let mut location = start(client, repository).await?;
    let mut chunk = client.upload_limits.chunk.load(Ordering::Relaxed);
    let mut pending = BytesMut::new();
    let mut offset: u64 = 0;
    let mut ended = false;
    loop {
        while !ended && pending.len() < chunk {
            match stream.next().await {
                Some(Ok(piece)) => pending.extend_from_slice(&piece),
                Some(Err(err)) => {
                    if let Some(mismatch) = super::error::ContentMismatch::find(&err) {
                        return Err(RegistryError::fatal(mismatch.to_string()));
                    }
                    return Err(RegistryError::transient(format!(
                        "{what}: reading the source: {err}"
                    )));
                }
                None => ended = true,
            }
        }
        if pending.is_empty() {
            break;
        }
        let piece = pending.split_to(pending.len().min(chunk)).freeze();
        let end = offset + piece.len() as u64 - 1;
        let url = client.url(&location);
        let response = client
            .send(&Scope::push(repository), &|http| {
                http.patch(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .header(reqwest::header::CONTENT_RANGE, format!("{offset}-{end}"))
                    .header(reqwest::header::CONTENT_LENGTH, piece.len())
                    .body(piece.clone())
            })
            .await?;
        match expect_ok(response, &what).await {
            Ok(response) => {
                location = self::location(client, &response)?;
                offset = end + 1;
            }
            Err(err) if too_large(&err) && piece.len() > SMALLEST_CHUNK => {
                // Put the piece back in front and try half of what was refused.
                chunk = (piece.len() / 2).max(SMALLEST_CHUNK);
                client
                    .upload_limits
                    .chunk
                    .fetch_min(chunk, Ordering::Relaxed);
                let mut again = BytesMut::from(&piece[..]);
                again.extend_from_slice(&pending);
                pending = again;
            }
            Err(err) => return Err(err),
        }
    }
    let url = completing(client, &location, digest);
    let response = client
        .send(&Scope::push(repository), &|http| {
            http.put(&url).header(reqwest::header::CONTENT_LENGTH, 0)
        })
        .await?;
    expect_ok(response, &what).await?;
    Ok(())
}
