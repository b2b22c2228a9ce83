//! Where a build runs: which engine, which buildx builder, which platforms
//! in one invocation, and whether the driver can push by digest.

use crate::backend::buildx::Engine;
use crate::plan::platform::Platform;
use crate::plan::resolved::{Builder, Driver, Placement, Plan, Strategy};

/// One `buildx build` of a job.
#[derive(Debug, Clone)]
pub struct Slot<'a> {
    pub engine: Engine,
    pub builder: Option<&'a str>,
    pub platforms: Vec<&'a Platform>,
    /// The `docker` driver cannot push by digest; it pushes to a staging tag.
    pub push_by_digest: bool,
}

fn on_builder<'a>(builder: &'a Builder, platforms: Vec<&'a Platform>) -> Slot<'a> {
    match (builder.driver, builder.nodes.first()) {
        (Driver::Docker, Some(node)) => Slot {
            engine: Engine::Endpoint(node.endpoint.value.clone()),
            builder: None,
            platforms,
            push_by_digest: false,
        },
        _ => Slot {
            engine: Engine::Default,
            builder: Some(&builder.name.value),
            platforms,
            push_by_digest: true,
        },
    }
}

fn find<'a>(plan: &'a Plan, name: &str) -> Option<&'a Builder> {
    plan.builders.iter().find(|b| b.name.value == name)
}

/// The invocations of a build: one for `multi`, one per platform for `split`.
pub fn slots<'a>(
    plan: &'a Plan,
    placement: &'a Placement,
    platforms: &'a [crate::plan::resolved::At<Platform>],
    strategy: Strategy,
) -> Vec<Slot<'a>> {
    let all: Vec<&Platform> = platforms.iter().map(|p| &p.value).collect();
    let split = |slot: Slot<'a>| -> Vec<Slot<'a>> {
        if strategy == Strategy::Split && slot.platforms.len() > 1 {
            slot.platforms
                .iter()
                .map(|p| Slot {
                    platforms: vec![*p],
                    ..slot.clone()
                })
                .collect()
        } else {
            vec![slot]
        }
    };
    match placement {
        Placement::Default => split(Slot {
            engine: Engine::Default,
            builder: None,
            platforms: all,
            // Unknown driver: assume the default `docker` one, which cannot push by digest.
            push_by_digest: false,
        }),
        Placement::One(name) => match find(plan, &name.value) {
            Some(builder) => split(on_builder(builder, all)),
            None => Vec::new(),
        },
        Placement::PerPlatform(map) => map
            .iter()
            .filter_map(|(platform, name)| {
                Some(on_builder(find(plan, &name.value)?, vec![&platform.value]))
            })
            .collect(),
    }
}
