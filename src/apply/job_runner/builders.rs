//! Builder jobs: create, append or leave nodes, or replace a builder, with
//! one rendered buildkitd.toml per node; a `driver: docker` builder is only
//! checked for reachability.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{JobRunner, run_logged, write};
use crate::backend::buildx::Engine;
use crate::backend::engine_info::EngineInfo;
use crate::backend::{buildkitd, process};
use crate::exec::{JobContext, JobError, Outcome};
use crate::plan::resolved::{Builder, Driver};
use crate::state::{Action, Change};

impl JobRunner {
    pub(super) async fn builder(
        &self,
        builder: &Builder,
        change: &Change,
        dir: &Path,
        context: &JobContext,
    ) -> Result<Outcome, JobError> {
        if builder.driver == Driver::Docker {
            let Some(node) = builder.nodes.first() else {
                return Err(JobError::fatal(format!(
                    "builder `{}` has no engine",
                    builder.name.value
                )));
            };
            context.step("checking the engine");
            let engine = Engine::Endpoint(node.endpoint.value.clone());
            let captured = run_logged(&self.docker.engine_info(&engine), context)
                .await
                .map_err(|err| JobError {
                    message: format!(
                        "the engine of builder `{}` is unreachable: {}",
                        builder.name.value, err.message
                    ),
                    ..err
                })?;
            let engine = EngineInfo::parse(&captured.stdout).map_err(JobError::fatal)?;
            return Ok(Outcome::done(json!({ "engine": engine.describe() })));
        }
        let config = buildkitd::render(builder, &self.plan.mirrors).map_err(JobError::fatal)?;
        let mut paths = Vec::new();
        for node in &builder.nodes {
            // One file per node: buildx copies it into that node at create time.
            let path = dir.join(format!("{}.buildkitd.toml", node.name.value));
            write(&path, &config)?;
            paths.push(path);
        }
        let configs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        let creates = self.docker.create_builder(builder, &configs);
        if change.action == Action::Update {
            // In place: append the nodes it lacks, drop those the plan no longer has.
            context.step("updating");
            for (node, invocation) in builder.nodes.iter().zip(&creates) {
                if change.append.contains(&node.name.value) {
                    let mut invocation = invocation.clone();
                    if !invocation.args.iter().any(|a| a == "--append") {
                        invocation.args.insert(2, "--append".into());
                    }
                    run_logged(&invocation, context).await?;
                }
            }
            for node in &change.leave {
                run_logged(&self.docker.leave_node(&builder.name.value, node), context).await?;
            }
        } else {
            // Created, or replaced: a node only reads its buildkitd.toml when
            // its container is created, so a changed config means a new builder.
            context.step("creating");
            if run_logged(&self.docker.builder_exists(&builder.name.value), context)
                .await
                .is_ok()
            {
                run_logged(&self.docker.remove_builder(&builder.name.value), context).await?;
            }
            for invocation in creates {
                run_logged(&invocation, context).await?;
            }
        }
        context.step("booting");
        // buildx names each node it boots ("[node-a internal] booting buildkit"):
        // those it was booting when it failed are the ones to blame.
        let mut booting: Vec<String> = Vec::new();
        let bootstrap = self.docker.bootstrap(&builder.name.value);
        let result = process::run(&bootstrap, context, |line| {
            context.output(line);
            if let Some(node) = booting_node(line)
                && !booting.contains(&node)
            {
                booting.push(node);
            }
        })
        .await;
        if let Err(err) = result {
            let nodes = if booting.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = booting.iter().map(|n| format!("`{n}`")).collect();
                let word = if names.len() == 1 { "node" } else { "nodes" };
                format!(" on {word} {}", names.join(", "))
            };
            let message = format!(
                "builder `{}` failed to boot{nodes}: {}",
                builder.name.value, err.message
            );
            return Err(JobError { message, ..err });
        }
        Ok(Outcome::done(
            json!({ "nodes": builder.nodes.iter().map(|n| n.name.value.clone()).collect::<Vec<_>>() }),
        ))
    }
}

/// The node in buildx's "[NODE internal] booting buildkit" progress line.
fn booting_node(line: &str) -> Option<String> {
    if !line.contains("booting buildkit") {
        return None;
    }
    let start = line.find('[')? + 1;
    let node = line[start..].split_once(" internal]")?.0;
    Some(node.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booting_nodes_are_read_from_progress() {
        assert_eq!(
            booting_node(" > [node-b internal] booting buildkit:").as_deref(),
            Some("node-b")
        );
        assert_eq!(
            booting_node("#1 [node-a internal] booting buildkit").as_deref(),
            Some("node-a")
        );
        assert_eq!(booting_node("ERROR: something"), None);
    }
}
