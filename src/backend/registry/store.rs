//! Where images are read from and written to: a repository in a registry,
//! or an OCI image layout on disk. The copy engine speaks only to this.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use reqwest::{Method, StatusCode};

use super::auth::Scope;
use super::client::RegistryClient;
use super::error::RegistryError;
use super::manifest::{ACCEPT, Manifest};
use super::upload;
use super::verify;
use crate::backend::layout::Layout;
use crate::untrusted;

/// Largest manifest or index read, as containerd allows.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// `sha256:` and 64 lowercase hex digits.
pub fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

pub type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// What a `HEAD` tells of a manifest: enough to name it in an index without
/// reading it (on Docker Hub, a `HEAD` is not counted against the pull limit).
#[derive(Debug, Clone)]
pub struct ManifestHead {
    pub digest: String,
    /// A manifest media type, when the registry said one.
    pub media_type: Option<String>,
    pub size: Option<u64>,
}

pub enum Store {
    Registry {
        client: Arc<RegistryClient>,
        repository: String,
    },
    Layout(Layout),
}

impl Store {
    /// `host/repository` or `oci:PATH`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Registry { client, repository } => format!("{}/{repository}", client.host),
            Self::Layout(layout) => format!("oci:{}", layout.root.display()),
        }
    }

    /// Same registry, different repository: a blob can be mounted instead of copied.
    pub fn can_mount_from(&self, source: &Self) -> Option<String> {
        match (self, source) {
            (
                Self::Registry {
                    client: a,
                    repository: ra,
                },
                Self::Registry {
                    client: b,
                    repository: rb,
                },
            ) if a.host == b.host && ra != rb => Some(rb.clone()),
            _ => None,
        }
    }

    /// `GET` or `HEAD` on a manifest, accepting every manifest type;
    /// `None` when the registry has none at that reference.
    async fn manifest_response(
        client: &RegistryClient,
        repository: &str,
        reference: &str,
        method: Method,
    ) -> Result<Option<reqwest::Response>, RegistryError> {
        let what = if method == Method::GET {
            "reading"
        } else {
            "checking"
        };
        let request = client.request(method, &format!("/v2/{repository}/manifests/{reference}"));
        let response = client
            .send(&Scope::pull(repository), &|http| {
                request(http).header(reqwest::header::ACCEPT, ACCEPT)
            })
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        expect_ok(
            response,
            &format!("{what} {}/{repository}:{reference}", client.host),
        )
        .await
        .map(Some)
    }

    /// The manifest at a tag or digest; `None` when there is none.
    pub async fn manifest(&self, reference: &str) -> Result<Option<Manifest>, RegistryError> {
        match self {
            Self::Registry { client, repository } => {
                let Some(response) =
                    Self::manifest_response(client, repository, reference, Method::GET).await?
                else {
                    return Ok(None);
                };
                // A content type that is not text is none: the type is then
                // read from the document itself.
                let media_type = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
                let what = format!("{}/{repository}@{reference}", client.host);
                let declared = match response.headers().get("docker-content-digest") {
                    None => None,
                    Some(value) => match value.to_str().ok().filter(|d| is_digest(d)) {
                        Some(digest) => Some(digest.to_owned()),
                        // Garbage where a digest belongs is not a registry to trust.
                        None => {
                            return Err(RegistryError::fatal(format!(
                                "{}: the registry declared `{}` as the manifest's digest, which is not a sha256 digest; refused",
                                untrusted::escape(&what),
                                untrusted::excerpt(&String::from_utf8_lossy(value.as_bytes()), 100)
                            )));
                        }
                    },
                };
                let bytes = client
                    .bounded_body(response, MAX_MANIFEST_BYTES, "a manifest")
                    .await?;
                // Asked by digest, the content must have it; asked by tag, it
                // must have the digest the registry declares for it.
                let expected = if reference.starts_with("sha256:") {
                    Some(reference.to_owned())
                } else {
                    declared
                };
                if let Some(expected) = expected {
                    verify::check(&bytes, &expected, &untrusted::escape(&what))
                        .map_err(|err| RegistryError::fatal(err.to_string()))?;
                }
                let media_type = media_type
                    .filter(|t| t.contains("manifest") || t.contains("index"))
                    .unwrap_or_else(|| Manifest::sniff_media_type(&bytes));
                Ok(Some(Manifest { bytes, media_type }))
            }
            Self::Layout(layout) => layout
                .manifest(reference)
                .await
                .map_err(RegistryError::fatal),
        }
    }

    /// The digest at a tag, without fetching the manifest (`HEAD`).
    pub async fn digest_of(&self, reference: &str) -> Result<Option<String>, RegistryError> {
        Ok(self.head(reference).await?.map(|head| head.digest))
    }

    /// What a `HEAD` says of the manifest at a tag or digest; `None` when
    /// there is none.
    pub async fn head(&self, reference: &str) -> Result<Option<ManifestHead>, RegistryError> {
        match self {
            Self::Registry { client, repository } => {
                let response =
                    Self::manifest_response(client, repository, reference, Method::HEAD).await?;
                let Some(r) = response else {
                    return Ok(None);
                };
                // Header values that are not text say nothing: treated as absent.
                let header = |name| r.headers().get(name).and_then(|v| v.to_str().ok());
                let digest = match header("docker-content-digest") {
                    Some(digest) if is_digest(digest) => Some(digest.to_owned()),
                    // A registry that does not say the digest on `HEAD` (the
                    // distribution spec asks it to; distribution and Docker
                    // Hub do): nothing is known by this check, so a target is
                    // written again and a source is reported as not found.
                    None => None,
                    Some(other) => {
                        return Err(RegistryError::fatal(format!(
                            "{}/{repository}:{}: the registry declared `{}` as the manifest's digest, which is not a sha256 digest; refused",
                            client.host,
                            untrusted::escape(reference),
                            untrusted::excerpt(other, 100)
                        )));
                    }
                };
                Ok(digest.map(|digest| ManifestHead {
                    digest,
                    media_type: header("content-type")
                        .map(|t| t.split(';').next().unwrap_or(t).trim().to_owned())
                        .filter(|t| t.contains("manifest") || t.contains("index")),
                    // Said only in bake's metadata file: a length that is
                    // not a number is left out there, as one not sent is.
                    size: header("content-length").and_then(|n| n.parse().ok()),
                }))
            }
            Self::Layout(layout) => Ok(layout
                .manifest(reference)
                .await
                .map_err(RegistryError::fatal)?
                .map(|m| ManifestHead {
                    digest: m.digest(),
                    size: Some(m.bytes.len() as u64),
                    media_type: Some(m.media_type),
                })),
        }
    }

    pub async fn put_manifest(
        &self,
        reference: &str,
        manifest: &Manifest,
    ) -> Result<(), RegistryError> {
        self.push_manifest(reference, manifest).await.map(|_| ())
    }

    /// Pushes `manifest` by its digest; whether the registry indexed it as
    /// a referrer of its subject (it says so with `OCI-Subject`).
    pub async fn put_manifest_by_digest(&self, manifest: &Manifest) -> Result<bool, RegistryError> {
        self.push_manifest(&manifest.digest(), manifest).await
    }

    /// `PUT` of a manifest at a tag or digest; whether the registry
    /// answered `OCI-Subject` (a layout never does).
    async fn push_manifest(
        &self,
        reference: &str,
        manifest: &Manifest,
    ) -> Result<bool, RegistryError> {
        match self {
            Self::Registry { client, repository } => {
                let request = client.request(
                    Method::PUT,
                    &format!("/v2/{repository}/manifests/{reference}"),
                );
                let body = manifest.bytes.clone();
                let media_type = manifest.media_type.clone();
                let response = client
                    .send(&Scope::push(repository), &|http| {
                        request(http)
                            .header(reqwest::header::CONTENT_TYPE, media_type.as_str())
                            .body(body.clone())
                    })
                    .await?;
                let indexed = response.headers().contains_key("oci-subject");
                expect_ok(
                    response,
                    &format!("pushing {}/{repository}:{reference}", client.host),
                )
                .await?;
                Ok(indexed)
            }
            Self::Layout(layout) => layout
                .put_manifest(reference, manifest)
                .await
                .map(|()| false)
                .map_err(RegistryError::fatal),
        }
    }

    pub async fn has_blob(&self, digest: &str) -> Result<bool, RegistryError> {
        match self {
            Self::Registry { client, repository } => {
                let request =
                    client.request(Method::HEAD, &format!("/v2/{repository}/blobs/{digest}"));
                let response = client
                    .send(&Scope::pull(repository), &|http| request(http))
                    .await?;
                Ok(response.status().is_success())
            }
            Self::Layout(layout) => Ok(layout.has_blob(digest)),
        }
    }

    /// A blob's bytes, streamed and checked against `digest` (and `size`,
    /// when known) as they arrive: see [`verify::verified`].
    pub async fn blob(&self, digest: &str, size: Option<u64>) -> Result<BlobStream, RegistryError> {
        let stream = self.unverified_blob(digest).await?;
        let what = format!("blob {digest} from {}", self.describe());
        Ok(verify::verified(stream, digest, size, what))
    }

    async fn unverified_blob(&self, digest: &str) -> Result<BlobStream, RegistryError> {
        match self {
            Self::Registry { client, repository } => {
                let request =
                    client.request(Method::GET, &format!("/v2/{repository}/blobs/{digest}"));
                let response = client
                    .send(&Scope::pull(repository), &|http| request(http))
                    .await?;
                let response = expect_ok(
                    response,
                    &format!("reading blob {digest} from {}/{repository}", client.host),
                )
                .await?;
                Ok(Box::pin(
                    response.bytes_stream().map_err(std::io::Error::other),
                ))
            }
            Self::Layout(layout) => layout.blob(digest).await.map_err(RegistryError::fatal),
        }
    }

    /// Asks the registry to link a blob from another repository; false when it declines.
    pub async fn mount(&self, digest: &str, from: &str) -> Result<bool, RegistryError> {
        let Self::Registry { client, repository } = self else {
            return Ok(false);
        };
        let request = client.request(
            Method::POST,
            &format!("/v2/{repository}/blobs/uploads/?mount={digest}&from={from}"),
        );
        let scope = Scope {
            mount_from: Some(from.to_owned()),
            ..Scope::push(repository)
        };
        let response = client
            .send(&scope, &|http| {
                request(http).header(reqwest::header::CONTENT_LENGTH, 0)
            })
            .await?;
        Ok(response.status() == StatusCode::CREATED)
    }

    /// Uploads a blob in one streamed `PUT` (its size is known), never
    /// holding it in memory; in chunks straight away where this registry
    /// already refused a blob this large. After a 413 the next call for the
    /// same blob goes in chunks.
    pub async fn put_blob(
        &self,
        digest: &str,
        size: u64,
        stream: BlobStream,
    ) -> Result<(), RegistryError> {
        match self {
            Self::Registry { client, repository } => {
                if client.upload_limits.needs_chunks(size) {
                    return upload::in_chunks(client, repository, digest, stream).await;
                }
                let result = upload::whole(client, repository, digest, size, stream).await;
                if let Err(err) = &result
                    && upload::too_large(err)
                {
                    client.upload_limits.refused_whole(size);
                }
                result
            }
            Self::Layout(layout) => layout
                .put_blob(digest, stream)
                .await
                .map_err(RegistryError::fatal),
        }
    }
}

pub(super) async fn expect_ok(
    response: reqwest::Response,
    what: &str,
) -> Result<reqwest::Response, RegistryError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let detail = super::client::error_excerpt(response).await;
    let message = if status == StatusCode::NOT_FOUND {
        format!("{what}: not found ({status}) {detail}")
    } else {
        format!("{what}: {status} {detail}")
    };
    Err(RegistryError {
        message: message.trim().to_owned(),
        transient: status.is_server_error(),
        retry_after: None,
        status: Some(status),
    })
}

pub fn layout_store(root: PathBuf, lock: Arc<tokio::sync::Mutex<()>>) -> Store {
    Store::Layout(Layout { root, lock })
}
