//! A build's `cache:`: a shorthand (`registry`, `inline`, `gha`, `local`,
//! `none`) that plan scopes per job and platform, or `{type, ref, mode}`.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::located::Located;

#[derive(Debug, Clone)]
pub struct CacheSpec {
    /// `registry`, `inline`, `gha`, `local` or `none`.
    pub kind: Located<String>,
    /// An explicit cache reference (registry) or folder (local).
    pub reference: Option<Located<String>>,
    /// `min` or `max` (what `--cache-to` exports).
    pub mode: Option<Located<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFields {
    #[serde(rename = "type")]
    kind: Located<String>,
    #[serde(rename = "ref")]
    reference: Option<Located<String>>,
    mode: Option<Located<String>>,
}

impl<'de> Deserialize<'de> for CacheSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CacheVisitor;

        impl<'de> Visitor<'de> for CacheVisitor {
            type Value = CacheSpec;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`registry`, `inline`, `gha`, `local`, `none`, or a map with `type`, `ref` and `mode`")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CacheSpec, E> {
                // The span is filled in from the enclosing `Located` by the resolver.
                Ok(CacheSpec {
                    kind: Located::new(v.to_owned(), super::source::Span::default()),
                    reference: None,
                    mode: None,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CacheSpec, A::Error> {
                let fields = CacheFields::deserialize(MapAccessDeserializer::new(map))?;
                Ok(CacheSpec {
                    kind: fields.kind,
                    reference: fields.reference,
                    mode: fields.mode,
                })
            }
        }

        deserializer.deserialize_any(CacheVisitor)
    }
}

impl JsonSchema for CacheSpec {
    fn schema_name() -> Cow<'static, str> {
        "Cache".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Build cache: a shorthand plan scopes per job and platform, or `{type, ref, mode}`.",
            "anyOf": [
                { "enum": ["registry", "inline", "gha", "local", "none"] },
                {
                    "type": "object",
                    "properties": {
                        "type": { "enum": ["registry", "inline", "gha", "local"] },
                        "ref": { "type": "string" },
                        "mode": { "enum": ["min", "max"] }
                    },
                    "required": ["type"],
                    "additionalProperties": false
                }
            ]
        })
    }
}
