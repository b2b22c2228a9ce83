//! `Located<T>`: a value deserialized together with where it was written.
//!
//! Our YAML deserializer (`super::yaml`) recognises it by its struct name and
//! hands it the value, then the byte span the value was written in. It is
//! transparent to the JSON Schema, so the schema describes the YAML a user
//! writes, not our bookkeeping.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::source::Span;

#[derive(Clone, Debug)]
pub struct Located<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Located<T> {
    pub const fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

/// Equality and hashing look at the value only: two `Located` keys with the
/// same text are the same key, wherever they were written.
impl<T: PartialEq> PartialEq for Located<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Located<T> {}

impl<T: Hash> Hash for Located<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

/// The struct name by which the YAML deserializer knows a `Located`.
pub(crate) const LOCATED_NAME: &str = "$buildplan::Located";
/// The order the deserializer gives them in: the value first, so that the
/// span's end is known when it is asked for.
pub(crate) const LOCATED_FIELDS: &[&str] = &["$value", "$start", "$len"];

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LocatedVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for LocatedVisitor<T> {
            type Value = Located<T>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a value with its place in the file")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Located<T>, A::Error> {
                let missing = || serde::de::Error::custom("a located value without its place");
                map.next_key::<serde::de::IgnoredAny>()?
                    .ok_or_else(missing)?;
                let value: T = map.next_value()?;
                map.next_key::<serde::de::IgnoredAny>()?
                    .ok_or_else(missing)?;
                let start: usize = map.next_value()?;
                map.next_key::<serde::de::IgnoredAny>()?
                    .ok_or_else(missing)?;
                let len: usize = map.next_value()?;
                Ok(Located::new(value, Span::new(start, len)))
            }
        }

        deserializer.deserialize_struct(
            LOCATED_NAME,
            LOCATED_FIELDS,
            LocatedVisitor(std::marker::PhantomData),
        )
    }
}

impl<T: JsonSchema> JsonSchema for Located<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }
}
