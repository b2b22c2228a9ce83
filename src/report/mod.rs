//! Everything a person or a machine reads. The library decides what to say;
//! this module decides how it looks.

pub mod diagnostics;
pub mod diff;
pub mod outputs;
pub mod progress;
pub mod summary;
