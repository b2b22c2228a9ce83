//! Any bytes as a plan file: the loader answers with a plan or diagnostics,
//! never a panic, and every span lies inside the file.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run load` (see the README).

#![no_main]

use buildplan::graph::build_graph;
use buildplan::plan::pipeline::check_sources;
use buildplan::plan::source::{SourceFile, SourceMap};
use buildplan::report::diagnostics::{Style, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut sources = SourceMap::default();
    sources.add(SourceFile {
        name: "fuzz.yaml".into(),
        path: "fuzz.yaml".into(),
        text: text.to_owned(),
    });
    let env = |_: &str| None;
    let loaded = check_sources(sources, &[], &env);
    if !loaded.has_errors() {
        let _ = build_graph(&loaded.plan).validate();
    }
    for diagnostic in &loaded.diagnostics {
        for label in &diagnostic.labels {
            assert!(label.origin.span.end() <= text.len());
        }
        let _ = render(diagnostic, &loaded.plan.sources, Style::PLAIN);
    }
});
