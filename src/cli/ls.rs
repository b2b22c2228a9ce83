//! `plan ls`: the jobs, one a line (as `bake --list` lists targets), or as
//! JSON with `--json`; with `--target`/`--exclude`, the selection.

use serde::Serialize;

use super::{GlobalArgs, Output, exit, session};
use crate::plan::address::JobKind;
use crate::plan::resolved::{Driver, Plan};
use crate::untrusted::escape;

#[derive(Serialize)]
struct Listed {
    address: String,
    kind: &'static str,
    /// What it is, in a few words (`docker, 2 nodes`; `linux/amd64,linux/arm64`).
    what: String,
    /// The images it writes.
    targets: Vec<String>,
    /// The addresses of the jobs it waits for.
    needs: Vec<String>,
}

pub fn run(global: &GlobalArgs, json: bool, output: &mut Output) -> u8 {
    let Some(session) = session::open(global, output) else {
        return exit::ERROR;
    };
    let graph = match session::selected_graph(session.graph, global, output) {
        Ok(graph) => graph,
        Err(code) => return code,
    };
    let listed: Vec<Listed> = graph
        .jobs()
        .map(|(index, job)| {
            let (what, targets) = describe(&session.plan, job.address.kind, job.entry);
            let mut needs: Vec<String> = graph
                .dependencies(index)
                .map(|d| graph.job(d).address.to_string())
                .collect();
            needs.sort();
            needs.dedup();
            Listed {
                address: job.address.to_string(),
                kind: job.address.kind.prefix(),
                what,
                targets,
                needs,
            }
        })
        .collect();
    if json {
        // Our own types, string keys only: serializing them cannot fail.
        let mut text = serde_json::to_string_pretty(&listed).unwrap_or_default();
        text.push('\n');
        output.out(&text);
        return exit::OK;
    }
    let width = listed.iter().map(|l| l.address.len()).max().unwrap_or(0);
    let mut text = String::new();
    for job in &listed {
        let targets = if job.targets.is_empty() {
            String::new()
        } else {
            format!(" -> {}", job.targets.join(", "))
        };
        text.push_str(&escape(&format!(
            "{:<width$}  {}{targets}",
            job.address, job.what
        )));
        text.push('\n');
    }
    output.out(&text);
    exit::OK
}

/// A job's few words and the images it writes.
fn describe(plan: &Plan, kind: JobKind, entry: usize) -> (String, Vec<String>) {
    let images = |list: &[crate::plan::resolved::At<crate::plan::reference::ImageRef>]| {
        list.iter().map(|t| t.value.to_string()).collect::<Vec<_>>()
    };
    match kind {
        JobKind::Builder => {
            let builder = &plan.builders[entry];
            let driver = match builder.driver {
                Driver::Docker => "docker",
                Driver::DockerContainer => "docker-container",
                Driver::Kubernetes => "kubernetes",
                Driver::Remote => "remote",
            };
            let nodes = builder.nodes.len();
            let plural = if nodes == 1 { "" } else { "s" };
            (format!("{driver}, {nodes} node{plural}"), Vec::new())
        }
        JobKind::Build => {
            let build = &plan.builds[entry];
            let platforms: Vec<String> = build
                .platforms
                .iter()
                .map(|p| p.value.to_string())
                .collect();
            let what = if platforms.is_empty() {
                "the builder's platform".to_owned()
            } else {
                platforms.join(",")
            };
            let targets = if build.push {
                images(&build.tags)
            } else {
                Vec::new()
            };
            (what, targets)
        }
        JobKind::Sync => {
            let sync = &plan.syncs[entry];
            let what = match &sync.repository {
                None => format!("from {}", sync.shown_from()),
                Some(_) => format!("tags of {}", sync.shown_from()),
            };
            (what, sync.shown_targets())
        }
        JobKind::Combine => {
            let combine = &plan.combines[entry];
            let n = combine.from.len();
            (
                format!("{n} platform{}", if n == 1 { "" } else { "s" }),
                images(&combine.to),
            )
        }
    }
}
