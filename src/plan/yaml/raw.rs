//! The YAML parser's events (saphyr-parser), with byte spans. This is the
//! only file that knows the parser crate. (libyaml-safer parses a third
//! faster but panics on malformed input — `[!,` is enough — and a plan
//! file's typo must be a diagnostic; saphyr-parser survived two million
//! random YAML-ish inputs without one.)
//!
//! A small file is parsed on the calling thread; a large one on a thread of
//! its own, a few batches ahead of the deserializer (the two halves take
//! about as long as each other, so a large plan is read in little more than
//! the parser's time).

use std::borrow::Cow;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use saphyr_parser::{Event, Parser, ScalarStyle, Span as RawSpan, StrInput, Tag};

use super::Error;
use crate::plan::source::Span;

/// One parser event. Anchors are numbered from 1 in the order defined (a
/// name defined again is a new anchor); 0 is none. Tags are spelled out
/// (`!!str` is `tag:yaml.org,2002:str`, a lone `!` is `!`).
#[derive(Debug)]
pub enum Raw<'a> {
    DocumentStart,
    Alias(usize),
    Scalar {
        text: Cow<'a, str>,
        /// Neither quoted nor a block scalar (`|`, `>`).
        plain: bool,
        anchor: usize,
        tag: Option<Box<str>>,
    },
    SequenceStart {
        anchor: usize,
        tag: Option<Box<str>>,
        /// Its items, where the reader counted them; 0: not counted.
        items: usize,
    },
    SequenceEnd,
    MappingStart {
        anchor: usize,
        tag: Option<Box<str>>,
        /// Its entries, where the reader counted them; 0: not counted.
        items: usize,
    },
    MappingEnd,
}

/// Files at least this large are parsed on a thread of their own.
const PIPE_FROM_BYTES: usize = 64 * 1024;
/// Events sent to the deserializer at a time.
const BATCH: usize = 1024;
/// Batches the parser may be ahead.
const AHEAD: usize = 8;

pub type RawItem<'a> = Result<(Raw<'a>, Span), Error>;

/// Runs `read` over the events of `text`: from the fast path when it
/// takes the file (`fast.rs`), else from the parser. On a large file the
/// fast path runs on a thread of its own, a few batches ahead of `read`;
/// should it give up part way, what `read` made of it is thrown away and
/// `read` runs again on the parser's events (`read` is pure: it
/// deserializes).
pub fn with_events<'a, T>(text: &'a str, read: impl Fn(RawEvents<'a>) -> T) -> T {
    if text.len() < PIPE_FROM_BYTES {
        if let Ok(events) = super::fast::events(text) {
            return read(RawEvents::Ready(events.into_iter()));
        }
        return read(RawEvents::Inline(Box::new(Spanned::new(text))));
    }
    let fast = std::thread::scope(|scope| {
        let (full, receiver) = sync_channel(AHEAD);
        let (emptied, returned) = channel();
        let sink = super::fast::Sink {
            full,
            emptied: returned,
        };
        let scanner = std::thread::Builder::new()
            .name("yaml-fast".into())
            .spawn_scoped(scope, move || super::fast::stream(text, &sink, BATCH))
            .ok()?;
        let result = read(RawEvents::Speculative(Box::new(Batches {
            receiver,
            emptied,
            batch: Vec::new(),
            at: 0,
        })));
        let gave_up = scanner.join().unwrap_or(true);
        (!gave_up).then_some(result)
    });
    if let Some(result) = fast {
        return result;
    }
    std::thread::scope(|scope| {
        let (sender, receiver) = sync_channel(AHEAD);
        let parser = std::thread::Builder::new()
            .name("yaml-parser".into())
            .spawn_scoped(scope, move || pump(Spanned::new(text), &sender));
        match parser {
            Ok(_) => read(RawEvents::Piped {
                receiver,
                batch: Vec::new().into_iter(),
            }),
            // No thread to be had: read inline.
            Err(_) => read(RawEvents::Inline(Box::new(Spanned::new(text)))),
        }
    })
}

/// Parses until the end, an error, or the reader hanging up.
fn pump<'a>(mut events: Spanned<'a>, sender: &SyncSender<Vec<RawItem<'a>>>) {
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        let mut done = false;
        while batch.len() < BATCH {
            match events.next() {
                Some(item) => {
                    done = item.is_err();
                    batch.push(item);
                    if done {
                        break;
                    }
                }
                None => {
                    done = true;
                    break;
                }
            }
        }
        if sender.send(batch).is_err() || done {
            return;
        }
    }
}

pub enum RawEvents<'a> {
    /// Read by the fast path, all at once.
    Ready(std::vec::IntoIter<(Raw<'a>, Span)>),
    /// Read by the fast path on its own thread, batch by batch.
    Speculative(Box<Batches<'a>>),
    Inline(Box<Spanned<'a>>),
    Piped {
        receiver: Receiver<Vec<RawItem<'a>>>,
        batch: std::vec::IntoIter<RawItem<'a>>,
    },
}

impl<'a> Iterator for RawEvents<'a> {
    type Item = RawItem<'a>;

    fn next(&mut self) -> Option<RawItem<'a>> {
        match self {
            Self::Ready(events) => events.next().map(Ok),
            Self::Speculative(batches) => batches.next().map(Ok),
            Self::Inline(events) => events.next(),
            Self::Piped { receiver, batch } => loop {
                if let Some(item) = batch.next() {
                    return Some(item);
                }
                // A closed channel is the end: the parser sent all it had.
                *batch = receiver.recv().ok()?.into_iter();
            },
        }
    }
}

/// The fast path's batches as they arrive; each emptied batch goes back to
/// the scanner to be filled again.
pub struct Batches<'a> {
    receiver: Receiver<Vec<(Raw<'a>, Span)>>,
    emptied: Sender<Vec<(Raw<'a>, Span)>>,
    batch: Vec<(Raw<'a>, Span)>,
    /// The next event of `batch`; those before it were taken.
    at: usize,
}

impl<'a> Batches<'a> {
    fn next(&mut self) -> Option<(Raw<'a>, Span)> {
        loop {
            if let Some(slot) = self.batch.get_mut(self.at) {
                self.at += 1;
                return Some(std::mem::replace(slot, TAKEN));
            }
            // Closed: the scan ended (or gave up: `with_events` knows).
            let next = self.receiver.recv().ok()?;
            let mut done = std::mem::replace(&mut self.batch, next);
            self.at = 0;
            done.clear();
            // Refused only once the scanner has finished and dropped its
            // end: nothing is left to fill, and the buffer is freed here.
            let _ = self.emptied.send(done);
        }
    }
}

/// What a taken event's place in its batch holds (owns nothing).
const TAKEN: (Raw<'static>, Span) = (Raw::MappingEnd, Span { start: 0, len: 0 });

/// The parser's events with spans in bytes.
pub struct Spanned<'a> {
    text: &'a str,
    parser: Parser<'a, StrInput<'a>>,
    offsets: Offsets,
    failed: bool,
}

impl<'a> Spanned<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            text,
            parser: Parser::new_from_str(text),
            offsets: Offsets::new(text),
            failed: false,
        }
    }

    fn span(&self, raw: RawSpan) -> Span {
        let start = self.offsets.byte(raw.start.index());
        let end = self.offsets.byte(raw.end.index()).max(start);
        Span::new(start, end - start)
    }

    /// The character a syntax error is found at (the last one at the end
    /// of the file), so that the diagnostic points at something.
    fn character_at(&self, at: usize) -> Span {
        let text = self.text;
        if let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) {
            return Span::new(at, c.len_utf8());
        }
        text.char_indices()
            .next_back()
            .map_or(Span::new(text.len(), 0), |(i, c)| {
                Span::new(i, c.len_utf8())
            })
    }

    /// The parser's span of a quoted scalar runs on over the spaces and
    /// comment after it; it ends at the closing quote.
    fn quoted(&self, span: Span, style: ScalarStyle) -> Span {
        let quote = match style {
            ScalarStyle::SingleQuoted => b'\'',
            ScalarStyle::DoubleQuoted => b'"',
            _ => return span,
        };
        let bytes = &self.text.as_bytes()[span.start..span.end()];
        let mut i = 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if quote == b'"' => i += 2,
                b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
                byte if byte == quote => return Span::new(span.start, i + 1),
                _ => i += 1,
            }
        }
        span
    }

    fn error(&mut self, at: usize, info: &str) -> Error {
        self.failed = true;
        let message = if self.text.as_bytes().get(at) == Some(&b'\t') {
            "a tab where YAML wants spaces (indentation)".to_owned()
        } else {
            info.to_owned()
        };
        Error::new(message, self.character_at(at))
    }
}

/// A tag as written out in full.
fn spelled(tag: Option<Cow<'_, Tag>>) -> Option<Box<str>> {
    tag.map(|tag| {
        if tag.handle.is_empty() && tag.suffix == "!" {
            "!".into()
        } else {
            format!("{}{}", tag.handle, tag.suffix).into_boxed_str()
        }
    })
}

impl<'a> Iterator for Spanned<'a> {
    type Item = RawItem<'a>;

    fn next(&mut self) -> Option<RawItem<'a>> {
        while !self.failed {
            let (event, raw) = match self.parser.next_event()? {
                Ok(next) => next,
                Err(err) => {
                    let at = self.offsets.byte(err.marker().index());
                    return Some(Err(self.error(at, err.info())));
                }
            };
            let span = self.span(raw);
            let raw = match event {
                Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {
                    continue;
                }
                Event::DocumentStart(_) => Raw::DocumentStart,
                Event::Alias(anchor) => Raw::Alias(anchor),
                Event::Scalar(text, style, anchor, tag) => {
                    return Some(Ok((
                        Raw::Scalar {
                            text,
                            plain: style == ScalarStyle::Plain,
                            anchor,
                            tag: spelled(tag),
                        },
                        self.quoted(span, style),
                    )));
                }
                Event::SequenceStart(anchor, tag) => Raw::SequenceStart {
                    anchor,
                    tag: spelled(tag),
                    items: 0,
                },
                Event::SequenceEnd => Raw::SequenceEnd,
                Event::MappingStart(anchor, tag) => Raw::MappingStart {
                    anchor,
                    tag: spelled(tag),
                    items: 0,
                },
                Event::MappingEnd => Raw::MappingEnd,
            };
            return Some(Ok((raw, span)));
        }
        None
    }
}

/// The parser counts characters; spans are bytes. An ASCII file needs no
/// table.
struct Offsets {
    /// Byte offset of each character, and the text's length at the end;
    /// empty when the text is ASCII.
    table: Vec<usize>,
    len: usize,
}

impl Offsets {
    fn new(text: &str) -> Self {
        let table = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(text.len()))
                .collect()
        };
        Self {
            table,
            len: text.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.table.is_empty() {
            char_index.min(self.len)
        } else {
            self.table.get(char_index).copied().unwrap_or(self.len)
        }
    }
}
