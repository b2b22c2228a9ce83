//! The example plans in `plans/` and the JSON Schema: every example carries
//! the editor modeline, validates against the checked-in schema and with
//! `plan validate`, and the checked-in schema is what `plan schema` prints.

use std::path::{Path, PathBuf};

use buildplan::graph::build_graph;
use buildplan::plan::pipeline::{self, Request};
use buildplan::plan::schema::plan_schema;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn example_plans() -> Vec<PathBuf> {
    let mut plans: Vec<PathBuf> = std::fs::read_dir(root().join("plans"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    plans.sort();
    plans
}

#[test]
fn checked_in_schema_is_current() {
    let checked_in = std::fs::read_to_string(root().join("schemas/plan.schema.json")).unwrap();
    assert!(
        checked_in == plan_schema(),
        "schemas/plan.schema.json is stale: run `cargo run -- schema > schemas/plan.schema.json`"
    );
}

#[test]
fn examples_carry_the_modeline_and_match_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(&plan_schema()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let plans = example_plans();
    assert!(plans.len() >= 4, "the examples are in plans/");
    for path in plans {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.lines()
                .next()
                .unwrap_or("")
                .starts_with("# yaml-language-server: $schema=../schemas/plan.schema.json"),
            "{} lacks the yaml-language-server modeline on its first line",
            path.display()
        );
        let document: serde_json::Value = buildplan::plan::yaml::from_str(&text).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&document)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{}: {}",
            path.display(),
            errors.join("\n")
        );
    }
}

#[test]
fn schema_rejects_what_the_parser_rejects() {
    let schema: serde_json::Value = serde_json::from_str(&plan_schema()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for bad in [
        "syncs: {}",                                        // no version
        "version: 2",                                       // unsupported
        "version: 1\nsyncs: {a: {from: x, too: y}}",        // unknown field
        "version: 1\nsyncs: {a: {from: x, to: y, via: z}}", // unknown variant
        "version: 1\nbuilders: {b: {driver: podman}}",      // unknown driver
    ] {
        let document: serde_json::Value = buildplan::plan::yaml::from_str(bad).unwrap();
        assert!(!validator.is_valid(&document), "schema accepts {bad:?}");
    }
}

#[test]
fn every_example_validates() {
    for path in example_plans() {
        let file = path.strip_prefix(root()).unwrap().to_path_buf();
        let env = |_: &str| None;
        let loaded = pipeline::load(&Request {
            dir: root(),
            files: std::slice::from_ref(&file),
            var_overrides: &[],
            overrides: &[],
            env: &env,
            git: None,
        });
        let messages: Vec<&str> = loaded
            .diagnostics
            .iter()
            .map(|d| d.message.as_str())
            .collect();
        assert!(
            loaded.diagnostics.is_empty(),
            "{}: {messages:?}",
            file.display()
        );
        assert!(
            build_graph(&loaded.plan).validate().is_ok(),
            "{}: cycle",
            file.display()
        );
    }
}
