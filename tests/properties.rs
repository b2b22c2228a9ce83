//! The loader never panics: arbitrary text, and arbitrary YAML built from the
//! plan's own vocabulary (so it reaches templates, matrices, references and
//! the graph), always come back as a plan or as diagnostics whose spans lie
//! inside their file.

use buildplan::graph::build_graph;
use buildplan::plan::pipeline::{Loaded, check_sources};
use buildplan::plan::source::{SourceFile, SourceMap};
use buildplan::report::diagnostics::{Style, github_annotation, render, render_json};
use proptest::prelude::*;

fn check(text: &str) -> Loaded {
    let mut sources = SourceMap::default();
    sources.add(SourceFile {
        name: "prop.yaml".into(),
        path: "prop.yaml".into(),
        text: text.to_owned(),
    });
    let env = |name: &str| (name == "SET").then(|| "value".to_owned());
    let mut loaded = check_sources(sources, &[], &env);
    if !loaded.has_errors()
        && let Err(cycles) = build_graph(&loaded.plan).validate()
    {
        loaded.diagnostics.extend(cycles);
    }
    for diagnostic in &loaded.diagnostics {
        for label in &diagnostic.labels {
            let file = loaded.plan.sources.get(label.origin.file);
            assert!(
                label.origin.span.end() <= file.text.len(),
                "{}: span outside the file",
                diagnostic.code
            );
            assert!(
                file.text.is_char_boundary(label.origin.span.start),
                "{}: span inside a character",
                diagnostic.code
            );
        }
        let _ = render(diagnostic, &loaded.plan.sources, Style::PLAIN);
        let _ = github_annotation(diagnostic, &loaded.plan.sources);
    }
    let _ = render_json(&loaded.diagnostics, &loaded.plan.sources);
    loaded
}

const WORDS: &[&str] = &[
    "version",
    "vars",
    "registries",
    "mirrors",
    "builders",
    "builds",
    "syncs",
    "combines",
    "matrix",
    "needs",
    "from",
    "to",
    "platforms",
    "via",
    "builder",
    "nodes",
    "name",
    "endpoint",
    "driver",
    "tags",
    "context",
    "dockerfile",
    "args",
    "push",
    "strategy",
    "insecure",
    "host",
    "a",
    "b",
];

const SCALARS: &[&str] = &[
    "1",
    "2",
    "true",
    "no",
    "~",
    "alpine",
    "alpine:3.12",
    "Alpine",
    "oci:x:1",
    "oci:",
    "linux/amd64",
    "linux/arm64/v8",
    "amd46",
    "registry",
    "builder",
    "imagetools",
    "docker",
    "sync.a",
    "build.b",
    "{{ x }}",
    "{{ env.SET }}",
    "{{ env.UNSET }}",
    "{{",
    "{% for %}",
    "a-{{ t }}",
    "example.com/a:1",
    "ssh://root@h",
    "\"quoted\"",
    "é",
    "[",
    "&a x",
    "*a",
    "<<: *a",
    "\t",
];

fn yaml() -> impl Strategy<Value = String> {
    let leaf = proptest::sample::select(SCALARS).prop_map(str::to_owned);
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            proptest::collection::vec((proptest::sample::select(WORDS), inner), 0..5).prop_map(
                |entries| {
                    let body: Vec<String> =
                        entries.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    format!("{{{}}}", body.join(", "))
                }
            ),
        ]
    })
}

/// A document shaped like a plan, with random pieces in it.
fn plan_like() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(&["1", "2", "x"][..]),
        proptest::collection::vec(
            (
                proptest::sample::select(
                    &["syncs", "combines", "builds", "builders", "vars", "mirrors"][..],
                ),
                proptest::sample::select(WORDS),
                yaml(),
            ),
            0..6,
        ),
    )
        .prop_map(|(version, sections)| {
            let mut text = format!("version: {version}\n");
            for (section, name, body) in sections {
                text.push_str(&format!("{section}:\n  {name}: {body}\n"));
            }
            text
        })
}

/// Pieces of templates, hostile ones among them: loops that would run for
/// ever without fuel, multiplications that would fill memory without the
/// rendered-size cap, undefined names, filters, broken syntax.
const TEMPLATE_PIECES: &[&str] = &[
    "{{ t }}",
    "{{ v }}",
    "{{ nope }}",
    "{{ env.UNSET | default('d') }}",
    "{{ t | upper }}",
    "{{ v * 1000 }}",
    "{{ v * 100000000 }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "{% for i in range(3) %}{{ i }}{% endfor %}",
    "{{ range(10) | join(',') }}",
    "{{ t ~ v }}",
    "{%",
    "}}",
    "-",
    "a",
    "3.12",
];

fn template() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(TEMPLATE_PIECES), 1..4)
        .prop_map(|pieces| pieces.concat())
}

/// A plan whose vars, matrix values, job name and fields are templates.
fn templated_plan() -> impl Strategy<Value = String> {
    (
        template(),
        proptest::collection::vec(template(), 1..4),
        template(),
        template(),
        1usize..4,
    )
        .prop_map(|(var, values, name, field, matrices)| {
            let quote = |t: &str| serde_json::to_string(t).unwrap();
            let values: Vec<String> = values.iter().map(|v| quote(v)).collect();
            let mut text = format!("version: 1\nvars:\n  v: {}\nsyncs:\n", quote(&var));
            for m in 0..matrices {
                text.push_str(&format!(
                    "  {}:\n    matrix:\n      t: [{}]\n    from: {}\n    to: {}\n",
                    quote(&format!("m{m}-{name}")),
                    values.join(", "),
                    quote(&format!("alpine:{field}")),
                    quote(&format!("r.test/m{m}:{field}")),
                ));
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Templates and matrices: an answer (a plan or diagnostics) for every
    /// input, never a panic; fuel and the size cap bound the work.
    #[test]
    fn templated_matrices_never_panic(text in templated_plan()) {
        check(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text);
    }

    #[test]
    fn arbitrary_yaml_never_panics(text in yaml()) {
        check(&text);
    }

    #[test]
    fn plan_shaped_yaml_never_panics(text in plan_like()) {
        check(&text);
    }
}

#[test]
fn a_valid_plan_survives_the_round_trip() {
    let loaded =
        check("version: 1\nsyncs:\n  a: {from: alpine, to: x/a}\n  b: {from: x/a, to: x/b}\n");
    assert!(loaded.diagnostics.is_empty());
    assert_eq!(loaded.plan.syncs.len(), 2);
}
