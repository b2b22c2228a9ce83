//! From a validated graph to a schedule: job numbers, dependencies (data or
//! order), and resources for `max_parallel` and `max_concurrency`.

use std::collections::HashMap;
use std::time::Duration;

use crate::exec::{Dependency, Schedule, ScheduledJob};
use crate::graph::{Edge, JobGraph, Validated};
use crate::plan::address::{Address, JobKind};
use crate::plan::reference::ImageRef;
use crate::plan::resolved::{Placement, Plan};

/// Which entry of the plan a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobRef {
    Builder(usize),
    Build(usize),
    Sync(usize),
    Combine(usize),
}

pub struct PlannedRun {
    pub schedule: Schedule,
    pub addresses: Vec<Address>,
    pub jobs: Vec<JobRef>,
}

/// Jobs in graph order; `selected` limits the run to those jobs (and is
/// expected to be closed under dependencies).
pub fn plan_run(
    plan: &Plan,
    graph: &JobGraph<Validated>,
    selected: Option<&[bool]>,
    timeout: Option<Duration>,
) -> PlannedRun {
    let mut number: HashMap<usize, usize> = HashMap::new();
    let mut addresses = Vec::new();
    let mut jobs = Vec::new();
    let mut nodes = Vec::new();
    for (node, job) in graph.jobs() {
        if selected.is_some_and(|s| !s[node.index()]) {
            continue;
        }
        let index = job.entry;
        number.insert(node.index(), addresses.len());
        addresses.push(job.address.clone());
        jobs.push(match job.address.kind {
            JobKind::Builder => JobRef::Builder(index),
            JobKind::Build => JobRef::Build(index),
            JobKind::Sync => JobRef::Sync(index),
            JobKind::Combine => JobRef::Combine(index),
        });
        nodes.push(node);
    }
    let mut caps = Vec::new();
    let mut resource: HashMap<String, usize> = HashMap::new();
    let mut slot = |key: String, cap: u32, caps: &mut Vec<usize>| -> usize {
        *resource.entry(key).or_insert_with(|| {
            caps.push(cap as usize);
            caps.len() - 1
        })
    };
    let mut scheduled = Vec::with_capacity(jobs.len());
    for (&node, job) in nodes.iter().zip(&jobs) {
        let dependencies = graph
            .dependencies(node)
            .filter_map(|dependency| {
                let from = *number.get(&dependency.index())?;
                let only_ordered = graph
                    .reasons(dependency, node)
                    .all(|edge| *edge == Edge::Needs);
                Some((
                    from,
                    if only_ordered {
                        Dependency::Order
                    } else {
                        Dependency::Data
                    },
                ))
            })
            .collect();
        let mut resources = Vec::new();
        for (key, cap) in caps_of(plan, *job) {
            resources.push(slot(key, cap, &mut caps));
        }
        resources.sort_unstable();
        resources.dedup();
        scheduled.push(ScheduledJob {
            dependencies,
            resources,
            timeout,
        });
    }
    PlannedRun {
        schedule: Schedule {
            jobs: scheduled,
            caps,
        },
        addresses,
        jobs,
    }
}

/// The capped resources a job holds while it runs: the nodes it builds on
/// (`max_parallel`) and the registries it talks to (`max_concurrency`).
fn caps_of(plan: &Plan, job: JobRef) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut node_caps = |builder: &str, platform: Option<&crate::plan::platform::Platform>| {
        if let Some(b) = plan.builders.iter().find(|b| b.name.value == builder) {
            for node in &b.nodes {
                let builds_it = platform.is_none_or(|p| {
                    node.platforms.is_empty() || node.platforms.iter().any(|np| np.value == *p)
                });
                if let (Some(cap), true) = (node.max_parallel, builds_it) {
                    out.push((format!("node {builder}/{}", node.name.value), cap));
                }
            }
        }
    };
    let mut images: Vec<&ImageRef> = Vec::new();
    match job {
        JobRef::Builder(_) => {}
        JobRef::Build(i) => {
            let build = &plan.builds[i];
            match &build.builder {
                Placement::Default => {}
                Placement::One(name) => {
                    if build.platforms.is_empty() {
                        node_caps(&name.value, None);
                    }
                    for p in &build.platforms {
                        node_caps(&name.value, Some(&p.value));
                    }
                }
                Placement::PerPlatform(map) => {
                    for (p, name) in map {
                        node_caps(&name.value, Some(&p.value));
                    }
                }
            }
            images.extend(build.tags.iter().map(|t| &t.value));
        }
        JobRef::Sync(i) => {
            let sync = &plan.syncs[i];
            if let Some(builder) = &sync.builder {
                node_caps(&builder.value, None);
            }
            images.push(&sync.from.value);
            images.extend(sync.to.iter().map(|t| &t.value));
        }
        JobRef::Combine(i) => {
            let combine = &plan.combines[i];
            if let Some(builder) = &combine.builder {
                node_caps(&builder.value, None);
            }
            images.extend(combine.from.iter().map(|s| &s.image.value));
            images.extend(combine.to.iter().map(|t| &t.value));
        }
    }
    for image in images {
        if let ImageRef::Registry(r) = image
            && let Some(cap) = plan
                .registries
                .get(&r.registry)
                .and_then(|reg| reg.max_concurrency)
        {
            out.push((format!("registry {}", r.registry), cap));
        }
    }
    out
}
