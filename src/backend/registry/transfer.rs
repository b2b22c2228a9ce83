//! Transfer progress of one job: blobs copied, mounted and already
//! present, and bytes moved, said as the job's current step and summed up
//! in its result.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::handle::JobHandle;

/// Progress of one job, said as its current step.
pub(super) struct Progress<'a> {
    pub(super) context: &'a dyn JobHandle,
    pub(super) blobs: AtomicU64,
    /// Shared with the upload streams that count through it.
    pub(super) bytes: Arc<AtomicU64>,
    pub(super) mounted: AtomicU64,
    pub(super) skipped: AtomicU64,
    /// Blobs already counted for this job: an index's platforms share layers.
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl<'a> Progress<'a> {
    pub(super) fn new(context: &'a dyn JobHandle) -> Self {
        Self {
            context,
            blobs: AtomicU64::new(0),
            bytes: Arc::new(AtomicU64::new(0)),
            mounted: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            seen: std::sync::Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// True the first time this job meets `digest`, so a layer two of its
    /// platforms share is counted once.
    pub(super) fn first_sight(&self, digest: &str) -> bool {
        crate::lock::lock(&self.seen).insert(digest.to_owned())
    }

    pub(super) fn say(&self) {
        let bytes = self.bytes.load(Ordering::Relaxed);
        let blobs = self.blobs.load(Ordering::Relaxed);
        self.context.step(format!(
            "{blobs} blob{} copied ({}), {} mounted, {} present",
            if blobs == 1 { "" } else { "s" },
            human_bytes(bytes),
            self.mounted.load(Ordering::Relaxed),
            self.skipped.load(Ordering::Relaxed)
        ));
    }

    pub(super) fn summary(&self) -> Transfer {
        Transfer {
            blobs_copied: self.blobs.load(Ordering::Relaxed),
            bytes_copied: self.bytes.load(Ordering::Relaxed),
            blobs_mounted: self.mounted.load(Ordering::Relaxed),
            blobs_present: self.skipped.load(Ordering::Relaxed),
        }
    }
}

/// What one job moved: its image's distinct blobs, each copied, mounted
/// or already present, and the bytes that crossed.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Transfer {
    pub blobs_copied: u64,
    pub bytes_copied: u64,
    pub blobs_mounted: u64,
    pub blobs_present: u64,
}

/// What a native sync or combine did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopyOutcome {
    /// The digest every target now has.
    pub digest: String,
    /// Where a sync read its source (a mirror, a held-back tag's content).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub targets: Vec<TargetOutcome>,
    pub transfer: Transfer,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetOutcome {
    pub reference: String,
    pub result: TargetResult,
}

/// What happened at one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetResult {
    Created,
    Updated,
    Unchanged,
    /// `--publish at-end`: content in place, the tag moves at the end.
    Held,
}

impl TargetResult {
    /// As the job's log says it (and the summary file spells it).
    pub fn word(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Held => "held",
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
