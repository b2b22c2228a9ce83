//! The outside world behind narrow seams: external commands (`process`),
//! docker buildx (`buildx`), bake's reading of its files (`bake`), engines
//! (`engine_info`), the git repository (`git`), buildkitd configuration
//! (`buildkitd`), buildx progress (`rawjson`) and registries (`registry`).

pub mod bake;
pub mod buildkitd;
pub mod buildx;
pub mod engine_info;
pub mod git;
pub mod handle;
pub mod layout;
pub mod process;
pub mod rawjson;
pub mod registry;
