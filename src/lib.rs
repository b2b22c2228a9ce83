//! buildplan: build plans for Docker buildx, as a graph of jobs.
//!
//! Data flows one way: files -> [`plan`] -> [`graph`] -> execution -> [`report`].

pub mod apply;
pub mod backend;
pub mod cli;
pub mod exec;
pub mod graph;
pub mod local_file;
pub mod lock;
pub mod plan;
pub mod report;
pub mod state;
pub mod untrusted;
