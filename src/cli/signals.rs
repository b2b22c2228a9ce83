//! Ctrl-C and SIGTERM stop a run the same way: through its cancellation
//! tokens, so the scheduler signals, waits and kills as it does for any
//! cancellation.

use tokio_util::sync::CancellationToken;

/// Ctrl-C or SIGTERM. The first cancels `stop`: nothing new starts, running
/// commands are signalled and get the grace period, transfers are dropped,
/// and the summary is printed. A second cancels `abort`: whatever still
/// runs is killed at once.
pub async fn cancel_on_signal(stop: CancellationToken, abort: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the default action (exit) stays in place.
        return;
    };
    for token in [stop, abort] {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        token.cancel();
    }
}
