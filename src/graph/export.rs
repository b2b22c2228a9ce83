//! The job graph as Graphviz dot, Mermaid or JSON (`plan graph`).

use std::fmt::Write as _;

use serde::Serialize;

use super::{Edge, JobGraph};
use crate::plan::address::{Address, JobKind};
use crate::plan::source::SourceMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Dot,
    Mermaid,
    Json,
}

pub fn render<S>(graph: &JobGraph<S>, sources: &SourceMap, format: Format) -> String {
    match format {
        Format::Dot => dot(graph),
        Format::Mermaid => mermaid(graph),
        Format::Json => json(graph, sources),
    }
}

fn shape(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Builder => "component",
        JobKind::Build => "box",
        JobKind::Sync => "cds",
        JobKind::Combine => "invtrapezium",
    }
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn dot<S>(graph: &JobGraph<S>) -> String {
    let mut out = String::from("digraph plan {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    for (_, job) in graph.jobs() {
        let _ = writeln!(
            out,
            "  {} [shape={}];",
            quote(&job.address.to_string()),
            shape(job.address.kind)
        );
    }
    for (from, to, edge) in graph.edges() {
        let style = match edge {
            Edge::Builder => " style=dashed",
            Edge::Needs => " style=dotted",
            Edge::Image(_) | Edge::Context(_) => "",
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}{style}];",
            quote(&from.address.to_string()),
            quote(&to.address.to_string()),
            quote(&edge.describe())
        );
    }
    out.push_str("}\n");
    out
}

/// Mermaid ids must be plain words; addresses are mapped to `j0`, `j1`, ….
fn mermaid<S>(graph: &JobGraph<S>) -> String {
    let mut out = String::from("flowchart LR\n");
    let id = |address: &Address| graph.find(address).map_or(0, |i| i.index());
    for (index, job) in graph.jobs() {
        let (open, close) = match job.address.kind {
            JobKind::Builder => ("[[", "]]"),
            JobKind::Build => ("[", "]"),
            JobKind::Sync => ("([", "])"),
            JobKind::Combine => ("{{", "}}"),
        };
        let _ = writeln!(out, "  j{}{open}\"{}\"{close}", index.index(), job.address);
    }
    for (from, to, edge) in graph.edges() {
        let arrow = match edge {
            Edge::Builder | Edge::Needs => "-.->",
            Edge::Image(_) | Edge::Context(_) => "-->",
        };
        let label = edge.describe().replace('"', "'");
        let _ = writeln!(
            out,
            "  j{} {arrow}|\"{label}\"| j{}",
            id(&from.address),
            id(&to.address)
        );
    }
    out
}

#[derive(Serialize)]
struct JsonGraph<'a> {
    jobs: Vec<JsonJob<'a>>,
    edges: Vec<JsonEdge<'a>>,
}

#[derive(Serialize)]
struct JsonJob<'a> {
    address: &'a Address,
    kind: JobKind,
    file: &'a str,
    line: usize,
    column: usize,
}

#[derive(Serialize)]
struct JsonEdge<'a> {
    from: &'a Address,
    to: &'a Address,
    #[serde(flatten)]
    edge: &'a Edge,
}

fn json<S>(graph: &JobGraph<S>, sources: &SourceMap) -> String {
    let jobs = graph
        .jobs()
        .map(|(_, job)| {
            let file = sources.get(job.at.file);
            let (line, column) = file.line_column(job.at.span.start);
            JsonJob {
                address: &job.address,
                kind: job.address.kind,
                file: &file.name,
                line,
                column,
            }
        })
        .collect();
    let edges = graph
        .edges()
        .map(|(from, to, edge)| JsonEdge {
            from: &from.address,
            to: &to.address,
            edge,
        })
        .collect();
    // Our own types, string keys only: serializing them cannot fail.
    let mut text = serde_json::to_string_pretty(&JsonGraph { jobs, edges }).unwrap_or_default();
    text.push('\n');
    text
}
