//! How a run behaves: how much at once, what a failure stops, how often to retry.

use std::time::Duration;

/// What a failure stops (`--continue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ContinuePolicy {
    /// Start nothing new after the first failure; running jobs finish.
    #[default]
    Never,
    /// Keep going; skip only what depends on a failed job.
    DependenciesSuccessful,
    /// Keep going; skip only what consumes a failed job's output. Jobs that
    /// were merely ordered after it (`needs:`) still run.
    Always,
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// One request to a registry (and one blob of a native copy): quick
    /// first retries, since most registry faults are a 503 or a reset that
    /// passes in a moment, up to 20 s apart.
    pub const REGISTRY: Self = Self {
        attempts: 6,
        first_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(20),
    };

    /// Exponential backoff: `first_delay * 2^(attempt-1)`, capped; a server's
    /// `Retry-After` wins when it is given.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_delay);
        }
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Jobs running at once (`-j`).
    pub parallelism: usize,
    pub continue_policy: ContinuePolicy,
    pub retry: RetryPolicy,
    /// How long a job has after Ctrl-C before it is killed.
    pub grace: Duration,
    /// Cancelled by a second Ctrl-C: running attempts are dropped at once
    /// (their processes killed, their transfers closed), without the grace.
    pub abort: tokio_util::sync::CancellationToken,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            parallelism: 10,
            continue_policy: ContinuePolicy::Never,
            retry: RetryPolicy::default(),
            grace: Duration::from_secs(10),
            abort: tokio_util::sync::CancellationToken::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_honours_retry_after() {
        let policy = RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        assert_eq!(policy.delay(1, None), Duration::from_millis(100));
        assert_eq!(policy.delay(2, None), Duration::from_millis(200));
        assert_eq!(policy.delay(3, None), Duration::from_millis(350));
        assert_eq!(
            policy.delay(1, Some(Duration::from_millis(250))),
            Duration::from_millis(250)
        );
    }
}
