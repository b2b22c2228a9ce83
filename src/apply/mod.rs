//! `plan apply`'s glue: the plan's graph as a [`Schedule`] for the
//! scheduler (with the caps the plan sets), and a [`Runner`] that does each
//! job through the backend.
//!
//! [`Schedule`]: crate::exec::Schedule
//! [`Runner`]: crate::exec::Runner

pub mod cache;
mod job_runner;
mod placement;
pub mod published;
mod schedule;

pub use job_runner::JobRunner;
pub use schedule::{JobRef, PlannedRun, plan_run};
