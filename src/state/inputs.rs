//! The digests a build's image inputs have now: its base images (`FROM`)
//! and the results of the jobs its named contexts read. Read by the
//! observation (what `diff` compares) and again by `apply` just before the
//! build, once the jobs that make those inputs have run: the fingerprint on
//! the image must name what it was really built from, or the next `diff`
//! would see a change that is not there.

use std::collections::BTreeMap;

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
            digests.insert(
                format!("{address} (context {})", context.value.name),
                digest,
            );
        }
    }
    digests
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
