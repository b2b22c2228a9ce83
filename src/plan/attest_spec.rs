//! A build's `attest:`: `{provenance: false|min|max, sbom: true|false}`.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{Deserializer, Visitor};

use super::located::Located;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestSpec {
    /// `false`, `min` or `max` (`--provenance`).
    pub provenance: Option<Located<Provenance>>,
    /// An SBOM attestation (`--sbom`).
    pub sbom: Option<Located<bool>>,
}

/// `provenance:` as buildx takes it: off, or a mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provenance {
    Off,
    Min,
    Max,
}

impl<'de> Deserialize<'de> for Provenance {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ProvenanceVisitor;

        impl Visitor<'_> for ProvenanceVisitor {
            type Value = Provenance;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`false`, `min` or `max`")
            }

            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Provenance, E> {
                if v {
                    // `true` means buildx's default mode.
                    Ok(Provenance::Min)
                } else {
                    Ok(Provenance::Off)
                }
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Provenance, E> {
                match v {
                    "min" => Ok(Provenance::Min),
                    "max" => Ok(Provenance::Max),
                    "false" => Ok(Provenance::Off),
                    other => Err(E::unknown_variant(other, &["false", "min", "max"])),
                }
            }
        }

        deserializer.deserialize_any(ProvenanceVisitor)
    }
}

impl JsonSchema for Provenance {
    fn schema_name() -> Cow<'static, str> {
        "Provenance".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`false` (none), `min` or `max` (`--provenance mode=…`); `true` is `min`.",
            "anyOf": [ { "type": "boolean" }, { "enum": ["min", "max"] } ]
        })
    }
}
