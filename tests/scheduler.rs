//! The scheduler on random graphs with a fake runner (no buildx): order,
//! caps, exactly-once, failure skipping, continue policies, retries,
//! timeouts and cancellation. Time is tokio's paused clock, so sleeps cost
//! nothing and the tests are deterministic.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buildplan::exec::{
    BoxFuture, ContinuePolicy, Dependency, Event, JobContext, JobError, JobRecord, JobState,
    Options, Outcome, RetryPolicy, Runner, Schedule, ScheduledJob, Subscriber, run,
};
use proptest::prelude::*;
use tokio_util::sync::CancellationToken;

/// A runtime on tokio's paused clock: sleeps cost nothing, times are exact.
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

#[derive(Default)]
struct Log {
    /// (job, sequence number) at start and at end of each attempt.
    starts: Vec<(usize, usize)>,
    ends: Vec<(usize, usize)>,
}

struct FakeRunner {
    durations: Vec<u64>,
    fails: HashSet<usize>,
    /// Jobs that fail transiently this many times before succeeding.
    flaky: Vec<u32>,
    running: AtomicUsize,
    max_running: AtomicUsize,
    per_resource: Vec<AtomicUsize>,
    max_per_resource: Vec<AtomicUsize>,
    resources: Vec<Vec<usize>>,
    sequence: AtomicUsize,
    log: Mutex<Log>,
}

impl Runner for FakeRunner {
    fn run(self: Arc<Self>, context: JobContext) -> BoxFuture<Result<Outcome, JobError>> {
        Box::pin(async move {
            let job = context.job;
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_running.fetch_max(now, Ordering::SeqCst);
            for &r in &self.resources[job] {
                let held = self.per_resource[r].fetch_add(1, Ordering::SeqCst) + 1;
                self.max_per_resource[r].fetch_max(held, Ordering::SeqCst);
            }
            // Like a process that is killed when its attempt is dropped (timeout).
            let _running = Running(Arc::clone(&self), job);
            let seq = self.sequence.fetch_add(1, Ordering::SeqCst);
            self.log.lock().unwrap().starts.push((job, seq));
            let result = tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(self.durations[job])) => {
                    if self.fails.contains(&job) {
                        Err(JobError::fatal("scripted failure"))
                    } else if context.attempt <= self.flaky[job] {
                        Err(JobError::transient("scripted 503"))
                    } else {
                        Ok(Outcome::done(serde_json::json!({ "job": job })))
                    }
                }
                () = context.cancel.cancelled() => Err(JobError::fatal("cancelled")),
            };
            let seq = self.sequence.fetch_add(1, Ordering::SeqCst);
            self.log.lock().unwrap().ends.push((job, seq));
            result
        })
    }
}

struct Running(Arc<FakeRunner>, usize);

impl Drop for Running {
    fn drop(&mut self) {
        for &r in &self.0.resources[self.1] {
            self.0.per_resource[r].fetch_sub(1, Ordering::SeqCst);
        }
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Events(Mutex<Vec<Event>>);

impl Subscriber for Events {
    fn event(&self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

#[derive(Debug, Clone)]
struct Case {
    schedule: Schedule,
    durations: Vec<u64>,
    fails: HashSet<usize>,
    flaky: Vec<u32>,
    parallelism: usize,
}

fn case() -> impl Strategy<Value = Case> {
    (2usize..40).prop_flat_map(|n| {
        (
            proptest::collection::vec(
                proptest::collection::vec((0usize..n, any::<bool>()), 0..3),
                n,
            ),
            proptest::collection::vec(1u64..50, n),
            proptest::collection::hash_set(0..n, 0..3),
            proptest::collection::vec(
                prop_oneof![8 => Just(0u32), 1 => Just(1u32), 1 => Just(2u32)],
                n,
            ),
            proptest::collection::vec(proptest::collection::vec(0usize..3, 0..2), n),
            1usize..6,
            proptest::collection::vec(1usize..3, 3),
        )
            .prop_map(
                move |(deps, durations, fails, flaky, resources, parallelism, caps)| {
                    let jobs = deps
                        .into_iter()
                        .zip(resources)
                        .enumerate()
                        .map(|(job, (deps, mut resources))| {
                            // Edges only point forward: the graph is acyclic.
                            let mut dependencies: Vec<(usize, Dependency)> = deps
                                .into_iter()
                                .filter(|(d, _)| *d < job)
                                .map(|(d, data)| {
                                    (
                                        d,
                                        if data {
                                            Dependency::Data
                                        } else {
                                            Dependency::Order
                                        },
                                    )
                                })
                                .collect();
                            dependencies.sort_by_key(|(d, _)| *d);
                            dependencies.dedup_by_key(|(d, _)| *d);
                            resources.sort_unstable();
                            resources.dedup();
                            ScheduledJob {
                                dependencies,
                                resources,
                                timeout: None,
                            }
                        })
                        .collect();
                    Case {
                        schedule: Schedule { jobs, caps },
                        durations,
                        fails,
                        flaky,
                        parallelism,
                    }
                },
            )
    })
}

fn execute(
    case: &Case,
    policy: ContinuePolicy,
    cancel_after: Option<Duration>,
) -> (Vec<JobRecord>, Arc<FakeRunner>) {
    let (records, runner, _) = execute_with_events(case, policy, cancel_after);
    (records, runner)
}

fn execute_with_events(
    case: &Case,
    policy: ContinuePolicy,
    cancel_after: Option<Duration>,
) -> (Vec<JobRecord>, Arc<FakeRunner>, Vec<Event>) {
    let runtime = paused_runtime();
    let n = case.schedule.jobs.len();
    let runner = Arc::new(FakeRunner {
        durations: case.durations.clone(),
        fails: case.fails.clone(),
        flaky: case.flaky.clone(),
        running: AtomicUsize::new(0),
        max_running: AtomicUsize::new(0),
        per_resource: (0..3).map(|_| AtomicUsize::new(0)).collect(),
        max_per_resource: (0..3).map(|_| AtomicUsize::new(0)).collect(),
        resources: case
            .schedule
            .jobs
            .iter()
            .map(|j| j.resources.clone())
            .collect(),
        sequence: AtomicUsize::new(0),
        log: Mutex::new(Log::default()),
    });
    let options = Options {
        parallelism: case.parallelism,
        continue_policy: policy,
        retry: RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
        },
        grace: Duration::from_millis(100),
        ..Options::default()
    };
    let cancel = CancellationToken::new();
    let log = Arc::new(Events(Mutex::new(Vec::new())));
    let events: Arc<dyn Subscriber> = log.clone();
    let records = runtime.block_on(async {
        if let Some(after) = cancel_after {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                cancel.cancel();
            });
        }
        run(
            &case.schedule,
            Arc::clone(&runner),
            &options,
            cancel,
            events,
        )
        .await
    });
    assert_eq!(records.len(), n);
    let events = log.0.lock().unwrap().clone();
    (records, runner, events)
}

/// Every job downstream of `roots` through the given kind of edges.
fn downstream(case: &Case, roots: &HashSet<usize>, through_order: bool) -> HashSet<usize> {
    let mut reached: HashSet<usize> = HashSet::new();
    for (job, spec) in case.schedule.jobs.iter().enumerate() {
        let hit = spec.dependencies.iter().any(|(d, kind)| {
            (roots.contains(d) || reached.contains(d))
                && (through_order || *kind == Dependency::Data || !roots.contains(d))
        });
        if hit {
            reached.insert(job);
        }
    }
    reached
}

fn check_order_and_caps(case: &Case, runner: &FakeRunner) {
    let log = runner.log.lock().unwrap();
    let last_end = |job: usize| {
        log.ends
            .iter()
            .filter(|(j, _)| *j == job)
            .map(|(_, s)| *s)
            .max()
    };
    for &(job, start) in &log.starts {
        for &(dependency, _) in &case.schedule.jobs[job].dependencies {
            if let Some(end) = last_end(dependency) {
                assert!(
                    end < start,
                    "job {job} started before its dependency {dependency} ended"
                );
            }
        }
    }
    assert!(
        runner.max_running.load(Ordering::SeqCst) <= case.parallelism,
        "more than -j jobs at once"
    );
    for (r, cap) in case.schedule.caps.iter().enumerate() {
        assert!(
            runner.max_per_resource[r].load(Ordering::SeqCst) <= *cap,
            "resource {r} over its cap"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn all_succeed_exactly_once_in_order(mut case in case()) {
        case.fails.clear();
        let (records, runner) = execute(&case, ContinuePolicy::Never, None);
        check_order_and_caps(&case, &runner);
        let log = runner.log.lock().unwrap();
        for (job, record) in records.iter().enumerate() {
            prop_assert_eq!(record.state, JobState::Succeeded);
            prop_assert_eq!(record.attempts, case.flaky[job] + 1);
            // Exactly once on success: one attempt that ended well.
            prop_assert_eq!(log.starts.iter().filter(|(j, _)| *j == job).count() as u32, case.flaky[job] + 1);
        }
    }

    #[test]
    fn dependencies_successful_skips_only_what_depends_on_a_failure(case in case()) {
        let (records, runner) = execute(&case, ContinuePolicy::DependenciesSuccessful, None);
        check_order_and_caps(&case, &runner);
        let failed: HashSet<usize> = case.fails.clone();
        let affected = downstream(&case, &failed, true);
        let log = runner.log.lock().unwrap();
        for (job, record) in records.iter().enumerate() {
            if affected.contains(&job) {
                prop_assert_eq!(record.state, JobState::Skipped);
                prop_assert!(!log.starts.iter().any(|(j, _)| *j == job), "a dependent of a failed job started");
            } else if failed.contains(&job) {
                prop_assert_eq!(record.state, JobState::Failed);
            } else {
                prop_assert_eq!(record.state, JobState::Succeeded, "independent job {} did not finish", job);
            }
        }
    }

    #[test]
    fn never_starts_nothing_after_the_first_failure(case in case()) {
        let (records, runner, events) = execute_with_events(&case, ContinuePolicy::Never, None);
        check_order_and_caps(&case, &runner);
        let log = runner.log.lock().unwrap();
        // Once the scheduler has seen a failure, no job starts (a running
        // job may still retry: it is finishing, not starting).
        let first_failure = events
            .iter()
            .position(|e| matches!(e, Event::Finished { state: JobState::Failed, .. }));
        if let Some(at) = first_failure {
            let started_after = events[at..].iter().any(|e| matches!(e, Event::Started { attempt: 1, .. }));
            prop_assert!(!started_after, "a job started after the first failure");
        }
        for record in &records {
            prop_assert!(record.state != JobState::Cancelled);
        }
        let affected = downstream(&case, &case.fails, true);
        for job in affected {
            prop_assert!(!log.starts.iter().any(|(j, _)| *j == job));
        }
    }

    #[test]
    fn always_runs_jobs_only_ordered_after_a_failure(case in case()) {
        let (records, runner) = execute(&case, ContinuePolicy::Always, None);
        check_order_and_caps(&case, &runner);
        // What consumes a failed or skipped job's output is skipped; the rest succeeds.
        let mut blocked: HashSet<usize> = HashSet::new();
        for (job, spec) in case.schedule.jobs.iter().enumerate() {
            let consumes_a_failure = spec
                .dependencies
                .iter()
                .any(|(d, kind)| *kind == Dependency::Data && (blocked.contains(d) || case.fails.contains(d)));
            if consumes_a_failure {
                blocked.insert(job);
            }
        }
        for (job, record) in records.iter().enumerate() {
            let expected = if blocked.contains(&job) {
                JobState::Skipped
            } else if case.fails.contains(&job) {
                JobState::Failed
            } else {
                JobState::Succeeded
            };
            prop_assert_eq!(record.state, expected, "job {}", job);
        }
    }

    #[test]
    fn interrupt_cancels_running_and_starts_nothing_new(mut case in case(), at in 1u64..60) {
        case.fails.clear();
        let (records, runner) = execute(&case, ContinuePolicy::Never, Some(Duration::from_millis(at)));
        check_order_and_caps(&case, &runner);
        prop_assert_eq!(runner.running.load(Ordering::SeqCst), 0, "a job was left running");
        for record in &records {
            prop_assert!(matches!(record.state, JobState::Succeeded | JobState::Cancelled | JobState::NotStarted));
        }
    }
}

#[test]
fn a_timeout_fails_the_job() {
    let mut case = Case {
        schedule: Schedule {
            jobs: vec![
                ScheduledJob::default(),
                ScheduledJob {
                    dependencies: vec![(0, Dependency::Data)],
                    ..ScheduledJob::default()
                },
            ],
            caps: vec![1, 1, 1],
        },
        durations: vec![1000, 10],
        fails: HashSet::new(),
        flaky: vec![0, 0],
        parallelism: 2,
    };
    case.schedule.jobs[0].timeout = Some(Duration::from_millis(100));
    let (records, runner) = execute(&case, ContinuePolicy::DependenciesSuccessful, None);
    assert_eq!(records[0].state, JobState::Failed);
    assert_eq!(records[0].error.as_deref(), Some("timed out after 0.1s"));
    assert_eq!(records[1].state, JobState::Skipped);
    assert_eq!(
        runner.running.load(Ordering::SeqCst),
        0,
        "the timed-out attempt was dropped"
    );
}

#[test]
fn transient_failures_give_up_after_the_last_attempt() {
    let case = Case {
        schedule: Schedule {
            jobs: vec![ScheduledJob::default()],
            caps: vec![1, 1, 1],
        },
        durations: vec![5],
        fails: HashSet::new(),
        flaky: vec![5],
        parallelism: 1,
    };
    let (records, _) = execute(&case, ContinuePolicy::Never, None);
    assert_eq!(records[0].state, JobState::Failed);
    assert_eq!(records[0].attempts, 3);
    assert_eq!(records[0].error.as_deref(), Some("scripted 503"));
}

/// A runner whose job 0 panics, or ignores cancellation, as scripted.
struct Misbehaving {
    panic: bool,
}

impl Runner for Misbehaving {
    fn run(self: Arc<Self>, context: JobContext) -> BoxFuture<Result<Outcome, JobError>> {
        Box::pin(async move {
            if context.job == 0 {
                assert!(!self.panic, "scripted panic in job 0");
                // Deaf to cancellation: only being dropped stops it.
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok(Outcome::default())
        })
    }
}

fn two_independent_jobs() -> Schedule {
    Schedule {
        jobs: (0..2)
            .map(|_| ScheduledJob {
                dependencies: Vec::new(),
                resources: Vec::new(),
                timeout: None,
            })
            .collect(),
        caps: Vec::new(),
    }
}

#[test]
fn a_panicking_job_is_failed_with_its_message_and_the_others_still_run() {
    let runtime = paused_runtime();
    let options = Options {
        continue_policy: ContinuePolicy::DependenciesSuccessful,
        ..Options::default()
    };
    let records = runtime.block_on(run(
        &two_independent_jobs(),
        Arc::new(Misbehaving { panic: true }),
        &options,
        CancellationToken::new(),
        Arc::new(Events(Mutex::new(Vec::new()))),
    ));
    assert_eq!(records[0].state, JobState::Failed);
    let error = records[0].error.as_deref().unwrap();
    assert!(error.contains("scripted panic in job 0"), "{error}");
    assert_eq!(records[1].state, JobState::Succeeded);
}

/// Runs the deaf job, cancels at 1 s (and aborts at 2 s when `abort`);
/// returns its record and when the run ended.
fn cancel_a_deaf_job(abort: bool) -> (JobRecord, Duration) {
    let runtime = paused_runtime();
    let options = Options {
        grace: Duration::from_secs(60),
        ..Options::default()
    };
    let cancel = CancellationToken::new();
    let (stop, hard) = (cancel.clone(), options.abort.clone());
    runtime.block_on(async {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            stop.cancel();
            if abort {
                tokio::time::sleep(Duration::from_secs(1)).await;
                hard.cancel();
            }
        });
        let started = tokio::time::Instant::now();
        let records = run(
            &two_independent_jobs(),
            Arc::new(Misbehaving { panic: false }),
            &options,
            cancel,
            Arc::new(Events(Mutex::new(Vec::new()))),
        )
        .await;
        (records[0].clone(), started.elapsed())
    })
}

#[test]
fn a_job_deaf_to_ctrl_c_is_dropped_after_the_grace_period() {
    let (record, took) = cancel_a_deaf_job(false);
    assert_eq!(record.state, JobState::Cancelled);
    assert!(
        record.error.as_deref().unwrap().contains("grace period"),
        "{record:?}"
    );
    // Paused clock: exactly the signal, the grace and the margin.
    assert_eq!(took, Duration::from_millis(61_500));
}

#[test]
fn a_second_signal_drops_running_jobs_at_once() {
    let (record, took) = cancel_a_deaf_job(true);
    assert_eq!(record.state, JobState::Cancelled);
    assert!(
        record.error.as_deref().unwrap().contains("second signal"),
        "{record:?}"
    );
    assert_eq!(took, Duration::from_secs(2));
}
