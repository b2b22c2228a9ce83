//! One mirror of an upstream registry: `host[:port]`, or `{host, insecure}`.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::located::Located;

#[derive(Debug, Clone)]
pub struct MirrorSpec {
    pub host: Located<String>,
    pub insecure: Option<Located<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MirrorFields {
    host: Located<String>,
    insecure: Option<Located<bool>>,
}

impl<'de> Deserialize<'de> for MirrorSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MirrorVisitor;

        impl<'de> Visitor<'de> for MirrorVisitor {
            type Value = MirrorSpec;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mirror host, or a map with `host` and `insecure`")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MirrorSpec, E> {
                // The span is filled in from the enclosing `Located` by the resolver.
                Ok(MirrorSpec {
                    host: Located::new(v.to_owned(), super::source::Span::default()),
                    insecure: None,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MirrorSpec, A::Error> {
                let fields = MirrorFields::deserialize(MapAccessDeserializer::new(map))?;
                Ok(MirrorSpec {
                    host: fields.host,
                    insecure: fields.insecure,
                })
            }
        }

        deserializer.deserialize_any(MirrorVisitor)
    }
}

impl JsonSchema for MirrorSpec {
    fn schema_name() -> Cow<'static, str> {
        "Mirror".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A mirror host (`host[:port]`), or a map with `host` and `insecure`.",
            "anyOf": [
                { "type": "string" },
                {
                    "type": "object",
                    "properties": {
                        "host": { "type": "string" },
                        "insecure": { "type": "boolean" }
                    },
                    "required": ["host"],
                    "additionalProperties": false
                }
            ]
        })
    }
}
