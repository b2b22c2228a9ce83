//! What can go wrong talking to a registry, and whether trying again could help.

use std::time::Duration;

use reqwest::StatusCode;

#[derive(Debug, Clone)]
pub struct RegistryError {
    pub message: String,
    pub transient: bool,
    pub retry_after: Option<Duration>,
    pub status: Option<StatusCode>,
}

impl RegistryError {
    /// A failure another attempt would not fix.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            transient: false,
            retry_after: None,
            status: None,
        }
    }

    /// A failure worth another attempt.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            transient: true,
            ..Self::fatal(message)
        }
    }

    /// A transient failure that outlasted every retry: the job should not
    /// retry it all over again (that would multiply the attempts).
    #[must_use]
    pub fn exhausted(self, attempts: u32) -> Self {
        Self {
            message: format!("{} (gave up after {attempts} attempts)", self.message),
            transient: false,
            ..self
        }
    }

    #[must_use]
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }
}

impl From<RegistryError> for crate::exec::JobError {
    fn from(err: RegistryError) -> Self {
        Self {
            message: err.message,
            transient: err.transient,
            retry_after: err.retry_after,
        }
    }
}
