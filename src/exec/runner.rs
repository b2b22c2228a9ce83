//! What the scheduler asks of the code that does the work.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::event::{Event, Subscriber};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Why an attempt failed.
#[derive(Debug, Clone)]
pub struct JobError {
    pub message: String,
    /// Worth another attempt (a dropped connection, a registry 429/5xx).
    pub transient: bool,
    /// The server said when to come back.
    pub retry_after: Option<Duration>,
}

impl JobError {
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            transient: false,
            retry_after: None,
        }
    }

    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            transient: true,
            ..Self::fatal(message)
        }
    }
}

/// Handed to each attempt: where to report, and when to stop.
#[derive(Clone)]
pub struct JobContext {
    pub job: usize,
    pub attempt: u32,
    /// Cancelled on Ctrl-C: stop the work (signal, grace period, kill).
    pub cancel: CancellationToken,
    pub grace: Duration,
    events: Arc<dyn Subscriber>,
}

impl JobContext {
    pub(crate) fn new(
        job: usize,
        attempt: u32,
        cancel: CancellationToken,
        grace: Duration,
        events: Arc<dyn Subscriber>,
    ) -> Self {
        Self {
            job,
            attempt,
            cancel,
            grace,
            events,
        }
    }

    pub fn step(&self, step: impl Into<String>) {
        self.events.event(&Event::Step {
            job: self.job,
            step: step.into(),
        });
    }

    pub fn output(&self, line: impl Into<String>) {
        self.events.event(&Event::Output {
            job: self.job,
            line: line.into(),
        });
    }
}

/// What a job that succeeded reports: whether it had anything to do, and
/// what it produced, for the summary file.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Outcome {
    /// It was already as the plan says: nothing ran.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unchanged: bool,
    /// What it produced (digests, tags, transfer), as the summary shows it.
    #[serde(flatten)]
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl Outcome {
    /// Work done; `detail` must serialize as an object (anything else is
    /// kept under `detail`).
    pub fn done(detail: impl serde::Serialize) -> Self {
        let detail = match serde_json::to_value(detail) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(other) => serde_json::Map::from_iter([("detail".to_owned(), other)]),
            Err(err) => serde_json::Map::from_iter([(
                "detail".to_owned(),
                serde_json::Value::String(format!("(not serializable: {err})")),
            )]),
        };
        Self {
            unchanged: false,
            detail,
        }
    }

    /// Nothing to do, and why.
    pub fn unchanged(reason: impl Into<String>) -> Self {
        Self {
            unchanged: true,
            detail: serde_json::Map::from_iter([(
                "reason".to_owned(),
                serde_json::Value::String(reason.into()),
            )]),
        }
    }
}

/// Does the work of a job. Returns what the job produced (for the summary).
pub trait Runner: Send + Sync + 'static {
    fn run(self: Arc<Self>, context: JobContext) -> BoxFuture<Result<Outcome, JobError>>;
}
