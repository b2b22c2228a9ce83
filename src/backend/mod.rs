//! The outside world behind narrow seams: external commands (`process`),
//! docker buildx (`buildx`), buildkitd configuration (`buildkitd`) and
//! buildx progress (`rawjson`).

pub mod buildkitd;
pub mod buildx;
pub mod engine_info;
pub mod git;
pub mod handle;
pub mod layout;
pub mod process;
pub mod rawjson;
pub mod registry;
