//! One entry of a build's `ssh:`: `default` (the agent in `SSH_AUTH_SOCK`),
//! or `{id, paths}` (named keys or sockets), as buildx's `--ssh` takes them.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::located::Located;

#[derive(Debug, Clone)]
pub struct SshSpec {
    /// `default`, or the id a `RUN --mount=type=ssh,id=…` names.
    pub id: Located<String>,
    /// Keys or agent sockets; none: the agent in `SSH_AUTH_SOCK`.
    pub paths: Vec<Located<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SshFields {
    id: Located<String>,
    #[serde(default)]
    paths: Vec<Located<String>>,
}

impl<'de> Deserialize<'de> for SshSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SshVisitor;

        impl<'de> Visitor<'de> for SshVisitor {
            type Value = SshSpec;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`default`, or a map with `id` and `paths`")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SshSpec, E> {
                // The span is filled in from the enclosing `Located` by the resolver.
                Ok(SshSpec {
                    id: Located::new(v.to_owned(), super::source::Span::default()),
                    paths: Vec::new(),
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SshSpec, A::Error> {
                let fields = SshFields::deserialize(MapAccessDeserializer::new(map))?;
                Ok(SshSpec {
                    id: fields.id,
                    paths: fields.paths,
                })
            }
        }

        deserializer.deserialize_any(SshVisitor)
    }
}

impl JsonSchema for SshSpec {
    fn schema_name() -> Cow<'static, str> {
        "Ssh".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`default` (the agent in SSH_AUTH_SOCK), or a map with `id` and `paths` (keys or agent sockets), as `buildx build --ssh` takes them.",
            "anyOf": [
                { "type": "string" },
                {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string" },
                        "paths": { "type": "array", "items": { "type": "string" } }
                    },
                    "required": ["id"],
                    "additionalProperties": false
                }
            ]
        })
    }
}
