//! A field that takes one string or a list of strings (`to:`, `tags:`).
//!
//! Written as a visitor rather than an untagged enum: serde buffers untagged
//! content and the spans of the list items would be lost.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};

use super::located::Located;

#[derive(Debug, Clone)]
pub enum StringList {
    /// A single string; its place is the place of the whole field.
    One(String),
    Many(Vec<Located<String>>),
}

impl Located<StringList> {
    /// Every item with its own place (a single string takes the field's).
    pub fn items(&self) -> Vec<Located<String>> {
        match &self.value {
            StringList::One(text) => vec![Located::new(text.clone(), self.span)],
            StringList::Many(items) => items.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;

        impl<'de> Visitor<'de> for ListVisitor {
            type Value = StringList;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StringList, E> {
                Ok(StringList::One(v.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StringList, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Located<String>>()? {
                    items.push(item);
                }
                Ok(StringList::Many(items))
            }
        }

        deserializer.deserialize_any(ListVisitor)
    }
}

impl JsonSchema for StringList {
    fn schema_name() -> Cow<'static, str> {
        "StringList".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A string, or a list of strings.",
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}
