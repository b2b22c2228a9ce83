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
    let count = schedule.jobs.len();
    let dependents = schedule.dependents();
    let mut records: Vec<JobRecord> = (0..count).map(|_| JobRecord::pending()).collect();
    let mut waiting_for: Vec<usize> = schedule.jobs.iter().map(|j| j.dependencies.len()).collect();
    let mut done = vec![false; count];
    // Ready jobs start longest-chain first: what many jobs wait on goes first,
    // so the critical path is never the last thing started.
    let height = heights(schedule, &dependents);
    let key = |job: usize| (std::cmp::Reverse(height[job]), job);
    let mut ready: BTreeSet<(std::cmp::Reverse<usize>, usize)> = (0..count)
        .filter(|&j| waiting_for[j] == 0)
        .map(key)
        .collect();
    let mut in_use = vec![0usize; schedule.caps.len()];
    let mut running: JoinSet<Finished> = JoinSet::new();
    let mut stopping = false;
    let mut interrupted = false;
    let parallelism = options.parallelism.max(1);

    loop {
        if !stopping {
            let startable: Vec<usize> = ready
                .iter()
                .map(|&(_, job)| job)
                .filter(|&job| {
                    schedule.jobs[job]
                        .resources
                        .iter()
                        .all(|&r| in_use[r] < schedule.caps[r])
                })
                .collect();
            for job in startable {
                if running.len() >= parallelism {
                    break;
                }
                // Caps may have filled up with the jobs started in this pass.
                if !schedule.jobs[job]
                    .resources
                    .iter()
                    .all(|&r| in_use[r] < schedule.caps[r])
                {
                    continue;
                }
                for &r in &schedule.jobs[job].resources {
                    in_use[r] += 1;
                }
                ready.remove(&key(job));
                // Said here, not in the task, so the event order is the order of decisions.
                events.event(&Event::Started { job, attempt: 1 });
                running.spawn(attempt_job(
                    job, schedule, &runner, options, &cancel, &events,
                ));
            }
        }
        if running.is_empty() {
            break;
        }
        let finished = tokio::select! {
            joined = running.join_next() => joined,
            () = cancel.cancelled(), if !interrupted => {
                interrupted = true;
                stopping = true;
                events.event(&Event::Interrupted);
                continue;
            }
        };
        let Some(joined) = finished else { break };
        let Ok(finished) = joined else {
            // A runner panicked: the task is gone, and so is its job number.
            // Stop starting work; the job is reported as not started below.
            stopping = true;
            continue;
        };
        let job = finished.job;
        for &r in &schedule.jobs[job].resources {
            in_use[r] -= 1;
        }
        done[job] = true;
        let duration = finished.started.elapsed();
        let record = &mut records[job];
        record.attempts = finished.attempts;
        record.duration = Some(duration);
        match finished.result {
            Ok(outcome) => {
                record.state = JobState::Succeeded;
                record.outcome = outcome;
                for &(dependent, _) in &dependents[job] {
                    waiting_for[dependent] -= 1;
                    if waiting_for[dependent] == 0 && !done[dependent] {
                        ready.insert(key(dependent));
                    }
                }
            }
            Err(error) => {
                record.state = if cancel.is_cancelled() {
                    JobState::Cancelled
                } else {
                    JobState::Failed
                };
                record.error = Some(error.message);
                if record.state == JobState::Failed {
                    if options.continue_policy == ContinuePolicy::Never {
                        stopping = true;
                    }
                    let released = skip_dependents(
                        job,
                        &dependents,
                        options.continue_policy,
                        &mut waiting_for,
                        &mut done,
                        &mut records,
                        &events,
                    );
                    for dependent in released {
                        ready.insert(key(dependent));
                    }
                    ready.retain(|&(_, j)| !done[j]);
                }
            }
        }
        events.event(&Event::Finished {
            job,
            state: records[job].state,
            duration_ms: Some(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)),
            error: records[job].error.clone(),
        });
    }
    for (job, record) in records.iter().enumerate() {
        if !done[job] {
            events.event(&Event::Finished {
                job,
                state: record.state,
                duration_ms: None,
                error: None,
            });
        }
    }
    records
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
