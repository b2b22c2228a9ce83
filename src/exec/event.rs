//! What the scheduler says while it runs, and what it leaves behind.

use std::time::Duration;

use serde::Serialize;

/// How a job ended. Every job of a run ends in exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Succeeded,
    Failed,
    /// A job it depends on failed, so it did not run.
    Skipped,
    /// It was running when the run was interrupted.
    Cancelled,
    /// The run stopped (a failure under `--continue never`, or an interrupt) before it started.
    NotStarted,
}

/// Events, in the order they happen. `job` is the job's index in the schedule.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    Started {
        job: usize,
        attempt: u32,
    },
    /// The current step of a running job ("[2/3] COPY hello.txt /").
    Step {
        job: usize,
        step: String,
    },
    /// One line of the job's output, for logs.
    Output {
        job: usize,
        line: String,
    },
    Retrying {
        job: usize,
        attempt: u32,
        delay_ms: u64,
        error: String,
    },
    Finished {
        job: usize,
        state: JobState,
        duration_ms: Option<u64>,
        error: Option<String>,
    },
    /// Ctrl-C or SIGTERM: nothing new starts; running jobs are being stopped.
    Interrupted,
}

/// Receives the events of a run. Reporters (bars, logs, JSON) implement it.
pub trait Subscriber: Send + Sync {
    fn event(&self, event: &Event);
}

/// What the run recorded for one job.
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    pub state: JobState,
    pub attempts: u32,
    #[serde(skip)]
    pub duration: Option<Duration>,
    pub error: Option<String>,
    /// What the job produced (digests, tags), as the runner reported it.
    pub outcome: super::runner::Outcome,
}

impl JobRecord {
    pub(crate) fn pending() -> Self {
        Self {
            state: JobState::NotStarted,
            attempts: 0,
            duration: None,
            error: None,
            outcome: super::runner::Outcome::default(),
        }
    }
}
