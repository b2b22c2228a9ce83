//! The digests a build's image inputs have now: its base images (`FROM`)
//! and the results of the jobs its named contexts read. Read by the
//! observation (what `diff` compares) and again by `apply` just before the
//! build, once the jobs that make those inputs have run: the fingerprint on
//! the image must name what it was really built from, or the next `diff`
//! would see a change that is not there.

use std::collections::BTreeMap;

use crate::apply::{JobRef, PlannedRun};
use crate::backend::registry::RegistryReader;
use crate::plan::resolved::{Build, ContextSource, Plan};

/// By input name (the reference, or `ADDRESS (context NAME)`); `None` when
/// it cannot be read, which counts as changed: plan never skips a build on
/// a guess.
pub async fn input_digests(
    plan: &Plan,
    build: &Build,
    registries: &RegistryReader,
) -> BTreeMap<String, Option<String>> {
    let mut digests = BTreeMap::new();
    for input in &build.inputs {
        let digest = registries.current(&input.value).await.ok().flatten();
        digests.insert(input.value.to_string(), digest);
    }
    for context in &build.contexts {
        if let ContextSource::Job(address) = &context.value.source {
            let digest = match plan.published_image(address) {
                Some(image) => registries.current(&image.value).await.ok().flatten(),
                None => None,
            };
            digests.insert(context_input(address, &context.value.name), digest);
        }
    }
    digests
}

/// The input name of a named context that is another job's result.
pub fn context_input(address: &crate::plan::address::Address, name: &str) -> String {
    format!("{address} (context {name})")
}

/// The inputs of a build that jobs of the run make, by input name, with
/// the index (in the run) of the job that makes each.
pub fn made_in_run(plan: &Plan, run: &PlannedRun, build: &Build) -> Vec<(String, usize)> {
    let mut made = Vec::new();
    for context in &build.contexts {
        if let ContextSource::Job(address) = &context.value.source
            && let Some(job) = run.addresses.iter().position(|a| a == address)
        {
            made.push((context_input(address, &context.value.name), job));
        }
    }
    for input in &build.inputs {
        let maker = run.jobs.iter().position(|job| match job {
            JobRef::Build(i) => {
                plan.builds[*i].push && plan.builds[*i].tags.iter().any(|t| t.value == input.value)
            }
            JobRef::Sync(i) => plan.syncs[*i].to.iter().any(|t| t.value == input.value),
            JobRef::Combine(i) => plan.combines[*i].to.iter().any(|t| t.value == input.value),
            JobRef::Builder(_) => false,
        });
        if let Some(job) = maker {
            made.push((input.value.to_string(), job));
        }
    }
    made
}

/// Whether another job of the plan makes one of the build's inputs (so it
/// may change during a run).
pub fn reads_job_results(plan: &Plan, build: &Build) -> bool {
    build
        .contexts
        .iter()
        .any(|c| matches!(c.value.source, ContextSource::Job(_)))
        || build
            .inputs
            .iter()
            .any(|input| plan.is_produced(&input.value))
}
