//! `plan show`: the resolved plan as JSON, like `buildx bake --print`; with
//! `--target`, only the selected jobs and what they need.

use super::{GlobalArgs, Output, exit, session};

pub fn run(global: &GlobalArgs, output: &mut Output) -> u8 {
    let Some(mut session) = session::open(global, output) else {
        return exit::ERROR;
    };
    match session::selection(&session.graph, global, output) {
        Ok(Some(selected)) => {
            let graph = session.graph.subgraph(&selected);
            session
                .plan
                .retain_jobs(|address| graph.find(address).is_some());
        }
        Ok(None) => {}
        Err(code) => return code,
    }
    // Our own types, string keys only: serializing them cannot fail.
    let mut text = serde_json::to_string_pretty(&session.plan).unwrap_or_default();
    text.push('\n');
    output.out(&text);
    exit::OK
}
