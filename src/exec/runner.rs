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

/// Does the work of a job. Returns what the job produced (for the summary).
pub trait Runner: Send + Sync + 'static {
    fn run(self: Arc<Self>, context: JobContext) -> BoxFuture<Result<serde_json::Value, JobError>>;
}
