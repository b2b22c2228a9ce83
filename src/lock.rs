//! Locks that outlive a panic elsewhere.
//!
//! A `std::sync::Mutex` is poisoned when a thread panics while holding it.
//! The state `plan` keeps behind its mutexes (tag moves held back, layout
//! locks, the run's clients) is only pushed to, inserted into or read
//! whole, so a panic cannot leave it half-changed; dropping it instead
//! would publish less than the run reports. A panicking job is reported
//! failed on its own (see `exec::scheduler`).

use std::sync::{Mutex, MutexGuard, PoisonError};

/// The guard of `mutex`, poisoned or not.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
