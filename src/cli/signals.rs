//! Ctrl-C and SIGTERM stop a run the same way: through its cancellation
//! token, so the scheduler signals, waits and kills as it does for any
//! cancellation.

use tokio_util::sync::CancellationToken;

/// Ctrl-C or SIGTERM cancels the run (once; a second signal changes nothing,
/// the grace period still applies).
pub async fn cancel_on_signal(cancel: CancellationToken) {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match &mut terminate {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
    cancel.cancel();
}
