//! Ctrl-C and SIGTERM stop a run the same way: through its cancellation
//! tokens, so the scheduler signals, waits and kills as it does for any
//! cancellation.

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// The handlers for SIGINT and SIGTERM, installed when this is made (so a
/// signal that comes a moment later is never met by the default action,
/// which would end `plan` without a summary).
pub struct Handlers {
    interrupt: Signal,
    terminate: Signal,
}

impl Handlers {
    /// Needs a runtime context (`Runtime::enter`).
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Ctrl-C or SIGTERM. The first cancels `stop`: nothing new starts,
    /// running commands are signalled and get the grace period, transfers
    /// are dropped, and the summary is printed. A second cancels `abort`:
    /// whatever still runs is killed at once.
    pub async fn cancel_on_signal(mut self, stop: CancellationToken, abort: CancellationToken) {
        for token in [stop, abort] {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
            token.cancel();
        }
    }
}
