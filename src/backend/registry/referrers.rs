//! What refers to an image — signatures, attestations, SBOMs — found and
//! copied with it, so a mirror keeps the supply chain intact.
//!
//! Two ways registries keep them, both read and both written:
//! - the OCI referrers API (`GET /v2/R/referrers/DIGEST`): manifests whose
//!   `subject` is the image. A registry without it answers 404 (the
//!   distribution spec forbids a 404 from one that has it); that is
//!   remembered per registry, so it is asked once per run.
//! - the tag schema, for registries without it: cosign's `sha256-HEX.sig`,
//!   `.att` and `.sbom` tags, and `sha256-HEX`, the referrers fallback
//!   index that OCI 1.1 clients write.
//!
//! At the target, a referrer found by the API is pushed by digest; when
//! the target does not index it (no `OCI-Subject` answer), the fallback
//! index `sha256-HEX` is written with it, as OCI 1.1 clients do. Tag-schema
//! referrers are copied under their tag.

use std::collections::HashSet;

use oci_spec::image::{Descriptor, ImageIndex};
use reqwest::{Method, StatusCode};

use super::auth::Scope;
use super::error::RegistryError;
use super::manifest::{Manifest, build_index};
use super::registries::{Located, Registries};
use super::store::{MAX_MANIFEST_BYTES, Store, expect_ok};
use super::transfer::Progress;

/// Tag suffixes cosign writes for an image (`sha256-HEX.sig`, …).
const COSIGN_SUFFIXES: [&str; 3] = [".sig", ".att", ".sbom"];

/// One thing that refers to an image, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Referrer {
    /// Found through the referrers API: a manifest by digest.
    Api { digest: String },
    /// A tag of the tag schema, and the digest it points at.
    Tag { tag: String, digest: String },
}

impl Referrer {
    pub fn digest(&self) -> &str {
        match self {
            Self::Api { digest } | Self::Tag { digest, .. } => digest,
        }
    }
}

/// The tag-schema tags of the image at `digest`.
pub fn schema_tags(digest: &str) -> Vec<String> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let mut tags = vec![format!("sha256-{hex}")];
    tags.extend(COSIGN_SUFFIXES.map(|suffix| format!("sha256-{hex}{suffix}")));
    tags
}

impl Store {
    /// The referrers API's answer for `digest`: `None` when the registry
    /// has no such API.
    async fn referrers_api(&self, digest: &str) -> Result<Option<Vec<String>>, RegistryError> {
        let Self::Registry { client, repository } = self else {
            return Ok(None);
        };
        if client.lacks_referrers_api() {
            return Ok(None);
        }
        let request = client.request(Method::GET, &format!("/v2/{repository}/referrers/{digest}"));
        let response = client
            .send(&Scope::pull(repository), &|http| request(http))
            .await?;
        if matches!(
            response.status(),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ) {
            client.note_no_referrers_api();
            return Ok(None);
        }
        let what = format!(
            "reading the referrers of {}/{repository}@{digest}",
            client.host
        );
        let response = expect_ok(response, &what).await?;
        let body = client
            .bounded_body(response, MAX_MANIFEST_BYTES, "a referrers list")
            .await?;
        let index: ImageIndex = serde_json::from_slice(&body)
            .map_err(|err| RegistryError::fatal(format!("{what}: not an index ({err})")))?;
        Ok(Some(
            index
                .manifests()
                .iter()
                .map(|d| d.digest().to_string())
                .filter(|d| super::store::is_digest(d))
                .collect(),
        ))
    }
}

impl Registries {
    /// What refers to the image at `digest` in `source`'s repository.
    /// `listed`: the repository's tags when already read (a repository
    /// sync), else the tag schema is probed with `HEAD`s.
    pub async fn referrers(
        &self,
        source: &Store,
        digest: &str,
        listed: Option<&HashSet<String>>,
    ) -> Result<Vec<Referrer>, RegistryError> {
        if let Some(found) = source.referrers_api(digest).await? {
            return Ok(found
                .into_iter()
                .map(|digest| Referrer::Api { digest })
                .collect());
        }
        let mut found = Vec::new();
        for tag in schema_tags(digest) {
            if listed.is_some_and(|tags| !tags.contains(&tag)) {
                continue;
            }
            if let Some(head) = source.head(&tag).await? {
                found.push(Referrer::Tag {
                    tag,
                    digest: head.digest,
                });
            }
        }
        Ok(found)
    }

    /// How many things refer to the image `from` at `digest`, and how many
    /// of them the target that lacks most of them lacks.
    pub async fn referrer_count(
        &self,
        from: &crate::plan::reference::ImageRef,
        digest: &str,
        targets: &[crate::plan::reference::ImageRef],
        listed: Option<&HashSet<String>>,
    ) -> Result<(usize, usize), RegistryError> {
        let source = self.open(from)?;
        let found = self.referrers(&source.store, digest, listed).await?;
        if found.is_empty() {
            return Ok((0, 0));
        }
        let mut missing = 0;
        for target in targets {
            let target = self.open(target)?;
            missing = missing.max(
                self.referrers_missing(&target.store, digest, &found)
                    .await?,
            );
        }
        Ok((found.len(), missing))
    }

    /// How many of `referrers` are not at `target` yet.
    pub async fn referrers_missing(
        &self,
        target: &Store,
        subject: &str,
        referrers: &[Referrer],
    ) -> Result<usize, RegistryError> {
        let mut missing = 0;
        for referrer in referrers {
            let there = match referrer {
                Referrer::Tag { tag, digest } => {
                    target.digest_of(tag).await?.as_deref() == Some(digest.as_str())
                }
                Referrer::Api { digest } => {
                    target.digest_of(digest).await?.is_some()
                        && self.indexed_at(target, subject, digest).await?
                }
            };
            if !there {
                missing += 1;
            }
        }
        Ok(missing)
    }

    /// Whether the target can find `referrer` from `subject`: through its
    /// referrers API, or in the fallback index.
    async fn indexed_at(
        &self,
        target: &Store,
        subject: &str,
        referrer: &str,
    ) -> Result<bool, RegistryError> {
        if let Some(found) = target.referrers_api(subject).await? {
            return Ok(found.iter().any(|d| d == referrer));
        }
        let fallback = &schema_tags(subject)[0];
        Ok(match target.manifest(fallback).await? {
            Some(index) => index.index().is_ok_and(|i| {
                i.manifests()
                    .iter()
                    .any(|d| d.digest().as_ref() == referrer)
            }),
            None => false,
        })
    }

    /// Copies `referrers` of the image at `subject` from `source` to
    /// `target`; returns how many were written (those already there are
    /// skipped).
    pub(super) async fn copy_referrers(
        &self,
        source: &Store,
        target: &Located,
        subject: &str,
        referrers: &[Referrer],
        progress: &Progress<'_>,
    ) -> Result<usize, RegistryError> {
        let mut written = 0;
        for referrer in referrers {
            if self
                .referrers_missing(&target.store, subject, std::slice::from_ref(referrer))
                .await?
                == 0
            {
                continue;
            }
            let manifest = source.manifest(referrer.digest()).await?.ok_or_else(|| {
                RegistryError::fatal(format!(
                    "{}: the referrer {} is listed but not there",
                    source.describe(),
                    referrer.digest()
                ))
            })?;
            if manifest.is_index() {
                self.copy_index(source, &target.store, &manifest, progress)
                    .await?;
            } else {
                self.copy_image(source, &target.store, &manifest, progress)
                    .await?;
            }
            match referrer {
                Referrer::Tag { tag, .. } => target.store.put_manifest(tag, &manifest).await?,
                Referrer::Api { digest } => {
                    let indexed = target.store.put_manifest_by_digest(&manifest).await?;
                    if !indexed {
                        self.add_to_fallback_index(&target.store, subject, &manifest, digest)
                            .await?;
                    }
                }
            }
            written += 1;
        }
        Ok(written)
    }

    /// Adds a referrer to the target's fallback index `sha256-HEX`, as
    /// OCI 1.1 clients do where a registry has no referrers API.
    async fn add_to_fallback_index(
        &self,
        target: &Store,
        subject: &str,
        referrer: &Manifest,
        digest: &str,
    ) -> Result<(), RegistryError> {
        let tag = &schema_tags(subject)[0];
        // Something else under that tag is not overwritten on a guess.
        let mut entries: Vec<Descriptor> = match target.manifest(tag).await? {
            Some(existing) => existing
                .index()
                .map(|i| i.manifests().clone())
                .map_err(|err| {
                    RegistryError::fatal(format!(
                        "{}:{tag} should be the referrers fallback index of {subject}, and is not an index ({err}); it is left as it is",
                        target.describe()
                    ))
                })?,
            None => Vec::new(),
        };
        if entries.iter().any(|d| d.digest().as_ref() == digest) {
            return Ok(());
        }
        let mut entry = super::manifest::describe(referrer, None).map_err(RegistryError::fatal)?;
        // The artifact type travels, so clients can filter without reading.
        if let Ok(image) = referrer.image() {
            entry.set_artifact_type(
                image
                    .artifact_type()
                    .clone()
                    .or_else(|| Some(image.config().media_type().clone())),
            );
            entry.set_annotations(image.annotations().clone());
        }
        entries.push(entry);
        let index = build_index(&entries, None).map_err(RegistryError::fatal)?;
        target.put_manifest(tag, &index).await
    }
}
