//! The input of the scheduler: a plain graph of numbered jobs.

use std::time::Duration;

/// Why a job waits for another: for its output, or only to run after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    /// It consumes the other job's result (an image, a builder).
    Data,
    /// It only runs after it (`needs:`).
    Order,
}

#[derive(Debug, Clone, Default)]
pub struct ScheduledJob {
    pub dependencies: Vec<(usize, Dependency)>,
    /// Indexes into [`Schedule::caps`]: each running job holds one slot of each.
    pub resources: Vec<usize>,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Default)]
pub struct Schedule {
    pub jobs: Vec<ScheduledJob>,
    /// How many jobs may hold each resource at once (a node's `max_parallel`, a registry's `max_concurrency`).
    pub caps: Vec<usize>,
}

impl Schedule {
    /// For each job, the jobs that depend on it, and how.
    pub fn dependents(&self) -> Vec<Vec<(usize, Dependency)>> {
        let mut dependents = vec![Vec::new(); self.jobs.len()];
        for (job, spec) in self.jobs.iter().enumerate() {
            for &(dependency, kind) in &spec.dependencies {
                dependents[dependency].push((job, kind));
            }
        }
        dependents
    }
}
