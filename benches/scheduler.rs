//! How close the scheduler gets to the best possible schedule.
//!
//! Random 1,000-job DAGs with fake jobs of known durations (real sleeps, real
//! clock). The best possible wall time is the larger of the critical path
//! and the total work divided by the parallelism; the ratio of the measured
//! time to it is the scheduler's efficiency (goal: under 1.05). A second run
//! with zero-length jobs gives the overhead per job (goal: under 1 ms).
//!
//! Run: `cargo bench --bench scheduler`

#![allow(clippy::print_stdout)] // a benchmark: its report is its output

use std::sync::Arc;
use std::time::{Duration, Instant};

use buildplan::exec::{
    BoxFuture, ContinuePolicy, Dependency, Event, JobContext, JobError, Options, Outcome,
    RetryPolicy, Runner, Schedule, ScheduledJob, Subscriber, run,
};
use tokio_util::sync::CancellationToken;

/// Sleeps each job's duration and records how long it really took: timers
/// round up to the next millisecond, which is the fake job's error, not the
/// scheduler's, so the bound is computed from the real durations.
struct Sleeper {
    durations: Vec<Duration>,
    actual: std::sync::Mutex<Vec<Duration>>,
}

impl Runner for Sleeper {
    fn run(self: Arc<Self>, context: JobContext) -> BoxFuture<Result<Outcome, JobError>> {
        Box::pin(async move {
            let duration = self.durations[context.job];
            let started = Instant::now();
            if !duration.is_zero() {
                tokio::time::sleep(duration).await;
            }
            self.actual.lock().unwrap()[context.job] = started.elapsed();
            Ok(Outcome::default())
        })
    }
}

struct Quiet;

impl Subscriber for Quiet {
    fn event(&self, _: &Event) {}
}

/// A small deterministic generator, so every run measures the same graphs.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn graph(n: usize, seed: u64, max_ms: u64) -> (Schedule, Vec<Duration>) {
    let mut rng = Lcg(seed);
    let mut jobs = Vec::with_capacity(n);
    let mut durations = Vec::with_capacity(n);
    for job in 0..n {
        let mut dependencies = Vec::new();
        if job > 0 {
            for _ in 0..(rng.next() % 3) {
                // Mostly near neighbours: chains and fan-in, like real plans.
                let back = 1 + (rng.next() as usize % job.min(50));
                dependencies.push((job - back, Dependency::Data));
            }
        }
        dependencies.sort_by_key(|(d, _)| *d);
        dependencies.dedup_by_key(|(d, _)| *d);
        jobs.push(ScheduledJob {
            dependencies,
            resources: Vec::new(),
            timeout: None,
        });
        durations.push(Duration::from_millis(if max_ms == 0 {
            0
        } else {
            1 + rng.next() % max_ms
        }));
    }
    (
        Schedule {
            jobs,
            caps: Vec::new(),
        },
        durations,
    )
}

fn best_possible(schedule: &Schedule, durations: &[Duration], parallelism: usize) -> Duration {
    let mut finish = vec![Duration::ZERO; durations.len()];
    for (job, spec) in schedule.jobs.iter().enumerate() {
        let ready = spec
            .dependencies
            .iter()
            .map(|(d, _)| finish[*d])
            .max()
            .unwrap_or_default();
        finish[job] = ready + durations[job];
    }
    let critical = finish.into_iter().max().unwrap_or_default();
    let total: Duration = durations.iter().sum();
    critical.max(total / parallelism as u32)
}

/// The wall time, and the durations the jobs really had.
fn measure(
    schedule: &Schedule,
    durations: &[Duration],
    parallelism: usize,
) -> (Duration, Vec<Duration>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let options = Options {
        parallelism,
        continue_policy: ContinuePolicy::Never,
        retry: RetryPolicy::default(),
        grace: Duration::from_secs(1),
        ..Options::default()
    };
    let runner = Arc::new(Sleeper {
        durations: durations.to_vec(),
        actual: std::sync::Mutex::new(vec![Duration::ZERO; durations.len()]),
    });
    let started = Instant::now();
    runtime.block_on(run(
        schedule,
        Arc::clone(&runner),
        &options,
        CancellationToken::new(),
        Arc::new(Quiet),
    ));
    let elapsed = started.elapsed();
    let actual = runner.actual.lock().unwrap().clone();
    (elapsed, actual)
}

fn main() {
    let n = 1000;
    println!(
        "| graph | -j | best possible (nominal) | best possible (jobs as they ran) | measured | ratio |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let mut worst: f64 = 0.0;
    for (seed, parallelism) in [(1, 4), (2, 10), (3, 32)] {
        let (schedule, durations) = graph(n, seed, 40);
        let nominal = best_possible(&schedule, &durations, parallelism);
        let (measured, actual) = measure(&schedule, &durations, parallelism);
        let best = best_possible(&schedule, &actual, parallelism);
        let ratio = measured.as_secs_f64() / best.as_secs_f64();
        worst = worst.max(ratio);
        println!(
            "| 1,000 jobs, seed {seed} | {parallelism} | {:.3} s | {:.3} s | {:.3} s | {ratio:.3} |",
            nominal.as_secs_f64(),
            best.as_secs_f64(),
            measured.as_secs_f64()
        );
    }
    let (schedule, durations) = graph(n, 4, 0);
    let (measured, _) = measure(&schedule, &durations, 10);
    let per_job = measured.as_secs_f64() * 1e6 / n as f64;
    println!(
        "\nOverhead: 1,000 zero-length jobs in {:.1} ms, {per_job:.1} µs per job.",
        measured.as_secs_f64() * 1000.0
    );
    println!(
        "Worst ratio: {worst:.3} (goal < 1.05); overhead per job {per_job:.1} µs (goal < 1000 µs)."
    );
}
