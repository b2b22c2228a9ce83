//! The native copy engine over the OCI distribution API: syncs and combines
//! that need no daemon, keep digests, mount instead of copying within a
//! registry, stream blobs, and push tags last.

pub mod auth;
pub mod client;
pub mod copy;
pub mod manifest;
pub mod store;
