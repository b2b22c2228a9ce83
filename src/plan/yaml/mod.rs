//! Plan files are read by our own serde deserializer over saphyr-parser's
//! event stream. It exists for speed and for spans: it deserializes straight
//! from the events (no document tree, no event log), hands [`Located`]
//! values their byte spans, and is what keeps `plan validate` on 5,000 builds
//! well under the 50 ms goal (serde-saphyr, used before, spent 80 ms of its
//! 108 ms in its own event layer; see the README's benchmarks).
//!
//! What it accepts: YAML 1.2 with the core schema (see [`scalar`]), anchors
//! and aliases (replayed, bounded), the `!!str` tag; one document per file;
//! a key once per mapping. Every error carries the byte span it is about.
//!
//! [`Located`]: super::located::Located

mod de;
mod events;
mod fast;
mod quote;
mod raw;
mod scalar;

use std::fmt;

use serde::de::DeserializeOwned;

use super::source::Span;

pub use events::{MAX_ALIASES, MAX_DEPTH, MAX_REPLAYED_EVENTS};
pub use quote::quoted;

/// Deserializes one YAML document.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    raw::with_events(text, |raw| {
        let mut events = events::Events::new(raw);
        let value = T::deserialize(&mut de::Deserializer::new(&mut events))?;
        events.finish()?;
        Ok(value)
    })
}

/// What is wrong, and where (when the place is known).
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub message: String,
    pub span: Option<Span>,
}

impl Error {
    pub fn new(message: impl Into<String>, span: Span) -> Self {
        Self {
            message: message.into(),
            span: Some(span),
        }
    }

    /// Places an error raised without a place (serde's `missing field`,
    /// `invalid type`) at the node it was raised for.
    #[must_use]
    pub fn at(mut self, span: Span) -> Self {
        self.span.get_or_insert(span);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl serde::de::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self {
            message: message.to_string(),
            span: None,
        }
    }
}

#[cfg(test)]
mod tests;
