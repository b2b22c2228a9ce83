//! The `builder:` field of a build: one builder, or a map platform -> builder.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::located::Located;

#[derive(Debug, Clone)]
pub enum BuilderChoice {
    /// Every platform on this builder.
    One(String),
    /// Each platform on its own builder; the build is split per platform.
    PerPlatform(crate::plan::model::Map<Located<String>, Located<String>>),
}

impl<'de> Deserialize<'de> for BuilderChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ChoiceVisitor;

        impl<'de> Visitor<'de> for ChoiceVisitor {
            type Value = BuilderChoice;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a builder name, or a map of platform to builder name")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BuilderChoice, E> {
                Ok(BuilderChoice::One(v.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BuilderChoice, A::Error> {
                let mut entries = crate::plan::model::Map::default();
                while let Some((key, value)) =
                    map.next_entry::<Located<String>, Located<String>>()?
                {
                    entries.insert(key, value);
                }
                Ok(BuilderChoice::PerPlatform(entries))
            }
        }

        deserializer.deserialize_any(ChoiceVisitor)
    }
}

impl JsonSchema for BuilderChoice {
    fn schema_name() -> Cow<'static, str> {
        "BuilderChoice".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A builder name, or a map of platform (`linux/arm64`) to builder name.",
            "anyOf": [
                { "type": "string" },
                { "type": "object", "additionalProperties": { "type": "string" } }
            ]
        })
    }
}
