//! Live state: observe it (read-only), and decide what each job must do.
//! One decision serves `diff` and `apply`: what diff says is what apply does.

mod builder_change;
pub mod change;
pub mod decide;
pub mod fingerprint;
pub mod ignore;
pub mod observe;
pub mod saved;

pub use change::{Action, Change};
pub use decide::decide;
pub use observe::{Observation, Observer};
