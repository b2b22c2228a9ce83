//! Manifests as the distribution API serves them: kept as the exact bytes
//! (a digest is of the bytes, so nothing is ever re-serialized), with just
//! enough parsed to walk them.

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::plan::platform::Platform;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Every manifest type, for `Accept`: a registry answers with what it stored.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// The annotation a platform-filtered copy carries: the digest of the full source index.
pub const SOURCE_DIGEST_ANNOTATION: &str = "dev.buildplan.source.digest";

pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// A manifest's bytes and media type.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: bytes::Bytes,
    pub media_type: String,
}

impl Manifest {
    pub fn digest(&self) -> String {
        digest_of(&self.bytes)
    }

    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_LIST
    }

    pub fn index(&self) -> Result<Index, String> {
        serde_json::from_slice(&self.bytes).map_err(|err| format!("invalid image index: {err}"))
    }

    pub fn image(&self) -> Result<ImageManifest, String> {
        serde_json::from_slice(&self.bytes).map_err(|err| format!("invalid image manifest: {err}"))
    }

    /// The media type from the document itself, when a store does not say.
    pub fn sniff_media_type(bytes: &[u8]) -> String {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
        }
        match serde_json::from_slice::<Probe>(bytes) {
            Ok(Probe {
                media_type: Some(t),
                ..
            }) => t,
            Ok(Probe {
                manifests: Some(_), ..
            }) => OCI_INDEX.into(),
            _ => OCI_MANIFEST.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<DescriptorPlatform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescriptorPlatform {
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl DescriptorPlatform {
    pub fn from_platform(platform: &Platform) -> Self {
        Self {
            architecture: platform.architecture.clone(),
            os: platform.os.clone(),
            variant: platform.variant.clone(),
        }
    }

    /// Normalized, so `arm64/v8` in a registry matches `linux/arm64` in a plan.
    pub fn platform(&self) -> Option<Platform> {
        let text = match &self.variant {
            Some(variant) => format!("{}/{}/{variant}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        };
        Platform::parse(&text).ok()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

impl Index {
    /// The entries that are images, not attestations (`unknown/unknown`).
    pub fn images(&self) -> impl Iterator<Item = &Descriptor> {
        self.manifests.iter().filter(|d| {
            d.platform.as_ref().is_none_or(|p| p.os != "unknown")
                && !d
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("vnd.docker.reference.type"))
        })
    }

    pub fn for_platform(&self, platform: &Platform) -> Option<&Descriptor> {
        self.images().find(|d| {
            d.platform
                .as_ref()
                .and_then(DescriptorPlatform::platform)
                .as_ref()
                == Some(platform)
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ImageManifest {
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

impl ImageManifest {
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        std::iter::once(&self.config).chain(self.layers.iter())
    }
}

/// An image config, for the platform it says it is.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageConfig {
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
}

/// A new OCI index over `entries`, serialized canonically (fixed field
/// order, no whitespace), so the same entries always give the same digest.
pub fn build_index(
    entries: &[Descriptor],
    annotations: Option<serde_json::Map<String, serde_json::Value>>,
) -> Manifest {
    #[derive(Serialize)]
    struct NewIndex<'a> {
        #[serde(rename = "schemaVersion")]
        schema_version: u32,
        #[serde(rename = "mediaType")]
        media_type: &'a str,
        manifests: &'a [Descriptor],
        #[serde(skip_serializing_if = "Option::is_none")]
        annotations: Option<serde_json::Map<String, serde_json::Value>>,
    }
    let bytes = serde_json::to_vec(&NewIndex {
        schema_version: 2,
        media_type: OCI_INDEX,
        manifests: entries,
        annotations,
    })
    .unwrap_or_default();
    Manifest {
        bytes: bytes.into(),
        media_type: OCI_INDEX.into(),
    }
}

/// The platforms of an index's images, for messages (`none` when it names none).
pub fn list_platforms(entries: &[Descriptor]) -> String {
    let names: Vec<String> = entries
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .filter_map(DescriptorPlatform::platform)
        .map(|p| p.to_string())
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
