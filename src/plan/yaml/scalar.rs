//! What an unquoted scalar means, by YAML 1.2's core schema: `~`, `null`
//! and nothing are null; `true` and `false` (any case of the first letter,
//! or all capitals) are booleans; numbers are numbers; everything else is a
//! string. YAML 1.1's `yes`, `no`, `on`, `off` are strings, so `to: y` stays
//! the text `y`.

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Plain {
    Null,
    Bool(bool),
    Int(i64),
    /// Too large for `i64`, still whole.
    UInt(u64),
    Float(f64),
    Str,
}

/// The plain texts that mean null: what `Option` fields ask of every value,
/// without resolving the rest.
pub fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

pub fn resolve(text: &str) -> Plain {
    if is_null(text) {
        return Plain::Null;
    }
    match text {
        "true" | "True" | "TRUE" => return Plain::Bool(true),
        "false" | "False" | "FALSE" => return Plain::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Plain::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Plain::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Plain::Float(f64::NAN),
        _ => {}
    }
    // Most strings start with a letter: nothing numeric to try.
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Plain::Str;
    }
    if let Some(int) = integer(text) {
        return int;
    }
    if let Some(value) = is_float(text).then(|| text.parse::<f64>().ok()).flatten() {
        return Plain::Float(value);
    }
    Plain::Str
}

fn integer(text: &str) -> Option<Plain> {
    let (radix, digits) = if let Some(hex) = text.strip_prefix("0x") {
        (16, hex)
    } else if let Some(octal) = text.strip_prefix("0o") {
        (8, octal)
    } else {
        (10, text)
    };
    let unsigned = digits.strip_prefix(['-', '+']).unwrap_or(digits);
    if unsigned.is_empty() || !unsigned.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    if radix != 10 && unsigned.len() != digits.len() {
        return None;
    }
    if let Ok(value) = i64::from_str_radix(digits, radix) {
        return Some(Plain::Int(value));
    }
    u64::from_str_radix(digits.strip_prefix('+').unwrap_or(digits), radix)
        .ok()
        .map(Plain::UInt)
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_float(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = usize::from(matches!(bytes.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let whole = digits(&mut i);
    let mut fraction = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        fraction = digits(&mut i);
    }
    if whole == 0 && fraction == 0 {
        return false;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema() {
        assert_eq!(resolve(""), Plain::Null);
        assert_eq!(resolve("~"), Plain::Null);
        assert_eq!(resolve("True"), Plain::Bool(true));
        assert_eq!(resolve("yes"), Plain::Str);
        assert_eq!(resolve("y"), Plain::Str);
        assert_eq!(resolve("12"), Plain::Int(12));
        assert_eq!(resolve("-3"), Plain::Int(-3));
        assert_eq!(resolve("0x1f"), Plain::Int(31));
        assert_eq!(resolve("0o17"), Plain::Int(15));
        assert_eq!(resolve("18446744073709551615"), Plain::UInt(u64::MAX));
        assert_eq!(resolve("3.12"), Plain::Float(3.12));
        assert_eq!(resolve("1e3"), Plain::Float(1000.0));
        assert_eq!(resolve(".5"), Plain::Float(0.5));
        assert_eq!(resolve("1."), Plain::Float(1.0));
        assert_eq!(resolve("."), Plain::Str);
        assert_eq!(resolve("1.2.3"), Plain::Str);
        assert_eq!(resolve("3.12-alpine"), Plain::Str);
        assert_eq!(resolve("0x"), Plain::Str);
        assert_eq!(resolve("-"), Plain::Str);
        assert_eq!(resolve("1e"), Plain::Str);
        assert_eq!(resolve("linux/amd64"), Plain::Str);
        assert!(matches!(resolve(".nan"), Plain::Float(v) if v.is_nan()));
    }
}
