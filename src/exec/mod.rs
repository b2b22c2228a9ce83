//! The scheduler: runs a graph of jobs in parallel where the edges allow,
//! under caps, with a continue policy, timeouts, retries and cancellation.
//!
//! It knows nothing about buildx: a job is a number, its work is whatever a
//! [`Runner`] does with that number, and everything it has to say goes out
//! as [`Event`]s to a [`Subscriber`]. It prints nothing.

mod event;
mod policy;
mod runner;
mod schedule;
mod scheduler;

pub use event::{Event, JobRecord, JobState, Subscriber};
pub use policy::{ContinuePolicy, Options, RetryPolicy};
pub use runner::{BoxFuture, JobContext, JobError, Outcome, Runner};
pub use schedule::{Dependency, Schedule, ScheduledJob};
pub use scheduler::run;
