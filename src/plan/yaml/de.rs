//! The serde `Deserializer` over [`Events`]: one event of lookahead, no
//! buffering. Scalars get their type from how they are read: a field that
//! wants text takes any scalar's text as written (`VERSION: 1.10` stays
//! "1.10"); a field that wants a number or a boolean takes an unquoted one.

use foldhash::HashSet;
use std::borrow::Cow;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};

use super::Error;
use super::events::{Event, Events, Kind};
use super::scalar::{self, Plain};
use crate::plan::located::{LOCATED_FIELDS, LOCATED_NAME};
use crate::plan::source::Span;

pub struct Deserializer<'e, 'a> {
    events: &'e mut Events<'a>,
    /// The keys of every mapping being read, outermost first: each
    /// mapping's own keys from where it started ([`Keys::from`]). One list
    /// for the whole file, so the many small mappings allocate nothing.
    open_keys: Vec<Cow<'a, str>>,
    /// The next mapping is a struct's (a plan section, a job): its `x-`
    /// keys are extensions, ignored.
    struct_next: bool,
}

impl<'e, 'a> Deserializer<'e, 'a> {
    pub fn new(events: &'e mut Events<'a>) -> Self {
        Self {
            events,
            open_keys: Vec::new(),
            struct_next: false,
        }
    }

    /// One whole node's events.
    fn take_node(&mut self) -> Result<Vec<Event<'a>>, Error> {
        let mut taken = Vec::new();
        self.walk_node(|event| taken.push(event))?;
        Ok(taken)
    }

    /// The entries of the mapping that starts next: each key's text and
    /// the events of the key and its value.
    fn take_entries(&mut self, at: Span) -> Result<Vec<MergeEntry<'a>>, Error> {
        match self.start()? {
            Event {
                kind: Kind::MappingStart { .. },
                ..
            } => {}
            event => {
                return Err(Error::new(
                    "`<<` merges a mapping (or a list of mappings) into this one",
                    if event.span.len > 0 { event.span } else { at },
                ));
            }
        }
        Ok(self.take_entries_to_end()?.0)
    }

    /// The entries of the mapping being read, up to its end; and that end.
    fn take_entries_to_end(&mut self) -> Result<(Vec<MergeEntry<'a>>, Event<'a>), Error> {
        let mut entries = Vec::new();
        loop {
            let key = self.start_or_end()?;
            let text = match &key.kind {
                Kind::MappingEnd => return Ok((entries, key)),
                Kind::Scalar { text, .. } => text.clone(),
                _ => {
                    return Err(Error::new(
                        "a key must be a single value, not a list or a mapping",
                        key.span,
                    ));
                }
            };
            let mut events = vec![key];
            events.extend(self.take_node()?);
            entries.push((text, events));
        }
    }

    /// The next node's first event; there must be one.
    fn start(&mut self) -> Result<Event<'a>, Error> {
        match self.events.next()? {
            Some(event) => match event.kind {
                Kind::SequenceEnd | Kind::MappingEnd => {
                    Err(Error::new("expected a value here", event.span))
                }
                _ => Ok(event),
            },
            None => Err(Error::new(
                "unexpected end of the file: a value is missing",
                Span::new(self.events.last_end(), 0),
            )),
        }
    }

    fn peek_span(&mut self) -> Result<Span, Error> {
        let end = Span::new(self.events.last_end(), 0);
        Ok(self.events.peek()?.map_or(end, |event| event.span))
    }

    fn peek_is_null(&mut self) -> Result<bool, Error> {
        Ok(matches!(
            self.events.peek()?,
            Some(Event { kind: Kind::Scalar { text, plain: true }, .. })
                if scalar::is_null(text)
        ))
    }

    fn sequence<'de, V: Visitor<'de>>(
        &mut self,
        visitor: V,
        span: Span,
        items: usize,
    ) -> Result<V::Value, Error> {
        let value = visitor
            .visit_seq(Items {
                de: self,
                left: items,
            })
            .map_err(|err| err.at(span))?;
        match self.events.next()? {
            Some(Event {
                kind: Kind::SequenceEnd,
                ..
            }) => Ok(value),
            Some(event) => Err(Error::new("more items than expected here", event.span)),
            None => Err(Error::new("unexpected end of the file", span)),
        }
    }

    fn mapping<'de, V: Visitor<'de>>(
        &mut self,
        visitor: V,
        span: Span,
        structured: bool,
        items: usize,
    ) -> Result<V::Value, Error> {
        let from = self.open_keys.len();
        let mut entries = Entries {
            de: self,
            left: items,
            keys: Keys { from, many: None },
            first_key: None,
            structured,
            merged: false,
        };
        let value = visitor.visit_map(&mut entries);
        let head = entries.first_key.unwrap_or(span);
        self.open_keys.truncate(from);
        let value = value.map_err(|err| err.at(head))?;
        match self.events.next()? {
            Some(Event {
                kind: Kind::MappingEnd,
                ..
            }) => Ok(value),
            Some(event) => Err(Error::new("unexpected key here", event.span)),
            None => Err(Error::new("unexpected end of the file", span)),
        }
    }

    /// Reads past one node without looking at it.
    fn skip(&mut self) -> Result<(), Error> {
        self.walk_node(|_| {})
    }

    /// Reads one whole node (a scalar, or a collection to its end), handing
    /// each event to `each`.
    fn walk_node(&mut self, mut each: impl FnMut(Event<'a>)) -> Result<(), Error> {
        let mut depth = 0usize;
        loop {
            let event = self.start_or_end()?;
            match event.kind {
                Kind::SequenceStart { .. } | Kind::MappingStart { .. } => depth += 1,
                Kind::SequenceEnd | Kind::MappingEnd => depth = depth.saturating_sub(1),
                Kind::Scalar { .. } => {}
            }
            each(event);
            if depth == 0 {
                return Ok(());
            }
        }
    }

    fn start_or_end(&mut self) -> Result<Event<'a>, Error> {
        self.events.next()?.ok_or_else(|| {
            Error::new(
                "unexpected end of the file",
                Span::new(self.events.last_end(), 0),
            )
        })
    }
}

/// What a scalar's text means to a visitor that takes any type.
fn visit_scalar<'de, V: Visitor<'de>>(
    text: &str,
    plain: bool,
    visitor: V,
) -> Result<V::Value, Error> {
    if !plain {
        return visitor.visit_str(text);
    }
    match scalar::resolve(text) {
        Plain::Null => visitor.visit_unit(),
        Plain::Bool(value) => visitor.visit_bool(value),
        Plain::Int(value) => visitor.visit_i64(value),
        Plain::UInt(value) => visitor.visit_u64(value),
        Plain::Float(value) => visitor.visit_f64(value),
        Plain::Str => visitor.visit_str(text),
    }
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'_, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let structured = std::mem::take(&mut self.struct_next);
        let event = self.start()?;
        let span = event.span;
        match event.kind {
            Kind::Scalar { text, plain } => {
                visit_scalar(&text, plain, visitor).map_err(|err| err.at(span))
            }
            Kind::SequenceStart { items } => self.sequence(visitor, span, items),
            Kind::MappingStart { items } => self.mapping(visitor, span, structured, items),
            Kind::SequenceEnd | Kind::MappingEnd => Err(Error::new("expected a value here", span)),
        }
    }

    /// Text fields take any scalar as written; only null is not text.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.peek_is_null()? {
            return self.deserialize_any(visitor);
        }
        let event = self.start()?;
        let span = event.span;
        match event.kind {
            Kind::Scalar { text, .. } => {
                visitor.visit_str(&text).map_err(|err: Error| err.at(span))
            }
            Kind::SequenceStart { items } => self.sequence(visitor, span, items),
            Kind::MappingStart { items } => self.mapping(visitor, span, false, items),
            Kind::SequenceEnd | Kind::MappingEnd => Err(Error::new("expected a value here", span)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.peek_is_null()? {
            self.start()?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == LOCATED_NAME && fields == LOCATED_FIELDS {
            let start = self.peek_span()?.start;
            return visitor.visit_map(Location {
                de: self,
                start,
                step: 0,
            });
        }
        self.struct_next = true;
        self.deserialize_any(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let span = self.peek_span()?;
        let is_scalar = matches!(
            self.events.peek()?,
            Some(Event {
                kind: Kind::Scalar { .. },
                ..
            })
        );
        if !is_scalar {
            // Let the visitor say what it expected.
            self.skip()?;
            let err: Error = de::Error::invalid_type(Unexpected::Map, &visitor);
            return Err(err.at(span));
        }
        let Kind::Scalar { text, .. } = self.start()?.kind else {
            return Err(Error::new("expected a name here", span));
        };
        visitor
            .visit_enum(UnitVariant { name: text })
            .map_err(|err| err.at(span))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.skip()?;
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf
        unit unit_struct seq tuple tuple_struct map
    }
}

/// The items of a sequence.
struct Items<'d, 'e, 'a> {
    de: &'d mut Deserializer<'e, 'a>,
    /// Items still to come, as counted by the reader (0: not counted).
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Items<'_, '_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.de.events.peek()? {
            Some(Event {
                kind: Kind::SequenceEnd,
                ..
            })
            | None => Ok(None),
            Some(_) => {
                self.left = self.left.saturating_sub(1);
                seed.deserialize(&mut *self.de).map(Some)
            }
        }
    }

    /// Lists are made the size they will be (without it they start at
    /// four places and double: most of the memory a plan's lists take).
    fn size_hint(&self) -> Option<usize> {
        (self.left > 0).then_some(self.left)
    }
}

/// The entries of a mapping; each key once.
struct Entries<'d, 'e, 'a> {
    de: &'d mut Deserializer<'e, 'a>,
    /// Entries still to come, as counted by the reader (0: not counted;
    /// merged entries are not counted).
    left: usize,
    keys: Keys<'a>,
    /// Where an error about the whole mapping (a missing field) is shown.
    first_key: Option<Span>,
    /// A struct's mapping: `x-` keys are skipped.
    structured: bool,
    /// Its `<<` was merged. A second one is a repeated key, as YAML says;
    /// it would also read the rest of the mapping again, and again.
    merged: bool,
}

/// A key's text, and the events of the key and its value.
type MergeEntry<'a> = (Cow<'a, str>, Vec<Event<'a>>);

impl<'a> Entries<'_, '_, 'a> {
    /// `<<: *defaults` (or a list of mappings): their entries join this
    /// mapping where it has no entry of that key (keys written in the
    /// mapping win, wherever they are; among merged mappings the earlier
    /// wins), as YAML's merge key says. The rest of the mapping is read
    /// now, and everything is handed back to be read in order.
    fn merge(&mut self, at: Span) -> Result<(), Error> {
        let mut sources = Vec::new();
        let is_list = matches!(
            self.de.events.peek()?,
            Some(Event {
                kind: Kind::SequenceStart { .. },
                ..
            })
        );
        if is_list {
            self.de.start()?;
            while !matches!(
                self.de.events.peek()?,
                Some(Event {
                    kind: Kind::SequenceEnd,
                    ..
                }) | None
            ) {
                sources.push(self.de.take_entries(at)?);
            }
            self.de.start_or_end()?;
        } else {
            sources.push(self.de.take_entries(at)?);
        }
        let (rest, end) = self.de.take_entries_to_end()?;
        // Keys already given: written before `<<`, written after it, or
        // merged from an earlier mapping. A set: mappings can be large.
        let mut given: HashSet<Cow<'a, str>> = rest.iter().map(|(k, _)| k.clone()).collect();
        let mut events: Vec<Event<'a>> = rest.into_iter().flat_map(|(_, e)| e).collect();
        for source in sources {
            for (key, entry) in source {
                if !self.keys.contains(&self.de.open_keys, &key) && given.insert(key) {
                    events.extend(entry);
                }
            }
        }
        events.push(end);
        self.de.events.hand_back(events);
        Ok(())
    }
}

impl<'de> de::MapAccess<'de> for Entries<'_, '_, '_> {
    type Error = Error;

    /// As for lists: maps are made the size they will be.
    fn size_hint(&self) -> Option<usize> {
        (self.left > 0).then_some(self.left)
    }

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let (text, span) = loop {
            let (text, span, plain) = match self.de.events.peek()? {
                Some(Event {
                    kind: Kind::MappingEnd,
                    ..
                })
                | None => return Ok(None),
                Some(Event {
                    kind: Kind::Scalar { text, plain },
                    span,
                }) => (text.clone(), *span, *plain),
                Some(event) => {
                    return Err(Error::new(
                        "a key must be a single value, not a list or a mapping",
                        event.span,
                    ));
                }
            };
            if plain && text == "<<" {
                if self.merged {
                    return Err(Error::new(
                        "duplicate key `<<` in this mapping: merge several mappings with one `<<: [*a, *b]`",
                        span,
                    ));
                }
                self.merged = true;
                self.de.start()?;
                self.merge(span)?;
            } else if self.structured && text.starts_with("x-") {
                // An extension (a home for anchors), as in compose files.
                self.de.start()?;
                self.de.skip()?;
            } else {
                break (text, span);
            }
        };
        self.first_key.get_or_insert(span);
        if !self.keys.insert(&mut self.de.open_keys, text.clone()) {
            return Err(Error::new(
                format!("duplicate key `{text}` in this mapping"),
                span,
            ));
        }
        self.left = self.left.saturating_sub(1);
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(&mut *self.de)
    }
}

/// The keys seen in one mapping: the end of the deserializer's list of open
/// mappings' keys while it is small, a set once it is large (the jobs of a
/// 5,000-build plan).
struct Keys<'a> {
    /// Where this mapping's keys start in the open keys.
    from: usize,
    many: Option<HashSet<Cow<'a, str>>>,
}

impl<'a> Keys<'a> {
    const FEW: usize = 16;

    fn contains(&self, open: &[Cow<'a, str>], key: &str) -> bool {
        match &self.many {
            Some(keys) => keys.contains(key),
            None => open[self.from..].iter().any(|k| k == key),
        }
    }

    /// False when the key was there already.
    fn insert(&mut self, open: &mut Vec<Cow<'a, str>>, key: Cow<'a, str>) -> bool {
        if let Some(keys) = &mut self.many {
            return keys.insert(key);
        }
        if self.contains(open, &key) {
            return false;
        }
        if open.len() - self.from < Self::FEW {
            open.push(key);
        } else {
            let mut set: HashSet<Cow<'a, str>> = open.drain(self.from..).collect();
            set.insert(key);
            self.many = Some(set);
        }
        true
    }
}

/// Feeds a [`Located`](crate::plan::located::Located) its value, then the
/// byte span the value was written in.
struct Location<'d, 'e, 'a> {
    de: &'d mut Deserializer<'e, 'a>,
    start: usize,
    step: usize,
}

impl<'de> de::MapAccess<'de> for Location<'_, '_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(field) = LOCATED_FIELDS.get(self.step) else {
            return Ok(None);
        };
        seed.deserialize(field.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        self.step += 1;
        match self.step {
            1 => seed.deserialize(&mut *self.de),
            2 => seed.deserialize(self.start.into_deserializer()),
            _ => {
                let end = self.de.events.last_end().max(self.start);
                seed.deserialize((end - self.start).into_deserializer())
            }
        }
    }
}

/// An enum written as its variant's name.
struct UnitVariant<'a> {
    name: Cow<'a, str>,
}

impl<'de> de::EnumAccess<'de> for UnitVariant<'_> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let value = seed.deserialize(self.name.as_ref().into_deserializer())?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for UnitVariant<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _seed: T) -> Result<T::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"a mapping",
        ))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(Unexpected::UnitVariant, &visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(Unexpected::UnitVariant, &visitor))
    }
}
