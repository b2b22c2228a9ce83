//! Telling whether a copy made through buildx is done. Its bytes are
//! buildx's, not plan's, so they cannot be computed beforehand:
//! - `via: builder` builds an image, which carries a record of the job and
//!   its sources' digests as a label (`--label dev.buildplan.sources=…`);
//!   done means the record equals the sources' digests now (one `HEAD`
//!   per source, one read per target);
//! - `via: imagetools` makes an index of the sources' images; done means
//!   the target index holds exactly the images (platform and digest) the
//!   sources give now (the sources are read as the native copy reads them).

use std::collections::BTreeMap;

use super::error::RegistryError;
use super::manifest::{Manifest, SOURCES_RECORD, images, plan_platform};
use super::registries::Registries;
use crate::plan::reference::ImageRef;

/// What a buildx-made copy records: the job that made it (so an image
/// another job made from the same sources is not taken for its own) and
/// each source reference with its digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub made_by: String,
    pub sources: BTreeMap<String, String>,
}

impl Record {
    /// Compact JSON with sorted keys: the same record is the same text.
    pub fn text(&self) -> String {
        // Strings and a map with string keys: serializing cannot fail, so
        // the empty default is never taken.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A record as stored; `None` for text that is not one (made outside
    /// plan, or by another version of it).
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

impl Registries {
    /// The record `made_by` (a job address) puts on a copy of `sources` as
    /// they are now: each source's digest by a `HEAD`, through its mirrors.
    pub async fn sources_record(
        &self,
        made_by: &str,
        sources: &[&ImageRef],
    ) -> Result<Record, RegistryError> {
        let mut record = Record {
            made_by: made_by.to_owned(),
            sources: BTreeMap::new(),
        };
        for source in sources {
            let digest = self
                .head(source)
                .await?
                .ok_or_else(|| RegistryError::fatal(format!("`{source}` not found")))?
                .digest;
            record.sources.insert(source.to_string(), digest);
        }
        Ok(record)
    }

    /// The record on the image at `target` (its first platform's label);
    /// `None` when there is none, or no image.
    pub async fn made_from(&self, target: &ImageRef) -> Result<Option<String>, RegistryError> {
        Ok(self
            .labels(target)
            .await?
            .and_then(|labels| labels.get(SOURCES_RECORD).cloned()))
    }
}

/// What an index holds, for comparing a copy made by `imagetools create`
/// (whose own bytes plan does not make, and which drops annotations on
/// Docker manifest lists) with what its sources give now: each platform's
/// image digest, sorted, as compact JSON. Attestations and other entries
/// without a platform are left out (imagetools keeps only what it is given).
pub fn children(manifest: &Manifest) -> Result<String, RegistryError> {
    let mut entries: Vec<(String, String)> = if manifest.is_index() {
        let index = manifest.index().map_err(RegistryError::fatal)?;
        images(&index)
            .map(|d| {
                let platform = d
                    .platform()
                    .as_ref()
                    .and_then(plan_platform)
                    .map(|p| p.to_string())
                    // An entry without a platform plan knows is kept as one
                    // (its digest still tells it apart).
                    .unwrap_or_default();
                (platform, d.digest().to_string())
            })
            .collect()
    } else {
        vec![(String::new(), manifest.digest())]
    };
    entries.sort();
    serde_json::to_string(&entries).map_err(|err| RegistryError::fatal(err.to_string()))
}

impl Registries {
    /// [`children`] of the image at `target`; `None` when there is none.
    pub async fn children_of(&self, target: &ImageRef) -> Result<Option<String>, RegistryError> {
        let located = self.open(target)?;
        match located.store.manifest(&located.reference).await? {
            Some(manifest) => children(&manifest).map(Some),
            None => Ok(None),
        }
    }
}
