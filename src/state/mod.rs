//! Live state: observe it (read-only), and decide what each job must do.
//! One decision serves `diff` and `apply`: what diff says is what apply does.

mod builder_change;
pub mod capabilities;
pub mod change;
pub mod decide;
pub mod fingerprint;
pub mod ignore;
pub mod inputs;
pub mod observe;
pub mod saved;
pub mod secrets;

pub use change::{Action, Change};
pub use decide::decide;
pub use observe::{Observation, Observer};

/// What each job of `run` must do: its live state observed (read-only),
/// then the one decision. `diff` prints this; `apply` does exactly it.
pub struct Assessment {
    pub changes: Vec<Change>,
    /// What a build asks of an engine that cannot do it (see
    /// `capabilities`): nothing runs while there is one.
    pub unsupported: Vec<crate::plan::diagnostic::Diagnostic>,
}

pub async fn changes(
    observer: &Observer,
    plan: &crate::plan::resolved::Plan,
    run: &crate::apply::PlannedRun,
) -> Assessment {
    let observed = observer.observe(plan, run).await;
    Assessment {
        changes: decide(plan, run, &observed),
        unsupported: capabilities::unsupported(plan, run, &observed),
    }
}
