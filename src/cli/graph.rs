//! `plan graph`: the job graph as dot, mermaid or JSON.

use super::{GlobalArgs, Output, exit, session};
use crate::graph::export::{self, Format};

pub fn run(global: &GlobalArgs, format: Format, output: &mut Output) -> u8 {
    let Some(session) = session::open(global, output) else {
        return exit::ERROR;
    };
    output.out(&export::render(
        &session.graph,
        &session.plan.sources,
        format,
    ));
    exit::OK
}
