//! `plan show`: the resolved plan as JSON, like `buildx bake --print`.

use super::{GlobalArgs, Output, exit, session};

pub fn run(global: &GlobalArgs, output: &mut Output) -> u8 {
    let Some(session) = session::open(global, output) else {
        return exit::ERROR;
    };
    let mut text = serde_json::to_string_pretty(&session.plan).unwrap_or_default();
    text.push('\n');
    output.out(&text);
    exit::OK
}
