//! What the backend needs from whoever runs it: somewhere to say what it is
//! doing, and when to stop. The backend owns this seam (as uv's reporters
//! do); the executor's job context is adapted to it in `apply`, and the
//! observation of `diff` passes a quiet one. Nothing in the backend knows
//! the scheduler.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub trait JobHandle: Send + Sync {
    /// The work's current step, one line ("reading alpine:3.20").
    fn step(&self, step: String);
    /// One line of output, for the job's log.
    fn output(&self, line: String);
    /// Cancelled on Ctrl-C: stop, and publish nothing unfinished.
    fn cancellation(&self) -> &CancellationToken;
    /// How long a signalled command gets before it is killed.
    fn grace(&self) -> Duration;
}

/// A handle that says nothing and is never cancelled: for reads whose
/// result is the report (the observation behind `diff`).
pub struct Quiet {
    never: CancellationToken,
}

impl Default for Quiet {
    fn default() -> Self {
        Self {
            never: CancellationToken::new(),
        }
    }
}

impl JobHandle for Quiet {
    fn step(&self, _: String) {}
    fn output(&self, _: String) {}
    fn cancellation(&self) -> &CancellationToken {
        &self.never
    }
    fn grace(&self) -> Duration {
        Duration::ZERO
    }
}
