use indexmap::IndexMap;
use serde::Deserialize;

use super::{Error, from_str};
use crate::plan::located::Located;
use crate::plan::source::Span;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Job {
    from: Located<String>,
    to: Option<Located<Vec<Located<String>>>>,
    push: Option<bool>,
    count: Option<u32>,
    #[serde(default)]
    args: IndexMap<String, String>,
}

fn text_at(text: &str, span: Span) -> &str {
    &text[span.start..span.end()]
}

#[test]
fn spans_are_bytes_of_what_was_written() {
    let text = "from: \"é/alpine\"\nto:\n  - a:1\n  - [b]\n";
    let err = from_str::<Job>(text).unwrap_err();
    assert_eq!(text_at(text, err.span.unwrap()), "[");
    let text = "from: é/alpine # note\nto:\n  - a:1\n  - 'b'\n\n\npush: true\n";
    let job: Job = from_str(text).unwrap();
    assert_eq!(text_at(text, job.from.span), "é/alpine");
    let to = job.to.unwrap();
    assert_eq!(text_at(text, to.span), "- a:1\n  - 'b'");
    assert_eq!(text_at(text, to.value[1].span), "'b'");
    assert_eq!(job.push, Some(true));
}

#[test]
fn text_fields_take_scalars_as_written() {
    let job: Job = from_str("from: 3.10\nargs: {A: 1.10, B: true, C: '~'}").unwrap();
    assert_eq!(job.from.value, "3.10");
    assert_eq!(job.args["A"], "1.10");
    assert_eq!(job.args["B"], "true");
    assert_eq!(job.args["C"], "~");
}

#[test]
fn typed_fields_want_unquoted_values() {
    let err = from_str::<Job>("from: a\npush: maybe").unwrap_err();
    assert!(err.message.contains("expected a boolean"), "{err:?}");
    let err = from_str::<Job>("from: a\npush: 'true'").unwrap_err();
    assert!(err.message.starts_with("invalid type"), "{err:?}");
    let err = from_str::<Job>("from: a\ncount: -1").unwrap_err();
    assert!(err.message.starts_with("invalid value"), "{err:?}");
    assert_eq!(err.span, Some(Span::new(15, 2)));
    let job: Job = from_str("from: a\npush: ~\ncount: 0x10").unwrap();
    assert_eq!((job.push, job.count), (None, Some(16)));
}

#[test]
fn errors_say_where() {
    let text = "from: a\nfrom: b\n";
    let err = from_str::<Job>(text).unwrap_err();
    assert_eq!(err.message, "duplicate key `from` in this mapping");
    assert_eq!(text_at(text, err.span.unwrap()), "from");
    let text = "push: true\ncolor: red\n";
    let err = from_str::<Job>(text).unwrap_err();
    assert!(err.message.starts_with("unknown field `color`"), "{err:?}");
    assert_eq!(text_at(text, err.span.unwrap()), "color");
    let text = "\n  push: true\n";
    let err = from_str::<Job>(text).unwrap_err();
    assert_eq!(err.message, "missing field `from`");
    assert_eq!(text_at(text, err.span.unwrap()), "push");
    let err = from_str::<Job>("from: a\n---\nfrom: b\n").unwrap_err();
    assert!(err.message.contains("one YAML document"), "{err:?}");
    let err = from_str::<Job>("from: [a\n").unwrap_err();
    assert!(err.span.is_some(), "{err:?}");
}

#[test]
fn aliases_replay_their_anchor() {
    let job: Job = from_str("from: &x alpine\nto: [*x, &l b, *l]\nargs: &m {A: '1'}").unwrap();
    let to: Vec<_> = job.to.unwrap().value.into_iter().map(|t| t.value).collect();
    assert_eq!(to, ["alpine", "b", "b"]);
    #[derive(Deserialize)]
    struct Two {
        a: IndexMap<String, Vec<String>>,
        b: IndexMap<String, Vec<String>>,
    }
    let two: Two = from_str("a: &a {x: [1, 2]}\nb: *a\n").unwrap();
    assert_eq!(two.b["x"], ["1", "2"]);
    assert_eq!(two.a, two.b);
}

#[test]
fn alias_bombs_and_deep_nesting_fail_fast() {
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..9 {
        let prev = if level == 1 {
            "a".to_owned()
        } else {
            format!("a{}", level - 1)
        };
        text.push_str(&format!(
            "a{level}: &a{level} [{}]\n",
            vec![format!("*{prev}"); 10].join(", ")
        ));
    }
    let err = from_str::<serde_json::Value>(&text).unwrap_err();
    assert!(err.message.contains("alias"), "{err:?}");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let err: Error = from_str::<serde_json::Value>(&deep).unwrap_err();
    assert!(
        err.message.contains("nesting") || err.message.contains("recursion limit"),
        "{err:?}"
    );
    let err = from_str::<serde_json::Value>("a: &a [*a]").unwrap_err();
    assert!(err.span.is_some(), "{err:?}");
}

#[test]
fn tags() {
    let value: IndexMap<String, serde_json::Value> = from_str("a: !!str 1\nb: 1\nc: ! 2").unwrap();
    assert_eq!(value["a"], "1");
    assert_eq!(value["b"], 1);
    assert_eq!(value["c"], "2");
    let err = from_str::<serde_json::Value>("a: !custom 1").unwrap_err();
    assert!(err.message.contains("unsupported YAML tag"), "{err:?}");
}

#[test]
fn quoted_spans_end_at_the_closing_quote() {
    let text = "from: \"a\\\"b\"  # it's\nto: ['x''y' , \"z\"]\n";
    let job: Job = from_str(text).unwrap();
    assert_eq!(text_at(text, job.from.span), "\"a\\\"b\"");
    let to = job.to.unwrap().value;
    assert_eq!(text_at(text, to[0].span), "'x''y'");
    assert_eq!(to[0].value, "x'y");
    assert_eq!(text_at(text, to[1].span), "\"z\"");
}

/// Inputs that make other Rust YAML parsers panic (libyaml-safer 0.3 on
/// each of these): here each is an error with a place.
#[test]
fn malformed_input_is_an_error_never_a_panic() {
    for text in [
        "\"\\",
        "a: \"x\\",
        "|\n =>0,!.|",
        "| \n é",
        "[é| [!'=,?=0.a",
        "[!,",
        "{!,\\]\r{?",
    ] {
        match from_str::<serde_json::Value>(text) {
            Ok(_) => {}
            Err(err) => assert!(err.span.is_some(), "{text:?}: {err:?}"),
        }
    }
    assert!(from_str::<serde_json::Value>("a: \"x\\").is_err());
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    jobs: IndexMap<String, Job>,
}

#[test]
fn merge_keys_fill_what_a_mapping_does_not_say() {
    let text = "
x-defaults: &defaults
  from: alpine
  push: true
  args: { A: '1', B: '2' }
x-more: &more { count: 3, push: false }
jobs:
  plain:
    <<: *defaults
  overridden:
    push: false
    <<: *defaults
    from: busybox
  listed:
    <<: [*more, *defaults]
";
    let section: Section = from_str(text).unwrap();
    let plain = &section.jobs["plain"];
    assert_eq!(plain.from.value, "alpine");
    assert_eq!(plain.push, Some(true));
    assert_eq!(plain.args["B"], "2");
    // Written keys win, before or after the merge key.
    let overridden = &section.jobs["overridden"];
    assert_eq!(overridden.from.value, "busybox");
    assert_eq!(overridden.push, Some(false));
    // Among merged mappings, the earlier wins.
    let listed = &section.jobs["listed"];
    assert_eq!((listed.count, listed.push), (Some(3), Some(false)));
    assert_eq!(listed.from.value, "alpine");
    // An anchored mapping that merges is replayed merged the same way.
    let text = "x-d: &d {from: alpine}\njobs:\n  a: &a { <<: *d, push: true }\n  b: *a\n";
    let section: Section = from_str(text).unwrap();
    assert_eq!(section.jobs["b"].from.value, "alpine");
    assert_eq!(section.jobs["b"].push, Some(true));
    // A key written twice is still refused; merging is not writing.
    let err = from_str::<Section>("jobs:\n  a:\n    from: x\n    from: y\n").unwrap_err();
    assert!(err.message.starts_with("duplicate key"), "{err:?}");
    let err = from_str::<Section>("jobs:\n  a:\n    <<: [1]\n").unwrap_err();
    assert!(err.message.contains("merges a mapping"), "{err:?}");
}

#[test]
fn x_keys_are_extensions_of_structs_only() {
    let text = "x-top: 1\njobs:\n  a: { from: x, x-note: anything, args: { x-kept: y } }\n";
    let section: Section = from_str(text).unwrap();
    assert_eq!(section.jobs["a"].args["x-kept"], "y");
    // In a struct, any other unknown key is still an error.
    assert!(from_str::<Section>("jobs:\n  a: { from: x, y-note: 1 }\n").is_err());
}

#[test]
fn one_merge_key_per_mapping() {
    let err = from_str::<Section>(
        "x-a: &a {from: x}\njobs:\n  j:\n    <<: *a\n    push: true\n    <<: *a\n",
    )
    .unwrap_err();
    assert!(err.message.starts_with("duplicate key `<<`"), "{err:?}");
    assert!(err.span.is_some());
}

/// Large files are read on a thread, speculatively by the fast path: one
/// it gives up on near the end (an anchor, a syntax error) is read again
/// by the parser, with the same result as a small one.
#[test]
fn a_large_file_the_fast_path_gives_up_on_late_is_read_by_the_parser() {
    let mut text = String::from("jobs:\n");
    for i in 0..4000 {
        text.push_str(&format!(
            "  j{i}:\n    from: \"r.example/a:{i}\"\n    count: {i}\n"
        ));
    }
    assert!(text.len() > 64 * 1024);
    let plain: Section = from_str(&text).unwrap();
    assert_eq!(plain.jobs.len(), 4000);
    // Read in batches whose buffers go back to the scanner to be filled
    // again: every event arrives once, in order, at its place.
    for (i, (name, job)) in plain.jobs.iter().enumerate() {
        assert_eq!(name, &format!("j{i}"));
        assert_eq!(job.from.value, format!("r.example/a:{i}"));
        assert_eq!(
            text_at(&text, job.from.span),
            format!("\"r.example/a:{i}\"")
        );
        assert_eq!(job.count, Some(i as u32));
    }
    // An anchor and alias at the end: the fast path gives up there.
    let anchored = format!("{text}  last: &x\n    from: x\n  again: *x\n");
    let read: Section = from_str(&anchored).unwrap();
    assert_eq!(read.jobs.len(), 4002);
    assert_eq!(read.jobs["again"].from.value, "x");
    // A syntax error at the end: the parser's error, at its place.
    let broken = format!("{text}  bad: [unclosed\n");
    let err = from_str::<Section>(&broken).unwrap_err();
    let span = err.span.expect("a place");
    assert!(span.start >= text.len(), "{err:?}");
    // An error in what the fast path read (an unknown field) is the
    // deserializer's, at its place, even on the fast path.
    let unknown = text.replacen("count: 7\n", "cuont: 7\n", 1);
    let err = from_str::<Section>(&unknown).unwrap_err();
    assert!(err.message.contains("cuont"), "{err:?}");
    assert_eq!(text_at(&unknown, err.span.unwrap()), "cuont");
}
