//! Fixture tests: every plan in `fixtures/valid` loads without errors, and
//! every plan in `fixtures/invalid` produces diagnostics whose rendering is
//! snapshotted (no colour, fixed width) and whose spans lie inside their
//! sources. A fixture is a `.yaml` file, or a folder of them read as one plan.

use std::path::{Path, PathBuf};

use buildplan::graph::build_graph;
use buildplan::plan::diagnostic::{Diagnostic, Severity};
use buildplan::plan::pipeline::{self, Loaded, Request};
use buildplan::plan::source::SourceMap;
use buildplan::report::diagnostics::{Style, render};

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind);
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    found.sort();
    found
}

/// Environment for fixtures: nothing is set, so the results never depend on the machine.
fn no_env(_: &str) -> Option<String> {
    None
}

fn load(fixture: &Path) -> Loaded {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files: Vec<PathBuf> = if fixture.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(fixture)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    } else {
        vec![fixture.to_path_buf()]
    };
    let files: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(root).unwrap().to_path_buf())
        .collect();
    let mut loaded = pipeline::load(&Request {
        dir: root,
        files: &files,
        var_overrides: &[],
        overrides: &[],
        env: &no_env,
        git: None,
    });
    if !loaded.has_errors()
        && let Err(cycles) = build_graph(&loaded.plan).validate()
    {
        loaded.diagnostics.extend(cycles);
    }
    loaded
}

fn check_spans(diagnostics: &[Diagnostic], sources: &SourceMap) {
    for diagnostic in diagnostics {
        for label in &diagnostic.labels {
            let text = &sources.get(label.origin.file).text;
            let span = label.origin.span;
            assert!(
                span.end() <= text.len(),
                "{}: span {span:?} outside its file",
                diagnostic.code
            );
            assert!(
                text.is_char_boundary(span.start) && text.is_char_boundary(span.end()),
                "{}: span {span:?} not on character boundaries",
                diagnostic.code
            );
        }
    }
}

#[test]
fn valid_fixtures_have_no_errors() {
    let found = fixtures("valid");
    assert!(found.len() >= 5);
    for fixture in found {
        let loaded = load(&fixture);
        let rendered: Vec<String> = loaded
            .diagnostics
            .iter()
            .map(|d| render(d, &loaded.plan.sources, Style::PLAIN))
            .collect();
        assert!(
            loaded.diagnostics.is_empty(),
            "{}:\n{}",
            fixture.display(),
            rendered.join("\n")
        );
    }
}

#[test]
fn invalid_fixtures_render_diagnostics_at_their_place() {
    let found = fixtures("invalid");
    assert!(found.len() >= 20, "one fixture per error kind");
    for fixture in found {
        let name = fixture.file_stem().unwrap().to_string_lossy().into_owned();
        let loaded = load(&fixture);
        assert!(!loaded.diagnostics.is_empty(), "{name}: no diagnostic");
        let expect_error = !name.starts_with("warning-");
        assert_eq!(
            loaded.has_errors() || loaded.diagnostics.iter().any(|d| d.code == "plan::cycle"),
            expect_error,
            "{name}: errors expected: {expect_error}"
        );
        check_spans(&loaded.diagnostics, &loaded.plan.sources);
        for diagnostic in &loaded.diagnostics {
            if diagnostic.severity == Severity::Error {
                assert!(
                    diagnostic.help.is_some(),
                    "{name}: {} has no help",
                    diagnostic.code
                );
            }
            let file_level = matches!(
                diagnostic.code,
                "plan::empty-file" | "plan::missing-version"
            );
            assert!(
                file_level || diagnostic.primary().is_some_and(|l| l.origin.span.len > 0),
                "{name}: {} does not point at anything",
                diagnostic.code
            );
        }
        let text: String = loaded
            .diagnostics
            .iter()
            .map(|d| render(d, &loaded.plan.sources, Style::PLAIN))
            .collect::<Vec<_>>()
            .join("\n");
        insta::assert_snapshot!(name, text);
    }
}
