//! Text that comes from outside `plan` — registry bodies and headers,
//! command output, names read back from live state — made safe to print.
//!
//! A terminal obeys escape sequences, a log reader trusts line breaks, and
//! GitHub Actions runs `::command::` lines found at the start of a line, so
//! a registry that can put `\x1b]…` or `\n::error::` into a message could
//! repaint a terminal or forge a workflow annotation. Every control
//! character (C0, DEL and C1) is therefore written as a visible escape
//! (`\x1b`, `\n`, `\u{9b}`); everything else is kept as it is.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character escaped, on one line.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// At most `max` bytes of `text` (cut at a character boundary), escaped;
/// `…` marks a cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = end < text.len();
    let mut out = escape(text[..end].trim()).into_owned();
    if cut {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(escape("plain text: ok"), "plain text: ok");
        assert_eq!(
            escape("a\x1b[31mred\n::error::forged\r\u{9b}2J\x7f"),
            "a\\x1b[31mred\\n::error::forged\\r\\u{9b}2J\\x7f"
        );
        assert!(matches!(escape("no change"), Cow::Borrowed(_)));
    }

    #[test]
    fn an_excerpt_is_cut_at_a_character_and_says_so() {
        assert_eq!(excerpt("ééé", 3), "é…");
        assert_eq!(excerpt("short", 100), "short");
        assert_eq!(excerpt("x\ny", 100), "x\\ny");
    }
}
