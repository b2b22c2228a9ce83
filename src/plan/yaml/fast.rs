//! A fast path for the YAML plans are written in: block mappings and
//! sequences indented with spaces, one-line plain and quoted scalars,
//! one-line flow collections, comments. It produces exactly the events
//! (and spans) the parser would — a test holds it to that on every plan,
//! fixture and generated file — and for anything else (anchors, tags,
//! block scalars, multi-line scalars or flows, tabs, document markers,
//! syntax errors) it gives up and the parser reads the file (`raw.rs`).
//!
//! It exists for speed: the parser spends about 2,000 instructions per
//! event, the bulk of validating a 5,000-build plan; this spends a tenth.

use std::borrow::Cow;
use std::sync::mpsc::{Receiver, SyncSender};

use super::raw::Raw;
use crate::plan::source::Span;

/// Why the fast path gave up (the parser reads the file).
pub struct GiveUp;

type Events<'a> = Vec<(Raw<'a>, Span)>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Map(usize),
    Seq(usize),
    /// A sequence whose dashes sit at its key's indentation.
    IndentlessSeq(usize),
}

impl Block {
    fn indent(self) -> usize {
        match self {
            Self::Map(i) | Self::Seq(i) | Self::IndentlessSeq(i) => i,
        }
    }
}

/// A block collection being read: its kind, the event that opened it
/// (its index in the batch; `None` once the batch was sent) and the items
/// seen so far, written into that event when it closes.
#[derive(Clone, Copy)]
struct Open {
    block: Block,
    opened: Option<usize>,
    items: usize,
}

/// Every event of `text`, or `GiveUp`.
pub fn events(text: &str) -> Result<Events<'_>, GiveUp> {
    let mut scanner = Scanner::new(text, None);
    scanner.run()?;
    Ok(scanner.out)
}

/// The events of `text` sent in batches of `batch` as they are found (a
/// large file, read on a thread of its own). Returns whether it gave up:
/// then what was sent is to be thrown away. A reader that hangs up early
/// does not stop it: the whole text is scanned, so that a give-up after
/// the reader stopped is still known.
pub fn stream<'a>(text: &'a str, sink: &Sink<'a>, batch: usize) -> bool {
    let mut scanner = Scanner::new(text, Some((sink, batch)));
    let gave_up = scanner.run().is_err();
    if !gave_up {
        scanner.flush(true);
    }
    gave_up
}

/// Where a large file's batches go, and where the reader gives their
/// buffers back: a batch's memory is used again rather than fresh memory
/// taken for each (on this kind of VM a fresh page costs more than the
/// events written into it).
pub struct Sink<'a> {
    pub full: SyncSender<Events<'a>>,
    pub emptied: Receiver<Events<'a>>,
}

struct Scanner<'a, 's> {
    /// Where batches go, and their size (a large file); `None`: kept in `out`.
    sink: Option<(&'s Sink<'a>, usize)>,
    /// The reader stopped listening: events are dropped from here on.
    hung_up: bool,
    text: &'a str,
    bytes: &'a [u8],
    out: Events<'a>,
    stack: Vec<Open>,
    /// A key whose value is on the next lines: its indentation.
    pending: Option<usize>,
    /// The last line ended with a scalar value owned by this indentation:
    /// a deeper line after it would continue the scalar (given up on).
    scalar_owner: Option<usize>,
}

fn empty(at: usize) -> Span {
    Span::new(at, 0)
}

fn is_space(b: u8) -> bool {
    b == b' '
}

impl<'a, 's> Scanner<'a, 's> {
    fn new(text: &'a str, sink: Option<(&'s Sink<'a>, usize)>) -> Self {
        Self {
            sink,
            hung_up: false,
            text,
            bytes: text.as_bytes(),
            out: Vec::with_capacity(sink.map_or(text.len() / 8, |(_, batch)| batch)),
            stack: Vec::new(),
            pending: None,
            scalar_owner: None,
        }
    }

    /// Sends what was found when a batch is full (or `all`).
    fn flush(&mut self, all: bool) {
        let Some((sink, batch)) = self.sink else {
            return;
        };
        if self.out.len() < batch && !all {
            return;
        }
        // The open collections' start events leave this batch.
        for open in &mut self.stack {
            open.opened = None;
        }
        if self.hung_up {
            self.out.clear();
            return;
        }
        let next = sink
            .emptied
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(batch));
        let full = std::mem::replace(&mut self.out, next);
        if sink.full.send(full).is_err() {
            self.hung_up = true;
        }
    }

    fn run(&mut self) -> Result<(), GiveUp> {
        // Tabs and carriage returns have rules of their own: the parser's.
        if self.bytes.contains(&b'\t') || self.bytes.contains(&b'\r') {
            return Err(GiveUp);
        }
        let mut line_start = 0;
        let mut first = true;
        while line_start < self.bytes.len() {
            let line_end = self.text[line_start..]
                .find('\n')
                .map_or(self.bytes.len(), |i| line_start + i);
            let line = &self.bytes[line_start..line_end];
            let indent = line.iter().take_while(|b| is_space(**b)).count();
            let content = line_start + indent;
            let rest = &line[indent..];
            let blank = rest.is_empty() || rest[0] == b'#';
            if !blank {
                if first {
                    if rest.starts_with(b"---") || rest.starts_with(b"...") || rest[0] == b'%' {
                        return Err(GiveUp);
                    }
                    self.out.push((Raw::DocumentStart, empty(content)));
                    first = false;
                }
                self.line(indent, content, line_end)?;
                self.flush(false);
            }
            line_start = line_end + 1;
        }
        if first {
            return Err(GiveUp);
        }
        if self.pending.is_some() {
            return Err(GiveUp);
        }
        let end = self.bytes.len();
        while let Some(open) = self.stack.pop() {
            self.close(open, end);
        }
        Ok(())
    }

    /// Opens a block collection with its start event at `at`.
    fn open(&mut self, block: Block, at: usize) {
        let start = match block {
            Block::Map(_) => Raw::MappingStart {
                anchor: 0,
                tag: None,
                items: 0,
            },
            Block::Seq(_) | Block::IndentlessSeq(_) => Raw::SequenceStart {
                anchor: 0,
                tag: None,
                items: 0,
            },
        };
        self.stack.push(Open {
            block,
            opened: Some(self.out.len()),
            items: 0,
        });
        self.out.push((start, empty(at)));
    }

    /// One more item in the innermost open block collection.
    fn counted_one(&mut self) {
        if let Some(open) = self.stack.last_mut() {
            open.items += 1;
        }
    }

    fn close(&mut self, open: Open, at: usize) {
        if let Some(opened) = open.opened {
            self.count(opened, open.items);
        }
        let event = match open.block {
            Block::Map(_) => Raw::MappingEnd,
            Block::Seq(_) | Block::IndentlessSeq(_) => Raw::SequenceEnd,
        };
        self.out.push((event, empty(at)));
    }

    /// One line with content at `indent` (byte `at`), ending at `end`.
    fn line(&mut self, indent: usize, at: usize, end: usize) -> Result<(), GiveUp> {
        if let Some(owner) = self.scalar_owner.take()
            && indent > owner
        {
            // A continuation of a multi-line plain scalar.
            return Err(GiveUp);
        }
        let dash = self.bytes[at] == b'-' && (at + 1 == end || is_space(self.bytes[at + 1]));
        if let Some(key_indent) = self.pending.take() {
            if indent > key_indent {
                // The value is a block nested deeper.
                if dash {
                    self.open(Block::Seq(indent), at);
                    return self.seq_entry(indent, at, end);
                }
                self.open(Block::Map(indent), at);
                return self.map_entry(indent, at, end);
            }
            if indent == key_indent && dash {
                // `key:` then `- item` at the key's own indentation.
                let item = self.after_dash(at, end)?;
                self.open(Block::IndentlessSeq(indent), item);
                return self.seq_item(indent, item, end);
            }
            // `key:` with nothing: a null the plan format has no use for.
            return Err(GiveUp);
        }
        // Close what this line is outside of.
        while let Some(&Open { block: top, .. }) = self.stack.last() {
            let outside = top.indent() > indent
                || (matches!(top, Block::IndentlessSeq(i) if i == indent) && !dash)
                || (matches!(top, Block::Seq(i) if i == indent) && !dash);
            if !outside {
                break;
            }
            if let Some(open) = self.stack.pop() {
                self.close(open, at);
            }
        }
        match self.stack.last().map(|open| open.block) {
            None => {
                if dash || indent != 0 {
                    return Err(GiveUp);
                }
                self.open(Block::Map(0), at);
                self.map_entry(indent, at, end)
            }
            Some(Block::Map(i)) if i == indent && !dash => self.map_entry(indent, at, end),
            Some(Block::Seq(i) | Block::IndentlessSeq(i)) if i == indent && dash => {
                self.seq_entry(indent, at, end)
            }
            _ => Err(GiveUp),
        }
    }

    /// Where the item after `- ` starts (spaces skipped); give up on a
    /// dash with nothing after it on its line.
    fn after_dash(&self, at: usize, end: usize) -> Result<usize, GiveUp> {
        let mut i = at + 1;
        while i < end && is_space(self.bytes[i]) {
            i += 1;
        }
        if i == end || self.bytes[i] == b'#' {
            return Err(GiveUp);
        }
        Ok(i)
    }

    /// `- item` at `indent` (the dash at `at`).
    fn seq_entry(&mut self, indent: usize, at: usize, end: usize) -> Result<(), GiveUp> {
        let item = self.after_dash(at, end)?;
        self.seq_item(indent, item, end)
    }

    /// What follows a dash: a scalar, a flow, or a mapping's first key.
    fn seq_item(&mut self, dash_indent: usize, item: usize, end: usize) -> Result<(), GiveUp> {
        self.counted_one();
        let b = self.bytes[item];
        if b == b'-' && (item + 1 == end || is_space(self.bytes[item + 1])) {
            return Err(GiveUp);
        }
        if self.key_end(item, end).is_some() {
            // `- key: value`: a mapping whose keys sit at the item's column.
            let column = item - self.line_start(item);
            self.open(Block::Map(column), item);
            return self.map_entry(column, item, end);
        }
        self.value(item, end)?;
        self.scalar_owner = Some(dash_indent);
        Ok(())
    }

    fn line_start(&self, at: usize) -> usize {
        self.bytes[..at]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1)
    }

    /// If a key starts at `at`: where its `:` is.
    fn key_end(&self, at: usize, end: usize) -> Option<usize> {
        match self.bytes[at] {
            b'"' | b'\'' => {
                let close = self.quoted_end(at, end)?;
                let mut i = close;
                while i < end && is_space(self.bytes[i]) {
                    i += 1;
                }
                (i < end && self.bytes[i] == b':' && (i + 1 == end || is_space(self.bytes[i + 1])))
                    .then_some(i)
            }
            b'[' | b'{' => None,
            _ => {
                let mut i = at;
                while i < end {
                    match self.bytes[i] {
                        b':' if i + 1 == end || is_space(self.bytes[i + 1]) => return Some(i),
                        b'#' if i > at && is_space(self.bytes[i - 1]) => return None,
                        _ => i += 1,
                    }
                }
                None
            }
        }
    }

    /// `key: value` (or `key:` and the value below) at `at`.
    fn map_entry(&mut self, indent: usize, at: usize, end: usize) -> Result<(), GiveUp> {
        self.counted_one();
        let colon = self.key_end(at, end).ok_or(GiveUp)?;
        // The key: a quoted scalar, or plain text up to the colon.
        match self.bytes[at] {
            b'"' | b'\'' => {
                let close = self.quoted_end(at, end).ok_or(GiveUp)?;
                self.quoted(at, close)?;
            }
            _ => {
                let mut key_end = colon;
                while key_end > at && is_space(self.bytes[key_end - 1]) {
                    key_end -= 1;
                }
                self.plain(at, key_end, false)?;
            }
        }
        let mut v = colon + 1;
        while v < end && is_space(self.bytes[v]) {
            v += 1;
        }
        if v == end || self.bytes[v] == b'#' {
            self.pending = Some(indent);
            return Ok(());
        }
        self.value(v, end)?;
        self.scalar_owner = Some(indent);
        Ok(())
    }

    /// A value in block context that fits on its line: a quoted scalar, a
    /// flow collection, or a plain scalar; only a comment may follow.
    fn value(&mut self, at: usize, end: usize) -> Result<(), GiveUp> {
        let after = match self.bytes[at] {
            b'"' | b'\'' => {
                let close = self.quoted_end(at, end).ok_or(GiveUp)?;
                self.quoted(at, close)?;
                close
            }
            b'[' | b'{' => self.flow(at, end)?,
            _ => {
                let mut stop = end;
                let mut i = at;
                while i < end {
                    if self.bytes[i] == b'#' && i > at && is_space(self.bytes[i - 1]) {
                        stop = i;
                        break;
                    }
                    i += 1;
                }
                while stop > at && is_space(self.bytes[stop - 1]) {
                    stop -= 1;
                }
                let text = &self.bytes[at..stop];
                if text.ends_with(b":") || text.windows(2).any(|w| w == b": ") {
                    return Err(GiveUp);
                }
                self.plain(at, stop, false)?;
                stop
            }
        };
        self.only_comment(after, end)
    }

    /// Nothing but spaces and a comment from `at` to `end`.
    fn only_comment(&self, at: usize, end: usize) -> Result<(), GiveUp> {
        let mut i = at;
        while i < end && is_space(self.bytes[i]) {
            i += 1;
        }
        if i == end || (self.bytes[i] == b'#' && i > at) {
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    /// A plain scalar `[at, stop)`; `flow` for one inside `[…]`/`{…}`.
    fn plain(&mut self, at: usize, stop: usize, flow: bool) -> Result<(), GiveUp> {
        if stop <= at {
            return Err(GiveUp);
        }
        let first = self.bytes[at];
        let next_is_space = self
            .bytes
            .get(at + 1)
            .is_none_or(|b| is_space(*b) || at + 1 == stop);
        let indicator = matches!(
            first,
            b',' | b'['
                | b']'
                | b'{'
                | b'}'
                | b'#'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'\''
                | b'"'
                | b'%'
                | b'@'
                | b'`'
        ) || (matches!(first, b'-' | b'?' | b':') && next_is_space);
        if indicator {
            return Err(GiveUp);
        }
        let text = &self.text[at..stop];
        if flow && text.contains(['[', ']', '{', '}', ',']) {
            return Err(GiveUp);
        }
        self.out.push((
            Raw::Scalar {
                text: Cow::Borrowed(text),
                plain: true,
                anchor: 0,
                tag: None,
            },
            Span::new(at, stop - at),
        ));
        Ok(())
    }

    /// Where the quoted scalar starting at `at` ends (after its closing
    /// quote), on this line.
    fn quoted_end(&self, at: usize, end: usize) -> Option<usize> {
        let quote = self.bytes[at];
        let mut i = at + 1;
        while i < end {
            match self.bytes[i] {
                b'\\' if quote == b'"' => i += 2,
                b'\'' if quote == b'\'' && self.bytes.get(i + 1) == Some(&b'\'') && i + 1 < end => {
                    i += 2;
                }
                b if b == quote => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    }

    /// The quoted scalar `[at, close)`, unescaped.
    fn quoted(&mut self, at: usize, close: usize) -> Result<(), GiveUp> {
        let inner = &self.text[at + 1..close - 1];
        let text = if self.bytes[at] == b'\'' {
            if inner.contains('\'') {
                Cow::Owned(inner.replace("''", "'"))
            } else {
                Cow::Borrowed(inner)
            }
        } else if inner.contains('\\') {
            Cow::Owned(unescape(inner)?)
        } else {
            Cow::Borrowed(inner)
        };
        self.out.push((
            Raw::Scalar {
                text,
                plain: false,
                anchor: 0,
                tag: None,
            },
            Span::new(at, close - at),
        ));
        Ok(())
    }

    /// The next non-space position from `at` (at most `end`).
    fn skip_spaces(&self, mut at: usize, end: usize) -> usize {
        while at < end && is_space(self.bytes[at]) {
            at += 1;
        }
        at
    }

    /// A flow collection starting at `at` and closing on this line;
    /// returns where it ends.
    fn flow(&mut self, at: usize, end: usize) -> Result<usize, GiveUp> {
        let mapping = self.bytes[at] == b'{';
        let close = if mapping { b'}' } else { b']' };
        let mut i = self.skip_spaces(at + 1, end);
        let start = if mapping {
            Raw::MappingStart {
                anchor: 0,
                tag: None,
                items: 0,
            }
        } else {
            Raw::SequenceStart {
                anchor: 0,
                tag: None,
                items: 0,
            }
        };
        // The opening bracket's span runs to the next token, as the parser's does.
        let opened = self.out.len();
        self.out.push((start, Span::new(at, i - at)));
        if i < end && self.bytes[i] == close {
            return Ok(self.flow_end(mapping, i, end));
        }
        let mut items = 0;
        loop {
            if i >= end {
                return Err(GiveUp);
            }
            if mapping {
                i = self.flow_item(i, end, true)?;
                i = self.skip_spaces(i, end);
                if i + 1 >= end || self.bytes[i] != b':' || !is_space(self.bytes[i + 1]) {
                    return Err(GiveUp);
                }
                i = self.skip_spaces(i + 1, end);
            }
            i = self.flow_item(i, end, false)?;
            items += 1;
            i = self.skip_spaces(i, end);
            if i >= end {
                return Err(GiveUp);
            }
            match self.bytes[i] {
                b',' => {
                    i = self.skip_spaces(i + 1, end);
                    if i < end && (self.bytes[i] == close || self.bytes[i] == b',') {
                        // A trailing or doubled comma.
                        return Err(GiveUp);
                    }
                }
                b if b == close => {
                    self.count(opened, items);
                    return Ok(self.flow_end(mapping, i, end));
                }
                _ => return Err(GiveUp),
            }
        }
    }

    /// Writes how many items the collection opened by event `opened` holds
    /// into that event. (A flow collection ends on the line it starts on,
    /// and batches are sent between lines: the event is still here.)
    fn count(&mut self, opened: usize, counted: usize) {
        if let Some((Raw::SequenceStart { items, .. } | Raw::MappingStart { items, .. }, _)) =
            self.out.get_mut(opened)
        {
            *items = counted;
        }
    }

    /// The closing bracket at `at`: its span runs over the spaces and a
    /// comment after it, to the line's end, as the parser's does.
    fn flow_end(&mut self, mapping: bool, at: usize, end: usize) -> usize {
        let ending = if mapping {
            Raw::MappingEnd
        } else {
            Raw::SequenceEnd
        };
        let mut stop = self.skip_spaces(at + 1, end);
        if stop < end && self.bytes[stop] == b'#' {
            stop = end;
        }
        self.out.push((ending, Span::new(at, stop - at)));
        at + 1
    }

    /// One item (or key) in a flow collection; returns where it ends.
    fn flow_item(&mut self, at: usize, end: usize, key: bool) -> Result<usize, GiveUp> {
        if at >= end {
            return Err(GiveUp);
        }
        match self.bytes[at] {
            b'"' | b'\'' => {
                let close = self.quoted_end(at, end).ok_or(GiveUp)?;
                self.quoted(at, close)?;
                Ok(close)
            }
            b'[' | b'{' if !key => self.flow(at, end),
            _ => {
                // Plain: up to `,`, a closing bracket, `: ` (or `:` before
                // an indicator), or ` #`.
                let mut i = at;
                while i < end {
                    match self.bytes[i] {
                        b',' | b']' | b'}' => break,
                        b':' if i + 1 < end
                            && matches!(self.bytes[i + 1], b' ' | b',' | b']' | b'}') =>
                        {
                            break;
                        }
                        b'#' if is_space(self.bytes[i - 1]) => return Err(GiveUp),
                        b'[' | b'{' => return Err(GiveUp),
                        _ => i += 1,
                    }
                }
                let mut stop = i;
                while stop > at && is_space(self.bytes[stop - 1]) {
                    stop -= 1;
                }
                if !key && self.bytes.get(i) == Some(&b':') {
                    // A pair in a flow sequence (`[a: b]`).
                    return Err(GiveUp);
                }
                self.plain(at, stop, true)?;
                Ok(stop)
            }
        }
    }
}

/// A double-quoted scalar's escapes; gives up on the rare ones.
fn unescape(inner: &str) -> Result<String, GiveUp> {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = match chars.next().ok_or(GiveUp)? {
            '\\' => '\\',
            '"' => '"',
            '/' => '/',
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            '0' => '\0',
            ' ' => ' ',
            hex @ ('x' | 'u' | 'U') => {
                let digits = match hex {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let code: String = chars.by_ref().take(digits).collect();
                if code.len() != digits {
                    return Err(GiveUp);
                }
                let value = u32::from_str_radix(&code, 16).map_err(|_| GiveUp)?;
                char::from_u32(value).ok_or(GiveUp)?
            }
            _ => return Err(GiveUp),
        };
        out.push(escaped);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parser's events, as text, when it reads `text` without error.
    fn parsed(text: &str) -> Option<Vec<String>> {
        super::super::raw::Spanned::new(text)
            .map(|item| item.ok().map(|e| format!("{e:?}")))
            .collect()
    }

    /// Checks that every collection's count is the number of items (or
    /// entries) it holds, then forgets the counts, which the parser does
    /// not make.
    fn uncounted<'a>(mut events: Events<'a>, text: &str) -> Events<'a> {
        // Per open collection: its start event, nodes seen in it, a mapping?
        let mut open: Vec<(usize, usize, bool)> = Vec::new();
        for i in 0..events.len() {
            let (node, start) = match &events[i].0 {
                Raw::SequenceStart { .. } => (true, Some(false)),
                Raw::MappingStart { .. } => (true, Some(true)),
                Raw::Scalar { .. } | Raw::Alias(_) => (true, None),
                Raw::SequenceEnd | Raw::MappingEnd => (false, None),
                Raw::DocumentStart => continue,
            };
            if node && let Some(top) = open.last_mut() {
                top.1 += 1;
            }
            if let Some(mapping) = start {
                open.push((i, 0, mapping));
            } else if !node {
                let (at, nodes, mapping) = open.pop().expect("balanced");
                let expected = if mapping { nodes / 2 } else { nodes };
                if let Raw::SequenceStart { items, .. } | Raw::MappingStart { items, .. } =
                    &mut events[at].0
                {
                    assert_eq!(*items, expected, "the count at event {at} of {text:?}");
                    *items = 0;
                }
            }
        }
        events
    }

    /// The fast path either gives up or says exactly what the parser says.
    fn agrees(text: &str) -> bool {
        let Ok(fast) = events(text) else {
            return false;
        };
        let fast: Vec<String> = uncounted(fast, text)
            .into_iter()
            .map(|e| format!("{e:?}"))
            .collect();
        let slow = parsed(text);
        assert_eq!(
            Some(&fast),
            slow.as_ref(),
            "the fast path differs on {text:?}"
        );
        true
    }

    fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files_under(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }

    /// Every YAML file of the repository's plans, fixtures and examples.
    fn plan_files() -> Vec<std::path::PathBuf> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["plans", "tests/fixtures", "examples"] {
            files_under(&root.join(dir), &mut files);
        }
        assert!(files.len() > 20, "{files:?}");
        files
    }

    #[test]
    fn every_plan_and_fixture_reads_as_the_parser_reads_it() {
        let files = plan_files();
        let mut taken = 0;
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            if agrees(&text) {
                taken += 1;
            }
        }
        // Most real plans are on the fast path.
        assert!(taken * 2 > files.len(), "{taken} of {}", files.len());
    }

    #[test]
    fn streamed_batches_hold_the_same_events_with_counts_right_or_absent() {
        for file in &plan_files() {
            let text = std::fs::read_to_string(file).unwrap();
            let Ok(whole) = events(&text) else { continue };
            for batch in [1, 3, 64] {
                // As `raw::with_events` runs it: the scanner on a thread of
                // its own, a batch or two ahead, each emptied batch handed
                // back to be filled again while it still scans.
                let (full, batches) = std::sync::mpsc::sync_channel(2);
                let (emptied_sender, emptied) = std::sync::mpsc::channel();
                let sink = Sink { full, emptied };
                let mut streamed = Vec::new();
                let text = text.as_str();
                let gave_up = std::thread::scope(|scope| {
                    let scanner = scope.spawn(move || stream(text, &sink, batch));
                    for mut events in &batches {
                        streamed.append(&mut events);
                        // Refused only after the scanner returned (and
                        // dropped the sink): then there is nothing to fill.
                        let _ = emptied_sender.send(events);
                    }
                    scanner.join().unwrap()
                });
                assert!(!gave_up, "{file:?}");
                assert_eq!(
                    streamed.len(),
                    whole.len(),
                    "{file:?} in batches of {batch}"
                );
                for (at, (got, want)) in streamed.iter().zip(&whole).enumerate() {
                    match (&got.0, &want.0) {
                        (
                            Raw::SequenceStart { items: got, .. },
                            Raw::SequenceStart { items: want, .. },
                        )
                        | (
                            Raw::MappingStart { items: got, .. },
                            Raw::MappingStart { items: want, .. },
                        ) => assert!(
                            *got == *want || *got == 0,
                            "{file:?} in batches of {batch}: event {at} counted {got}, holds {want}"
                        ),
                        _ => assert_eq!(format!("{got:?}"), format!("{want:?}"), "{file:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn the_shapes_plans_take() {
        let cases = [
            "version: 1\n",
            "# c\n\nversion: 1   # x\nk:\n- a\n- \"b\"\nz: 'q'",
            "a:\n  b: c\n  d:\n    - e\n    - f: g\n      h: i\n    - [j, k]\nl: {m: n, o: [p, q]}\n",
            "a: { x: \"1\", y: 'it''s', z: \"\\u00e9\\n\" }\nb: [ ]\nc: {}\n",
            "a:\n  - b\n  # comment\n\n  - c\nd: e\n",
            "\"quoted key\": 1\n'other': [a]\n",
            "a: 127.0.0.1:5000\nb: linux/amd64\nc: \"{{ x }}/y:1\"\n",
            "a:\n- b: c\n  d: e\n- f\ng: h\n",
            "a: b # c\n# d\n",
            "é: ü\nb: \"ä\"\n",
            "a: [b, c]   \nd: x\n",
        ];
        for text in cases {
            assert!(agrees(text), "gave up on {text:?}");
        }
    }

    #[test]
    fn what_it_does_not_know_is_left_to_the_parser() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: |\n  b\n",
            "a: b\n  c\n",
            "a:\n\tb: c\n",
            "---\na: 1\n",
            "a: [b,\n  c]\n",
            "a:\n",
            "a: b: c\n",
            "- a\n",
            "a: [b, ]\n",
            "a: \"x\n",
            "a: {b}\n",
            "? a\n: b\n",
            "a:\r\n  b\n",
        ] {
            assert!(events(text).is_err(), "took {text:?}");
        }
    }

    /// 200,000 by default; `FAST_YAML_ROUNDS` for a longer hunt.
    fn rounds() -> usize {
        std::env::var("FAST_YAML_ROUNDS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(200_000)
    }

    /// Random YAML-ish text: whatever the fast path takes, it reads as the
    /// parser does.
    #[test]
    fn random_text_never_disagrees() {
        let pieces = [
            "a",
            "b: ",
            ":",
            " ",
            "  ",
            "\n",
            "- ",
            "[",
            "]",
            "{",
            "}",
            ",",
            "\"",
            "'",
            "#",
            "x y",
            "1",
            "é",
            "\\n",
            "key: value\n",
            "  - item\n",
            "  k: v\n",
            "{a: b}",
            "[c, d]",
            "\n  ",
            "\n    ",
            "- k: v\n",
            "\"q\": ",
            "'s''t'",
            " # c\n",
            "\\u00e9",
            "x:y",
            "-1",
            "? ",
            ":\n",
            "a:\n  b: c\n",
            "a:\n- b\n",
            "  - [x]\n",
            "{ x: 'y' }",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut taken = 0;
        for _ in 0..rounds() {
            let n = (next() % 16) as usize + 1;
            let text: String = (0..n)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            if let Ok(fast) = events(&text) {
                let fast: Vec<String> = uncounted(fast, &text)
                    .into_iter()
                    .map(|e| format!("{e:?}"))
                    .collect();
                assert_eq!(Some(&fast), parsed(&text).as_ref(), "{text:?}");
                taken += 1;
            }
        }
        assert!(taken * 100 > rounds(), "{taken}: too few taken to say much");
    }
}
