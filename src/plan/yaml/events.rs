//! The YAML event stream the deserializer reads: saphyr-parser's events with
//! byte spans, aliases replayed, tags checked, and budgets enforced.
//!
//! Aliases are expanded here (the deserializer never sees one): an anchored
//! node's events are recorded while it is parsed and replayed where an alias
//! names it. Replays are bounded ([`MAX_ALIASES`], [`MAX_REPLAYED_EVENTS`])
//! so an alias bomb fails at once instead of eating memory.

use std::borrow::Cow;
use std::rc::Rc;

use super::Error;
use super::raw::{Raw, RawEvents};
use crate::plan::source::Span;

/// Most aliases a file may use.
pub const MAX_ALIASES: usize = 10_000;
/// Most events aliases may replay in total (an alias of a 1,000-event
/// mapping counts 1,000).
pub const MAX_REPLAYED_EVENTS: usize = 100_000;
/// Deepest nesting of mappings and sequences; the deserializer recurses once
/// per level, so this also bounds its stack.
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq)]
pub enum Kind<'a> {
    Scalar {
        text: Cow<'a, str>,
        /// Written without quotes and without a `!!str` tag: its type comes
        /// from its text (`1` is a number, `true` a boolean, `~` null).
        plain: bool,
    },
    /// `items`: how many items it holds, where the reader counted them
    /// (0: not counted): a capacity hint for the list it is read into.
    SequenceStart {
        items: usize,
    },
    SequenceEnd,
    /// `items`: as for a sequence, its entries.
    MappingStart {
        items: usize,
    },
    MappingEnd,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    pub kind: Kind<'a>,
    pub span: Span,
}

/// An anchored node being recorded, until its end.
struct Recording<'a> {
    anchor: usize,
    depth: usize,
    events: Vec<Event<'a>>,
}

/// An alias being replayed, or events the deserializer hands back (a
/// mapping with its merge keys resolved).
struct Replay<'a> {
    events: Rc<[Event<'a>]>,
    next: usize,
    /// False for handed-back events: they were recorded (for anchors) when
    /// first read.
    record: bool,
}

pub struct Events<'a> {
    raw: RawEvents<'a>,
    peeked: Option<Event<'a>>,
    anchors: Vec<Option<Rc<[Event<'a>]>>>,
    recordings: Vec<Recording<'a>>,
    replays: Vec<Replay<'a>>,
    aliases: usize,
    replayed: usize,
    depth: usize,
    documents: usize,
    /// The end of the last event with content (a scalar, a flow bracket):
    /// where a node that just ended stops. Block collections end where the
    /// next line starts, which would take in trailing blank lines.
    last_end: usize,
    finished: bool,
}

impl<'a> Events<'a> {
    pub fn new(raw: RawEvents<'a>) -> Self {
        Self {
            raw,
            peeked: None,
            anchors: Vec::new(),
            recordings: Vec::new(),
            replays: Vec::new(),
            aliases: 0,
            replayed: 0,
            depth: 0,
            documents: 0,
            last_end: 0,
            finished: false,
        }
    }

    /// The next event of the document's content; `None` after its end.
    pub fn peek(&mut self) -> Result<Option<&Event<'a>>, Error> {
        if self.peeked.is_none() {
            self.peeked = self.read()?;
        }
        Ok(self.peeked.as_ref())
    }

    pub fn next(&mut self) -> Result<Option<Event<'a>>, Error> {
        let event = match self.peeked.take() {
            Some(event) => Some(event),
            None => self.read()?,
        };
        if let Some(event) = event.as_ref().filter(|e| e.span.len > 0) {
            self.last_end = event.span.end();
        }
        Ok(event)
    }

    /// Where the last consumed node with content ended.
    pub const fn last_end(&self) -> usize {
        self.last_end
    }

    /// Checks that nothing but the end of the stream follows the document.
    pub fn finish(&mut self) -> Result<(), Error> {
        if let Some(event) = self.peek()? {
            let span = event.span;
            return Err(Error::new(
                "unexpected content after the end of the document",
                span,
            ));
        }
        Ok(())
    }

    fn read(&mut self) -> Result<Option<Event<'a>>, Error> {
        loop {
            if let Some((event, record)) = self.next_replayed() {
                self.track_depth(&event)?;
                if record {
                    self.record(&event);
                }
                return Ok(Some(event));
            }
            if self.finished {
                return Ok(None);
            }
            let Some(result) = self.raw.next() else {
                self.finished = true;
                return Ok(None);
            };
            let (raw, span) = result?;
            let (kind, anchor) = match raw {
                Raw::DocumentStart => {
                    self.documents += 1;
                    if self.documents > 1 {
                        return Err(Error::new(
                            "a plan file holds one YAML document; this is a second one (after `---`)",
                            span,
                        ));
                    }
                    continue;
                }
                Raw::Alias(anchor) => {
                    self.start_replay(anchor, span)?;
                    continue;
                }
                Raw::Scalar {
                    text,
                    plain,
                    anchor,
                    tag,
                } => {
                    let plain = plain && !scalar_tag_is_string(tag.as_deref(), span)?;
                    (Kind::Scalar { text, plain }, anchor)
                }
                Raw::SequenceStart { anchor, tag, items } => {
                    check_collection_tag(tag.as_deref(), "seq", span)?;
                    (Kind::SequenceStart { items }, anchor)
                }
                Raw::MappingStart { anchor, tag, items } => {
                    check_collection_tag(tag.as_deref(), "map", span)?;
                    (Kind::MappingStart { items }, anchor)
                }
                Raw::SequenceEnd => (Kind::SequenceEnd, 0),
                Raw::MappingEnd => (Kind::MappingEnd, 0),
            };
            let event = Event { kind, span };
            self.track_depth(&event)?;
            self.record(&event);
            if anchor != 0 {
                self.start_recording(anchor, &event);
            }
            return Ok(Some(event));
        }
    }

    fn track_depth(&mut self, event: &Event<'a>) -> Result<(), Error> {
        match event.kind {
            Kind::SequenceStart { .. } | Kind::MappingStart { .. } => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(Error::new(
                        format!("nesting is over the limit of {MAX_DEPTH} levels"),
                        event.span,
                    ));
                }
            }
            Kind::SequenceEnd | Kind::MappingEnd => self.depth = self.depth.saturating_sub(1),
            Kind::Scalar { .. } => {}
        }
        Ok(())
    }

    fn start_recording(&mut self, anchor: usize, event: &Event<'a>) {
        match event.kind {
            Kind::Scalar { .. } => self.store(anchor, vec![event.clone()]),
            _ => self.recordings.push(Recording {
                anchor,
                depth: 1,
                events: vec![event.clone()],
            }),
        }
    }

    /// Adds an event to every node being recorded and closes those it ends.
    fn record(&mut self, event: &Event<'a>) {
        if self.recordings.is_empty() {
            return;
        }
        let delta: isize = match event.kind {
            Kind::SequenceStart { .. } | Kind::MappingStart { .. } => 1,
            Kind::SequenceEnd | Kind::MappingEnd => -1,
            Kind::Scalar { .. } => 0,
        };
        for recording in &mut self.recordings {
            recording.events.push(event.clone());
            recording.depth = recording.depth.saturating_add_signed(delta);
        }
        // Only the innermost recordings can end on this event.
        while self.recordings.last().is_some_and(|r| r.depth == 0) {
            if let Some(done) = self.recordings.pop() {
                self.store(done.anchor, done.events);
            }
        }
    }

    fn store(&mut self, anchor: usize, events: Vec<Event<'a>>) {
        if self.anchors.len() <= anchor {
            self.anchors.resize(anchor + 1, None);
        }
        self.anchors[anchor] = Some(events.into());
    }

    fn start_replay(&mut self, anchor: usize, span: Span) -> Result<(), Error> {
        self.aliases += 1;
        if self.aliases > MAX_ALIASES {
            return Err(Error::new(
                format!("over the limit of {MAX_ALIASES} aliases in one file"),
                span,
            ));
        }
        let Some(events) = self.anchors.get(anchor).and_then(Clone::clone) else {
            return Err(Error::new(
                "this alias names the node it is inside of (a recursive alias)",
                span,
            ));
        };
        self.replayed += events.len();
        if self.replayed > MAX_REPLAYED_EVENTS {
            return Err(Error::new(
                format!(
                    "aliases expand to over {MAX_REPLAYED_EVENTS} YAML events (an alias bomb?)"
                ),
                span,
            ));
        }
        if self.replays.len() >= MAX_DEPTH {
            return Err(Error::new("aliases nest too deeply", span));
        }
        self.replays.push(Replay {
            events,
            next: 0,
            record: true,
        });
        Ok(())
    }

    /// Reads `events` next, before anything else: the rest of a mapping
    /// whose end was already read, ending with that end again.
    pub fn hand_back(&mut self, events: Vec<Event<'a>>) {
        debug_assert!(self.peeked.is_none(), "handed back behind a peeked event");
        // The mapping's end is read a second time: it is open again.
        self.depth += 1;
        self.replays.push(Replay {
            events: events.into(),
            next: 0,
            record: false,
        });
    }

    fn next_replayed(&mut self) -> Option<(Event<'a>, bool)> {
        while let Some(replay) = self.replays.last_mut() {
            if let Some(event) = replay.events.get(replay.next) {
                replay.next += 1;
                return Some((event.clone(), replay.record));
            }
            self.replays.pop();
        }
        None
    }
}

/// The core schema's tags, as the parser resolves `!!`.
const CORE: &str = "tag:yaml.org,2002:";

/// `!!str 1` is the string "1"; the other core tags (`!!int`, `!!bool`,
/// `!!null`, `!!float`) agree with what the text says anyway; a non-specific
/// `!` makes a string, as YAML says. Application tags mean nothing in a plan.
fn scalar_tag_is_string(tag: Option<&str>, span: Span) -> Result<bool, Error> {
    let Some(tag) = tag else { return Ok(false) };
    match tag.strip_prefix(CORE) {
        Some("str") => Ok(true),
        Some("int" | "bool" | "null" | "float") => Ok(false),
        _ if tag == "!" => Ok(true),
        _ => Err(unsupported_tag(tag, span)),
    }
}

fn check_collection_tag(tag: Option<&str>, core: &str, span: Span) -> Result<(), Error> {
    match tag {
        None | Some("!") => Ok(()),
        Some(tag) if tag.strip_prefix(CORE) == Some(core) => Ok(()),
        Some(tag) => Err(unsupported_tag(tag, span)),
    }
}

fn unsupported_tag(tag: &str, span: Span) -> Error {
    let shown = tag
        .strip_prefix(CORE)
        .map_or_else(|| tag.to_owned(), |suffix| format!("!!{suffix}"));
    Error::new(
        format!(
            "unsupported YAML tag `{shown}`: plan files use plain values (quote a value to make it a string)"
        ),
        span,
    )
}
