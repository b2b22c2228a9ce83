//! The native copy engine over the OCI distribution API: syncs and combines
//! that need no daemon, keep digests, mount instead of copying within a
//! registry, stream blobs, and push tags last.

pub mod auth;
pub mod client;
mod combine;
mod copy;
pub mod error;
mod held;
pub mod manifest;
mod reader;
pub mod record;
mod referrers;
mod registries;
pub mod store;
pub mod sync;
pub mod tags;
pub mod transfer;
mod upload;
pub(crate) mod verify;

pub use reader::RegistryReader;
pub use registries::{Located, Registries};
