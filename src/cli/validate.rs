//! `plan validate`: the plan is checked and nothing else is touched.

use super::session::{self, plural};
use super::{GlobalArgs, Output, exit};
use crate::plan::address::JobKind;

pub fn run(global: &GlobalArgs, output: &mut Output) -> u8 {
    let Some(session) = session::open(global, output) else {
        return exit::ERROR;
    };
    let count = |kind: JobKind| {
        session
            .graph
            .jobs()
            .filter(|(_, j)| j.address.kind == kind)
            .count()
    };
    let parts: Vec<String> = JobKind::ALL
        .into_iter()
        .map(|kind| (kind, count(kind)))
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| format!("{n} {}{}", kind.prefix(), plural(n)))
        .collect();
    let jobs = session.graph.len();
    let edges = session.graph.edge_count();
    let detail = if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    };
    output.out(&format!(
        "plan is valid: {jobs} job{}{detail}, {edges} edge{}, {} file{}\n",
        plural(jobs),
        plural(edges),
        session.plan.sources.len(),
        plural(session.plan.sources.len())
    ));
    exit::OK
}
