//! The graph of each example: which jobs wait for which, and why; and how a
//! cycle is reported.

use std::path::{Path, PathBuf};

use buildplan::graph::export::{Format, render};
use buildplan::graph::{JobGraph, Validated, build_graph};
use buildplan::plan::pipeline::{self, Request};
use buildplan::plan::resolved::Plan;

fn load(file: &str) -> (Plan, JobGraph<Validated>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let env = |_: &str| None;
    let files = [PathBuf::from(file)];
    let loaded = pipeline::load(&Request {
        dir: root,
        files: &files,
        var_overrides: &[],
        overrides: &[],
        env: &env,
        git: None,
    });
    assert!(!loaded.has_errors(), "{file}: {:?}", loaded.diagnostics);
    let graph = build_graph(&loaded.plan).validate().expect("acyclic");
    (loaded.plan, graph)
}

fn edges(file: &str) -> Vec<String> {
    let (_, graph) = load(file);
    let mut edges: Vec<String> = graph
        .edges()
        .map(|(from, to, edge)| format!("{} -> {} ({})", from.address, to.address, edge.describe()))
        .collect();
    edges.sort();
    edges
}

#[test]
fn seed_edges_are_the_builder_edges() {
    assert_eq!(
        edges("plans/seed.yaml"),
        [
            "builder.remotebuilder -> build.centos (builder)",
            "builder.remotebuilder -> combine.alpine-on-builder (builder)",
            "builder.remotebuilder -> sync.alpine-on-builder (builder)",
        ]
    );
}

#[test]
fn split_build_waits_for_both_builders() {
    assert_eq!(
        edges("plans/split-build.yaml"),
        [
            "builder.amd64-box -> build.hello (builder)",
            "builder.arm64-box -> build.hello (builder)"
        ]
    );
}

#[test]
fn airgap_import_reads_what_export_writes() {
    assert_eq!(
        edges("plans/airgap.yaml"),
        ["sync.export -> sync.import (oci:transfer/alpine:3.12)"]
    );
}

#[test]
fn matrix_sync_jobs_are_independent() {
    let (_, graph) = load("plans/matrix-sync.yaml");
    assert_eq!(graph.len(), 6);
    assert_eq!(graph.edge_count(), 0);
    let mut names: Vec<String> = graph.jobs().map(|(_, j)| j.address.to_string()).collect();
    names.sort();
    assert_eq!(names[0], "sync.alpine-3.12");
    assert_eq!(names[5], "sync.busybox-3.14");
}

#[test]
fn images_link_builds_syncs_and_combines() {
    assert_eq!(
        edges("tests/fixtures/valid/chained.yaml"),
        [
            "build.app-amd64 -> combine.app (127.0.0.1:5000/app:1-amd64)",
            "build.app-arm64 -> combine.app (127.0.0.1:5000/app:1-arm64)",
            "build.base -> build.app-amd64 (127.0.0.1:5000/base:1)",
            "build.base -> build.app-arm64 (127.0.0.1:5000/base:1)",
            "combine.app -> sync.app-public (127.0.0.1:5000/app:1)",
            "sync.app-public -> sync.later (needs)",
        ]
    );
}

#[test]
fn matrix_outputs_feed_combines() {
    let found = edges("tests/fixtures/valid/matrix.yaml");
    assert_eq!(
        found,
        [
            "sync.alpine-1 -> combine.alpine-1 (docker.io/tangx/alpine:1)",
            "sync.alpine-2 -> combine.alpine-2 (docker.io/tangx/alpine:2)",
        ]
    );
}

#[test]
fn cycle_is_printed_as_a_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let env = |_: &str| None;
    let files = [PathBuf::from("tests/fixtures/invalid/cycle.yaml")];
    let loaded = pipeline::load(&Request {
        dir: root,
        files: &files,
        var_overrides: &[],
        overrides: &[],
        env: &env,
        git: None,
    });
    assert!(!loaded.has_errors());
    let cycles = build_graph(&loaded.plan).validate().unwrap_err();
    assert_eq!(cycles.len(), 1);
    assert_eq!(
        cycles[0].message,
        "dependency cycle: sync.a -> sync.b -> sync.c -> sync.a"
    );
    assert_eq!(cycles[0].labels.len(), 3);
}

#[test]
fn exports_name_every_job_and_edge() {
    let (plan, graph) = load("tests/fixtures/valid/chained.yaml");
    let dot = render(&graph, &plan.sources, Format::Dot);
    assert!(dot.starts_with("digraph plan {"));
    assert!(dot.contains("\"build.base\" -> \"build.app-amd64\""));
    let mermaid = render(&graph, &plan.sources, Format::Mermaid);
    assert!(mermaid.starts_with("flowchart LR"));
    assert_eq!(
        mermaid.matches("-->").count() + mermaid.matches("-.->").count(),
        graph.edge_count()
    );
    let json: serde_json::Value =
        serde_json::from_str(&render(&graph, &plan.sources, Format::Json)).unwrap();
    assert_eq!(json["jobs"].as_array().unwrap().len(), graph.len());
    assert_eq!(json["edges"].as_array().unwrap().len(), graph.edge_count());
    assert_eq!(json["jobs"][0]["file"], "tests/fixtures/valid/chained.yaml");
    assert_eq!(json["jobs"][0]["line"], 4);
}
