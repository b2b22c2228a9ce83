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

/// Content that does not match the digest it was asked for: a lying
/// registry, mirror or layout, or a corrupted store. Carried through
/// `std::io::Error` out of a blob stream, so the upload it feeds fails as
/// what it is rather than as a network fault.
#[derive(Debug, Clone)]
pub struct ContentMismatch(pub String);

impl std::fmt::Display for ContentMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ContentMismatch {}

impl ContentMismatch {
    pub fn into_io(self) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, self)
    }

    /// The mismatch somewhere in an error's chain of causes, if there is one.
    pub fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Self> {
        let mut cause: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
        while let Some(current) = cause {
            if let Some(found) = current.downcast_ref::<Self>() {
                return Some(found);
            }
            if let Some(found) = current
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<Self>())
            {
                return Some(found);
            }
            cause = current.source();
        }
        None
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
