//! A repository's tags: listing them (`tags/list`, page by page) for
//! repository syncs, and deleting one (pruning) without touching any other
//! tag that shares its image.

use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::auth::Scope;
use super::error::RegistryError;
use super::manifest::{Manifest, digest_of};
use super::store::{Store, expect_ok};
use crate::plan::reference::is_valid_tag;
use crate::untrusted;

/// Largest page of a tag list read.
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// Most tags read from one repository, and most pages: a registry cannot
/// keep a `diff` paging forever.
const MAX_TAGS: usize = 100_000;
const MAX_PAGES: usize = 1_000;
/// Tags asked for per page (registries may send fewer, and say `Link`).
const PAGE_SIZE: usize = 1_000;

#[derive(Deserialize)]
struct TagPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// How a tag was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Deletion {
    /// `DELETE` on the tag itself (OCI distribution 1.1).
    Tag,
    /// The registry deletes only by digest, and no other tag points at
    /// the image: the image itself.
    Image,
    /// Already gone: deleted with the image of another tag.
    Gone,
    /// The registry deletes only by digest (distribution 2.x): the tag was
    /// first pointed at a small placeholder manifest of its own, and that
    /// was deleted, so no other tag sharing the image loses it. The image
    /// stays, untagged, for the registry's garbage collection.
    Placeholder,
}

impl Deletion {
    /// As the job's log says it.
    pub fn word(self) -> &'static str {
        match self {
            Self::Tag => "tag deleted",
            Self::Image => "tag and its image deleted (no tag that stays has it)",
            Self::Gone => "tag deleted with its image",
            Self::Placeholder => {
                "tag deleted (through a placeholder: the registry deletes by digest only, and the image is shared or unknown)"
            }
        }
    }
}

impl Store {
    /// Every tag of the repository, in the registry's order; empty when
    /// the repository does not exist.
    pub async fn tags(&self) -> Result<Vec<String>, RegistryError> {
        let Self::Registry { client, repository } = self else {
            return Err(RegistryError::fatal(format!(
                "{}: listing tags needs a registry",
                self.describe()
            )));
        };
        let what = format!("listing the tags of {}/{repository}", client.host);
        let mut next = Some(format!("/v2/{repository}/tags/list?n={PAGE_SIZE}"));
        let mut tags: Vec<String> = Vec::new();
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            if pages > MAX_PAGES || tags.len() > MAX_TAGS {
                return Err(RegistryError::fatal(format!(
                    "{what}: more than {MAX_TAGS} tags or {MAX_PAGES} pages; refused"
                )));
            }
            let request = client.request(Method::GET, &path);
            let response = client
                .send(&Scope::pull(repository), &|http| request(http))
                .await?;
            if response.status() == StatusCode::NOT_FOUND && pages == 1 {
                return Ok(Vec::new());
            }
            let response = expect_ok(response, &what).await?;
            next = response
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link)
                .map(str::to_owned);
            let body = client
                .bounded_body(response, MAX_PAGE_BYTES, "a tag list")
                .await?;
            let page: TagPage = serde_json::from_slice(&body)
                .map_err(|err| RegistryError::fatal(format!("{what}: not a tag list ({err})")))?;
            // `"tags": null` is how distribution lists an empty repository.
            tags.extend(page.tags.unwrap_or_default());
        }
        // A tag is at most 128 of `[A-Za-z0-9_.-]`: anything else is not
        // one, and is not carried into messages or requests.
        tags.retain(|t| is_valid_tag(t));
        Ok(tags)
    }

    /// Deletes `tag`. Tries the tag itself; where the registry deletes
    /// only by digest, deletes `unshared` (the image no other tag points
    /// at), else points the tag at a placeholder and deletes that (see
    /// [`Deletion`]).
    pub async fn delete_tag(
        &self,
        tag: &str,
        unshared: Option<&str>,
    ) -> Result<Deletion, RegistryError> {
        let Self::Registry { client, repository } = self else {
            return Err(RegistryError::fatal(format!(
                "{}: deleting tags needs a registry",
                self.describe()
            )));
        };
        let scope = Scope::delete(repository);
        let request = client.request(Method::DELETE, &format!("/v2/{repository}/manifests/{tag}"));
        let response = client.send(&scope, &|http| request(http)).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(Deletion::Tag);
        }
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            expect_ok(
                response,
                &format!("deleting {}/{repository}:{tag}", client.host),
            )
            .await?;
        }
        // Distribution 2.x answers a tag with 400/404/405: by digest only.
        // Deleting an image there takes every tag that points at it: one
        // deleted with a sibling tag is already gone.
        if self.head(tag).await?.is_none() {
            return Ok(Deletion::Gone);
        }
        if let Some(digest) = unshared {
            let request = client.request(
                Method::DELETE,
                &format!("/v2/{repository}/manifests/{digest}"),
            );
            let response = client.send(&scope, &|http| request(http)).await?;
            if response.status().is_success() {
                return Ok(Deletion::Image);
            }
        }
        let placeholder = placeholder_manifest(tag);
        let empty = b"{}";
        let config = digest_of(empty);
        if !self.has_blob(&config).await? {
            self.put_blob(
                &config,
                empty.len() as u64,
                Box::pin(futures_util::stream::once(async {
                    Ok(bytes::Bytes::from_static(b"{}"))
                })),
            )
            .await?;
        }
        self.put_manifest(tag, &placeholder).await?;
        let digest = placeholder.digest();
        let request = client.request(
            Method::DELETE,
            &format!("/v2/{repository}/manifests/{digest}"),
        );
        let response = client.send(&scope, &|http| request(http)).await?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Err(RegistryError::fatal(format!(
                "{}/{repository}: the registry does not allow deleting (distribution: set REGISTRY_STORAGE_DELETE_ENABLED=true); {}:{tag} now points at an empty placeholder image",
                client.host,
                untrusted::escape(repository)
            )));
        }
        expect_ok(
            response,
            &format!("deleting {}/{repository}:{tag}", client.host),
        )
        .await?;
        Ok(Deletion::Placeholder)
    }
}

/// `sha256-HEX`, `sha256-HEX.sig`, `.att`, `.sbom`: tags that belong to an
/// image (cosign's signatures and attestations, the referrers fallback
/// index), never selected or pruned on their own.
pub fn is_referrer_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-").is_some_and(|rest| {
        let hex = rest.split('.').next().unwrap_or(rest);
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The path of the next page from a `Link: <PATH>; rel="next"` header.
/// Only a path on the same registry is followed.
fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|link| {
        let (target, params) = link.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"" || p.trim() == "rel=next");
        (next && target.starts_with("/v2/")).then_some(target)
    })
}

/// A manifest no other tag has: the empty config, no layers, and the tag
/// it stands in for (so two placeholders never share a digest).
fn placeholder_manifest(tag: &str) -> Manifest {
    let text = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": digest_of(b"{}"),
            "size": 2
        },
        "layers": [],
        "annotations": {
            "dev.buildplan.deleted-tag": tag,
            "dev.buildplan.deleted-at": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos().to_string())
                .unwrap_or_default()
        }
    });
    Manifest {
        bytes: bytes::Bytes::from(text.to_string()),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_only_next_links_on_the_same_registry() {
        assert_eq!(
            next_link("</v2/a/tags/list?n=2&last=b>; rel=\"next\""),
            Some("/v2/a/tags/list?n=2&last=b")
        );
        assert_eq!(next_link("<https://evil.example/v2/a>; rel=\"next\""), None);
        assert_eq!(next_link("</v2/a/tags/list>; rel=\"prev\""), None);
    }

    #[test]
    fn referrer_tags_are_told_apart() {
        let hex = "a".repeat(64);
        for tag in [format!("sha256-{hex}"), format!("sha256-{hex}.sig")] {
            assert!(is_referrer_tag(&tag), "{tag}");
        }
        assert!(!is_referrer_tag("sha256-abc.sig"));
        assert!(!is_referrer_tag("1.2.0"));
        assert!(
            is_valid_tag("1.2.0-rc1")
                && !is_valid_tag("-x")
                && !is_valid_tag("a/b")
                && !is_valid_tag("")
        );
    }
}
