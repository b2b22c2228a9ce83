//! Manifests as the distribution API serves them: kept as the exact bytes
//! (a digest is of the bytes, so nothing is ever re-serialized), with just
//! enough parsed (as `oci-spec` types) to walk them.

use std::collections::HashMap;

use oci_spec::image::{
    Arch, Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest, MediaType, Os,
    Platform as OciPlatform,
};
use serde::Deserialize;
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

/// The annotation or label a copy made through buildx carries: its sources
/// and their digests when it was made (see `record.rs`).
pub const SOURCES_RECORD: &str = "dev.buildplan.sources";

/// Whether a media type is an index (OCI) or a manifest list (Docker).
pub fn is_index_type(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

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
        is_index_type(&self.media_type)
    }

    pub fn index(&self) -> Result<ImageIndex, String> {
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

/// The entries of an index that are images, not attestations
/// (`unknown/unknown`, or a `vnd.docker.reference.type` annotation).
pub fn images(index: &ImageIndex) -> impl Iterator<Item = &Descriptor> {
    index.manifests().iter().filter(|d| {
        d.platform()
            .as_ref()
            .is_none_or(|p| p.os().to_string() != "unknown")
            && !d
                .annotations()
                .as_ref()
                .is_some_and(|a| a.contains_key("vnd.docker.reference.type"))
    })
}

/// The attestation manifests of an index that are about the image at
/// `digest` (`vnd.docker.reference.type: attestation-manifest`, pointing at
/// it by `vnd.docker.reference.digest`): they travel with that image.
pub fn attestations_for<'a>(
    index: &'a ImageIndex,
    digest: &'a str,
) -> impl Iterator<Item = &'a Descriptor> + 'a {
    index.manifests().iter().filter(move |d| {
        d.annotations().as_ref().is_some_and(|a| {
            a.get("vnd.docker.reference.type").map(String::as_str) == Some("attestation-manifest")
                && a.get("vnd.docker.reference.digest").map(String::as_str) == Some(digest)
        })
    })
}

/// The image of an index for `platform` (compared normalized).
pub fn for_platform<'a>(index: &'a ImageIndex, platform: &Platform) -> Option<&'a Descriptor> {
    images(index).find(|d| d.platform().as_ref().and_then(plan_platform).as_ref() == Some(platform))
}

/// A registry's platform, normalized, so `arm64/v8` there matches
/// `linux/arm64` in a plan.
pub fn plan_platform(platform: &OciPlatform) -> Option<Platform> {
    platform_from_parts(
        &platform.os().to_string(),
        &platform.architecture().to_string(),
        platform.variant().as_deref(),
    )
}

/// The platform an image config says it is, normalized.
pub fn config_platform(config: &ImageConfiguration) -> Option<Platform> {
    platform_from_parts(
        &config.os().to_string(),
        &config.architecture().to_string(),
        config.variant().as_deref(),
    )
}

fn platform_from_parts(os: &str, architecture: &str, variant: Option<&str>) -> Option<Platform> {
    let text = match variant {
        Some(variant) => format!("{os}/{architecture}/{variant}"),
        None => format!("{os}/{architecture}"),
    };
    Platform::parse(&text).ok()
}

/// A plan's platform as an index entry names it.
pub fn oci_platform(platform: &Platform) -> OciPlatform {
    let mut oci = OciPlatform::default();
    oci.set_os(Os::from(platform.os));
    oci.set_architecture(Arch::from(platform.architecture));
    oci.set_variant(platform.variant.map(str::to_owned));
    oci
}

/// An image manifest's blobs: its config, then its layers.
pub fn blobs(image: &ImageManifest) -> impl Iterator<Item = &Descriptor> {
    std::iter::once(image.config()).chain(image.layers().iter())
}

/// The descriptor of `manifest` itself, for an index entry.
pub fn describe(manifest: &Manifest, platform: Option<OciPlatform>) -> Result<Descriptor, String> {
    let digest = manifest
        .digest()
        .parse::<Digest>()
        .map_err(|err| format!("invalid digest: {err}"))?;
    let mut descriptor = Descriptor::new(
        MediaType::from(manifest.media_type.as_str()),
        manifest.bytes.len() as u64,
        digest,
    );
    descriptor.set_platform(platform);
    Ok(descriptor)
}

/// Annotations as a plan writes them (index annotations, in order).
pub type Annotations = indexmap::IndexMap<String, String>;

/// A plan's index annotations as an index holds them (`None`: none).
pub fn index_annotations(annotations: &Annotations) -> Option<HashMap<String, String>> {
    (!annotations.is_empty()).then(|| {
        annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

/// A new OCI index over `entries`, serialized canonically (object keys
/// sorted at every level, no whitespace), so the same entries always give
/// the same digest: the OCI types keep annotations in hash maps, whose
/// order would otherwise change from run to run.
pub fn build_index(
    entries: &[Descriptor],
    annotations: Option<HashMap<String, String>>,
) -> Result<Manifest, String> {
    let mut index = ImageIndex::default();
    index.set_media_type(Some(MediaType::ImageIndex));
    index.set_manifests(entries.to_vec());
    index.set_annotations(annotations);
    let value =
        serde_json::to_value(&index).map_err(|err| format!("cannot write an index: {err}"))?;
    let bytes = serde_json::to_vec(&sorted(value))
        .map_err(|err| format!("cannot write an index: {err}"))?;
    Ok(Manifest {
        bytes: bytes.into(),
        media_type: OCI_INDEX.into(),
    })
}

/// `value` with the keys of every object in sorted order.
fn sorted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The platforms of an index's images, for messages (`none` when it names none).
pub fn list_platforms(index: &ImageIndex) -> String {
    let names: Vec<String> = images(index)
        .filter_map(|d| d.platform().as_ref().and_then(plan_platform))
        .map(|p| p.to_string())
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(digest_byte: char, platform: &str, annotations: &[(&str, &str)]) -> Descriptor {
        let digest = format!("sha256:{}", digest_byte.to_string().repeat(64));
        let mut d = Descriptor::new(
            MediaType::ImageManifest,
            100,
            digest.parse::<Digest>().unwrap(),
        );
        d.set_platform(Some(oci_platform(&Platform::parse(platform).unwrap())));
        if !annotations.is_empty() {
            d.set_annotations(Some(
                annotations
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ));
        }
        d
    }

    #[test]
    fn a_built_index_has_one_digest_however_maps_iterate() {
        let many: Vec<(String, String)> = (0..20)
            .map(|i| (format!("k{i}"), format!("v{i}")))
            .collect();
        let pairs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let entries = [
            entry('a', "linux/amd64", &pairs),
            entry('b', "linux/arm64", &[]),
        ];
        let first = build_index(&entries, None).unwrap();
        for _ in 0..10 {
            // Fresh hash maps, fresh iteration orders.
            let again = [
                entry('a', "linux/amd64", &pairs),
                entry('b', "linux/arm64", &[]),
            ];
            assert_eq!(build_index(&again, None).unwrap().digest(), first.digest());
        }
        let text = std::str::from_utf8(&first.bytes).unwrap();
        assert!(
            text.starts_with(r#"{"manifests":[{"annotations":{"k0":"v0","k1":"v1","k10""#),
            "{text}"
        );
        assert!(
            text.ends_with(
                r#""mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#
            ),
            "{text}"
        );
    }

    #[test]
    fn attestations_are_not_images_and_platforms_normalize() {
        let mut index = ImageIndex::default();
        index.set_manifests(vec![
            entry('a', "linux/arm64", &[]),
            entry(
                'c',
                "linux/amd64",
                &[("vnd.docker.reference.type", "attestation-manifest")],
            ),
        ]);
        assert_eq!(images(&index).count(), 1);
        let arm = Platform::parse("linux/arm64/v8").unwrap();
        assert!(for_platform(&index, &arm).is_some());
        assert_eq!(list_platforms(&index), "linux/arm64");
    }
}
