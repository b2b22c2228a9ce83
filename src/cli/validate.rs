//! `plan validate`: the plan is checked and nothing else is touched. The
//! whole plan is always checked; `--target` narrows what is counted (and
//! fails when a pattern matches no job).

use super::session::{self, plural};
use super::{GlobalArgs, Output, exit};
use crate::plan::address::JobKind;

pub fn run(global: &GlobalArgs, output: &mut Output) -> u8 {
    let Some(session) = session::open(global, output) else {
        return exit::ERROR;
    };
    let total = session.graph.len();
    let graph = match session::selected_graph(session.graph, global, output) {
        Ok(graph) => graph,
        Err(code) => return code,
    };
    let count = |kind: JobKind| graph.jobs().filter(|(_, j)| j.address.kind == kind).count();
    let parts: Vec<String> = JobKind::ALL
        .into_iter()
        .map(|kind| (kind, count(kind)))
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| format!("{n} {}{}", kind.prefix(), plural(n)))
        .collect();
    let jobs = graph.len();
    let edges = graph.edge_count();
    let detail = if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    };
    let partial = if jobs < total {
        let by = match (global.targets.is_empty(), global.excludes.is_empty()) {
            (false, true) => "--target",
            (true, false) => "--exclude",
            _ => "--target and --exclude",
        };
        format!(" selected by {by} of {total}")
    } else {
        String::new()
    };
    output.out(&format!(
        "plan is valid: {jobs} job{}{partial}{detail}, {edges} edge{}, {} file{}\n",
        plural(jobs),
        plural(edges),
        session.plan.sources.len(),
        plural(session.plan.sources.len())
    ));
    // The process ends here: freeing a large plan piece by piece (a tenth
    // of a 5,000-build validate) would only delay the exit.
    std::mem::forget(session.plan);
    std::mem::forget(graph);
    exit::OK
}
