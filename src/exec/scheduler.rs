//! One dispatcher loop: a ready queue, caps, a `JoinSet` of running jobs.
//!
//! Policy lives in small decisions here (what a failure skips, whether new
//! jobs start); the walk itself is the same for every policy.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::event::{Event, JobRecord, JobState, Subscriber};
use super::policy::{ContinuePolicy, Options};
use super::runner::{JobContext, JobError, Runner};
use super::schedule::{Dependency, Schedule};

struct Finished {
    job: usize,
    result: Result<super::runner::Outcome, JobError>,
    attempts: u32,
    started: Instant,
}

/// Runs every job of `schedule` it can; returns one record per job.
/// Cancelling `cancel` (Ctrl-C) starts nothing new and asks running jobs to stop.
pub async fn run<R: Runner>(
    schedule: &Schedule,
    runner: Arc<R>,
    options: &Options,
    cancel: CancellationToken,
    events: Arc<dyn Subscriber>,
) -> Vec<JobRecord> {
    let mut walk = Walk::new(schedule, options, events);
    loop {
        if !walk.stopping {
            walk.start_ready(&runner, &cancel);
        }
        if walk.running.is_empty() {
            break;
        }
        let finished = tokio::select! {
            joined = walk.running.join_next() => joined,
            () = cancel.cancelled(), if !walk.interrupted => {
                walk.interrupted = true;
                walk.stopping = true;
                walk.events.event(&Event::Interrupted);
                continue;
            }
        };
        let Some(joined) = finished else { break };
        let Ok(finished) = joined else {
            // The task itself is gone (not a panic: attempts catch those).
            // Stop starting work; the job is reported as not started below.
            walk.stopping = true;
            continue;
        };
        walk.finish(finished, cancel.is_cancelled());
    }
    walk.say_unfinished();
    walk.records
}

/// The state of one walk over the graph: what is done, ready and running.
struct Walk<'a> {
    schedule: &'a Schedule,
    options: &'a Options,
    events: Arc<dyn Subscriber>,
    dependents: Vec<Vec<(usize, Dependency)>>,
    records: Vec<JobRecord>,
    /// Dependencies each job still waits for.
    waiting_for: Vec<usize>,
    done: Vec<bool>,
    /// Longest chain of jobs waiting on each job: the ready order.
    height: Vec<usize>,
    ready: BTreeSet<(std::cmp::Reverse<usize>, usize)>,
    /// Slots of each capped resource in use.
    in_use: Vec<usize>,
    running: JoinSet<Finished>,
    /// Start nothing new (a failure under `never`, or Ctrl-C).
    stopping: bool,
    interrupted: bool,
}

impl<'a> Walk<'a> {
    fn new(schedule: &'a Schedule, options: &'a Options, events: Arc<dyn Subscriber>) -> Self {
        let count = schedule.jobs.len();
        let dependents = schedule.dependents();
        let height = heights(schedule, &dependents);
        let waiting_for: Vec<usize> = schedule.jobs.iter().map(|j| j.dependencies.len()).collect();
        let mut walk = Self {
            schedule,
            options,
            events,
            dependents,
            records: (0..count).map(|_| JobRecord::pending()).collect(),
            waiting_for,
            done: vec![false; count],
            height,
            ready: BTreeSet::new(),
            in_use: vec![0; schedule.caps.len()],
            running: JoinSet::new(),
            stopping: false,
            interrupted: false,
        };
        // Ready jobs start longest-chain first: what many jobs wait on goes
        // first, so the critical path is never the last thing started.
        for job in (0..count).filter(|&j| walk.waiting_for[j] == 0) {
            walk.ready.insert(walk.key(job));
        }
        walk
    }

    fn key(&self, job: usize) -> (std::cmp::Reverse<usize>, usize) {
        (std::cmp::Reverse(self.height[job]), job)
    }

    fn fits(&self, job: usize) -> bool {
        self.schedule.jobs[job]
            .resources
            .iter()
            .all(|&r| self.in_use[r] < self.schedule.caps[r])
    }

    /// Starts ready jobs while `-j` and every cap they hold allow.
    fn start_ready<R: Runner>(&mut self, runner: &Arc<R>, cancel: &CancellationToken) {
        let parallelism = self.options.parallelism.max(1);
        let startable: Vec<usize> = self
            .ready
            .iter()
            .map(|&(_, job)| job)
            .filter(|&job| self.fits(job))
            .collect();
        for job in startable {
            if self.running.len() >= parallelism {
                break;
            }
            // Caps may have filled up with the jobs started in this pass.
            if !self.fits(job) {
                continue;
            }
            for &r in &self.schedule.jobs[job].resources {
                self.in_use[r] += 1;
            }
            self.ready.remove(&self.key(job));
            // Said here, not in the task, so the event order is the order of decisions.
            self.events.event(&Event::Started { job, attempt: 1 });
            self.running.spawn(attempt_job(
                job,
                self.schedule,
                runner,
                self.options,
                cancel,
                &self.events,
            ));
        }
    }

    /// Records a finished job; releases what waited on it, or skips what
    /// its failure leaves without input.
    fn finish(&mut self, finished: Finished, cancelled: bool) {
        let job = finished.job;
        for &r in &self.schedule.jobs[job].resources {
            self.in_use[r] -= 1;
        }
        self.done[job] = true;
        let duration = finished.started.elapsed();
        let record = &mut self.records[job];
        record.attempts = finished.attempts;
        record.duration = Some(duration);
        match finished.result {
            Ok(outcome) => {
                record.state = JobState::Succeeded;
                record.outcome = outcome;
                for &(dependent, _) in &self.dependents[job] {
                    self.waiting_for[dependent] -= 1;
                    if self.waiting_for[dependent] == 0 && !self.done[dependent] {
                        self.ready.insert(self.key(dependent));
                    }
                }
            }
            Err(error) => {
                record.state = if cancelled {
                    JobState::Cancelled
                } else {
                    JobState::Failed
                };
                record.error = Some(error.message);
                if record.state == JobState::Failed {
                    self.failed(job);
                }
            }
        }
        self.events.event(&Event::Finished {
            job,
            state: self.records[job].state,
            duration_ms: Some(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)),
            error: self.records[job].error.clone(),
        });
    }

    /// After a failure: the continue policy, and what it skips.
    fn failed(&mut self, job: usize) {
        if self.options.continue_policy == ContinuePolicy::Never {
            self.stopping = true;
        }
        let released = skip_dependents(
            job,
            &self.dependents,
            self.options.continue_policy,
            &mut self.waiting_for,
            &mut self.done,
            &mut self.records,
            &self.events,
        );
        for dependent in released {
            self.ready.insert(self.key(dependent));
        }
        let done = &self.done;
        self.ready.retain(|&(_, j)| !done[j]);
    }

    /// Every job that never finished is said so (not started, or skipped).
    fn say_unfinished(&self) {
        for (job, record) in self.records.iter().enumerate() {
            if !self.done[job] {
                self.events.event(&Event::Finished {
                    job,
                    state: record.state,
                    duration_ms: None,
                    error: None,
                });
            }
        }
    }
}

/// The longest chain of jobs waiting on each job (itself included).
fn heights(schedule: &Schedule, dependents: &[Vec<(usize, Dependency)>]) -> Vec<usize> {
    let count = schedule.jobs.len();
    let mut remaining: Vec<usize> = dependents.iter().map(Vec::len).collect();
    let mut height = vec![1usize; count];
    let mut stack: Vec<usize> = (0..count).filter(|&j| remaining[j] == 0).collect();
    while let Some(job) = stack.pop() {
        for &(dependency, _) in &schedule.jobs[job].dependencies {
            height[dependency] = height[dependency].max(height[job] + 1);
            remaining[dependency] -= 1;
            if remaining[dependency] == 0 {
                stack.push(dependency);
            }
        }
    }
    height
}

/// After a failure: what consumes its output is skipped, and so on down.
/// Under `always`, a job only ordered after it (`needs:`) still runs: those
/// that became ready are returned.
fn skip_dependents(
    failed: usize,
    dependents: &[Vec<(usize, Dependency)>],
    policy: ContinuePolicy,
    waiting_for: &mut [usize],
    done: &mut [bool],
    records: &mut [JobRecord],
    events: &Arc<dyn Subscriber>,
) -> Vec<usize> {
    let mut released = Vec::new();
    let mut stack = vec![failed];
    while let Some(job) = stack.pop() {
        for &(dependent, kind) in &dependents[job] {
            if done[dependent] {
                continue;
            }
            if policy == ContinuePolicy::Always && kind == Dependency::Order {
                waiting_for[dependent] -= 1;
                if waiting_for[dependent] == 0 {
                    released.push(dependent);
                }
                continue;
            }
            done[dependent] = true;
            records[dependent].state = JobState::Skipped;
            events.event(&Event::Finished {
                job: dependent,
                state: JobState::Skipped,
                duration_ms: None,
                error: None,
            });
            stack.push(dependent);
        }
    }
    released
}

/// What an attempt gets past `--grace` to finish stopping (its kill to land).
const STOP_MARGIN: std::time::Duration = std::time::Duration::from_millis(500);

/// A job's attempt with a panic in it turned into a failure with the
/// panic's message, instead of a lost task.
async fn guarded(
    work: super::runner::BoxFuture<Result<super::runner::Outcome, JobError>>,
) -> Result<super::runner::Outcome, JobError> {
    use futures_util::FutureExt as _;
    match std::panic::AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            Err(JobError::fatal(format!(
                "internal error: the job panicked: {message} (a bug in plan; please report it)"
            )))
        }
    }
}

/// One job: attempts with timeouts and backoff, until success, a fatal
/// error, the last attempt, or cancellation.
fn attempt_job<R: Runner>(
    job: usize,
    schedule: &Schedule,
    runner: &Arc<R>,
    options: &Options,
    cancel: &CancellationToken,
    events: &Arc<dyn Subscriber>,
) -> impl std::future::Future<Output = Finished> + Send + 'static {
    let runner = Arc::clone(runner);
    let events = Arc::clone(events);
    let cancel = cancel.clone();
    let timeout = schedule.jobs[job].timeout;
    let retry = options.retry;
    let grace = options.grace;
    let abort = options.abort.clone();
    async move {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            if attempt > 1 {
                events.event(&Event::Started { job, attempt });
            }
            let context = JobContext::new(
                job,
                attempt,
                cancel.child_token(),
                grace,
                Arc::clone(&events),
            );
            let work = guarded(Arc::clone(&runner).run(context));
            let limited = async {
                match timeout {
                    // Dropping the attempt on timeout kills its processes (see backend::process).
                    Some(limit) => tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
                        Err(JobError::fatal(format!(
                            "timed out after {}s",
                            limit.as_secs_f64()
                        )))
                    }),
                    None => work.await,
                }
            };
            // After Ctrl-C an attempt gets the grace period to stop by itself
            // (its commands are signalled, its transfers dropped); one that
            // outlasts it, or any after a second signal, is dropped here.
            let result = tokio::select! {
                result = limited => result,
                () = async {
                    cancel.cancelled().await;
                    tokio::time::sleep(grace + STOP_MARGIN).await;
                } => Err(JobError::fatal("interrupted: did not stop within the grace period")),
                () = abort.cancelled() => Err(JobError::fatal("interrupted at once (second signal)")),
            };
            match result {
                Err(error)
                    if error.transient && attempt < retry.attempts && !cancel.is_cancelled() =>
                {
                    let delay = retry.delay(attempt, error.retry_after);
                    events.event(&Event::Retrying {
                        job,
                        attempt,
                        delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        error: error.message.clone(),
                    });
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = cancel.cancelled() => {
                            return Finished { job, result: Err(error), attempts: attempt, started };
                        }
                    }
                    attempt += 1;
                }
                result => {
                    return Finished {
                        job,
                        result,
                        attempts: attempt,
                        started,
                    };
                }
            }
        }
    }
}
