//! What a `docker` builder's engine cannot do, said before anything runs.
//! BuildKit is built into the engine, so the `docker` driver can do what
//! that engine's BuildKit and image store can: on the classic image store
//! (Docker 20.10, or a newer engine without containerd snapshotters) it
//! builds one platform at a time, exports only inline cache and keeps no
//! attestations; before Docker 23 it
//! takes no named build contexts. Found from the observed engines, so `diff`
//! says it as `apply` would.

use std::collections::HashMap;

use crate::apply::{JobRef, PlannedRun};
use crate::backend::engine_info::EngineInfo;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::resolved::{At, Build, CacheKind, Driver, Placement, Plan, Provenance, Strategy};

use super::observe::Observation;

/// A diagnostic for each thing a build of the run asks of an engine that
/// cannot do it.
pub fn unsupported(plan: &Plan, run: &PlannedRun, observed: &[Observation]) -> Vec<Diagnostic> {
    // The engine of each `docker` builder of the run, by builder name (an
    // engine is only observed for a `docker` builder).
    let engines: HashMap<&str, &EngineInfo> = run
        .jobs
        .iter()
        .zip(observed)
        .filter_map(|(job, observation)| match (job, observation) {
            (JobRef::Builder(i), Observation::Engine(Ok(engine)))
                if plan.builders[*i].driver == Driver::Docker =>
            {
                Some((plan.builders[*i].name.value.as_str(), engine))
            }
            _ => None,
        })
        .collect();
    let mut diagnostics = Vec::new();
    for job in &run.jobs {
        let JobRef::Build(i) = job else { continue };
        let build = &plan.builds[*i];
        for builder in builders_of(build) {
            if let Some(engine) = engines.get(builder.value.as_str()) {
                check(build, builder, engine, &mut diagnostics);
            }
        }
    }
    diagnostics
}

fn builders_of(build: &Build) -> Vec<&At<String>> {
    match &build.builder {
        Placement::Default => Vec::new(),
        Placement::One(name) => vec![name],
        Placement::PerPlatform(map) => {
            let mut names: Vec<&At<String>> = Vec::new();
            for (_, name) in map {
                if !names.iter().any(|n| n.value == name.value) {
                    names.push(name);
                }
            }
            names
        }
    }
}

fn check(build: &Build, builder: &At<String>, engine: &EngineInfo, out: &mut Vec<Diagnostic>) {
    let name = &build.name.value;
    let on = format!(
        "`docker` builder `{}` ({})",
        builder.value,
        engine.describe()
    );
    let other_engine = "or build on a `docker-container` builder, or on an engine with the containerd image store (Docker 24 or later with `\"features\": {\"containerd-snapshotter\": true}`)";
    if !engine.containerd_store {
        if build.strategy == Strategy::Multi && build.platforms.len() > 1 {
            out.push(
                Diagnostic::error(
                    "plan::driver-limit",
                    format!("build `{name}` builds several platforms at once, which {on} cannot"),
                )
                .label(builder.at, "on this builder")
                .help(format!(
                    "use `strategy: split` (one build per platform, then combined; the default), {other_engine}"
                )),
            );
        }
        if let Some(cache) = build
            .run
            .cache
            .as_ref()
            .filter(|cache| cache.value.kind != CacheKind::Inline)
        {
            let kind = format!("{:?}", cache.value.kind).to_lowercase();
            out.push(
                Diagnostic::error(
                    "plan::driver-limit",
                    format!("build `{name}` exports `{kind}` cache, which {on} cannot"),
                )
                .label(cache.at, "this cache")
                .label(builder.at, "on this builder")
                .help(format!(
                    "use `cache: inline` (the cache travels in the image), {other_engine}"
                )),
            );
        }
        for to in &build.run.cache_to {
            if !to.split(',').any(|part| part.trim() == "type=inline") {
                out.push(
                    Diagnostic::error(
                        "plan::driver-limit",
                        format!("build `{name}` exports cache `{to}`, which {on} cannot"),
                    )
                    .label(build.name.at, "this build's `cache_to`")
                    .label(builder.at, "on this builder")
                    .help(format!("export `type=inline` only, {other_engine}")),
                );
            }
        }
        let provenance = build.run.provenance.is_some_and(|p| p != Provenance::Off);
        if provenance || build.run.sbom == Some(true) {
            out.push(
                Diagnostic::error(
                    "plan::driver-limit",
                    format!("build `{name}` asks for attestations, which {on} cannot store"),
                )
                .label(build.name.at, "this build's `attest`")
                .label(builder.at, "on this builder")
                .help(format!(
                    "remove `attest` (or set `provenance: false`), {other_engine}"
                )),
            );
        }
    }
    if !engine.named_contexts() {
        for context in &build.contexts {
            out.push(
                Diagnostic::error(
                    "plan::driver-limit",
                    format!(
                        "build `{name}` has a named context `{}`, which {on} cannot take (its BuildKit predates named contexts)",
                        context.value.name
                    ),
                )
                .label(context.at, "this context")
                .label(builder.at, "on this builder")
                .help("build it on a `docker-container` builder, or on Docker 23 or later"),
            );
        }
    }
}
