//! The digests a build's image inputs have now: its base images (`FROM`)
//! and the results of the jobs its named contexts read. Read by the
//! observation (what `diff` compares) and again by `apply` just before the
//! build, once the jobs that make those inputs have run: the fingerprint on
//! the image must name what it was really built from, or the next `diff`
//! would see a change that is not there.

use std::collections::{BTreeMap, HashMap};

use crate::apply::{JobRef, PlannedRun};
use crate::backend::registry::RegistryReader;
use crate::plan::address::Address;
use crate::plan::reference::ImageRef;
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
pub fn context_input(address: &Address, name: &str) -> String {
    format!("{address} (context {name})")
}

/// Which job of a run makes each image and answers to each address,
/// found once for the run (a 5,000-build plan asks for every build).
pub struct Makers {
    by_image: HashMap<ImageRef, usize>,
    by_address: HashMap<Address, usize>,
}

impl Makers {
    pub fn of(plan: &Plan, run: &PlannedRun) -> Self {
        let mut by_image = HashMap::new();
        for (index, job) in run.jobs.iter().enumerate() {
            let targets = match job {
                JobRef::Build(i) if plan.builds[*i].push => &plan.builds[*i].tags,
                JobRef::Sync(i) => &plan.syncs[*i].to,
                JobRef::Combine(i) => &plan.combines[*i].to,
                JobRef::Build(_) | JobRef::Builder(_) => continue,
            };
            for target in targets {
                by_image.entry(target.value.clone()).or_insert(index);
            }
        }
        let by_address = run
            .addresses
            .iter()
            .enumerate()
            .map(|(index, address)| (address.clone(), index))
            .collect();
        Self {
            by_image,
            by_address,
        }
    }

    /// The inputs of a build that jobs of the run make, by input name, with
    /// the index (in the run) of the job that makes each.
    pub fn made_in_run(&self, build: &Build) -> Vec<(String, usize)> {
        let mut made = Vec::new();
        for context in &build.contexts {
            if let ContextSource::Job(address) = &context.value.source
                && let Some(&job) = self.by_address.get(address)
            {
                made.push((context_input(address, &context.value.name), job));
            }
        }
        for input in &build.inputs {
            if let Some(&job) = self.by_image.get(&input.value) {
                made.push((input.value.to_string(), job));
            }
        }
        made
    }
}
