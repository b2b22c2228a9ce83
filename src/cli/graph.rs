//! `plan graph`: the job graph as dot, mermaid or JSON; with `--target`,
//! only the selected jobs, what they need, and the edges between them.

use super::{GlobalArgs, Output, exit, session};
use crate::graph::export::{self, Format};

pub fn run(global: &GlobalArgs, format: Format, output: &mut Output) -> u8 {
    let Some(session) = session::open(global, output) else {
        return exit::ERROR;
    };
    let graph = match session::selected_graph(session.graph, global, output) {
        Ok(graph) => graph,
        Err(code) => return code,
    };
    output.out(&export::render(&graph, &session.plan.sources, format));
    exit::OK
}
