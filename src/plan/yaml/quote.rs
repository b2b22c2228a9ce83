//! Writing YAML, for the plans `plan` writes itself (`init`, `import`,
//! `--set`): text as a double-quoted scalar, which reads back as exactly
//! that string whatever it holds.

/// `text` as a double-quoted YAML scalar.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_back_as_written() {
        for text in ["plain", "a: b", "\"q\" \\ #x", "tab\there", "{{ x }}", "é"] {
            let yaml = format!("v: {}", super::quoted(text));
            let read: std::collections::BTreeMap<String, String> =
                crate::plan::yaml::from_str(&yaml).unwrap();
            assert_eq!(read["v"], text);
        }
    }
}
