//! What `diff` says and `apply` does, job by job.

use serde::Serialize;

use crate::plan::address::Address;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `+` does not exist yet.
    Create,
    /// `~` exists, and will be changed in place (a tag moves, a node is appended).
    Update,
    /// `-/+` must be removed and created again.
    Replace,
    /// `?` a build will run; its digest is known after apply.
    Build,
    /// `=` already as the plan says: apply skips it.
    Unchanged,
    /// `?` cannot be known without running (buildx-driven copies).
    Unknown,
    /// `!` could not be observed (an unreachable engine, a missing source).
    Error,
}

impl Action {
    pub const fn symbol(self) -> &'static str {
        match self {
            Self::Create => "+",
            Self::Update => "~",
            Self::Replace => "-/+",
            Self::Build | Self::Unknown => "?",
            Self::Unchanged => "=",
            Self::Error => "!",
        }
    }

    /// Whether `apply` has work to do for it.
    pub const fn runs(self) -> bool {
        !matches!(self, Self::Unchanged)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub address: Address,
    pub action: Action,
    /// One line: what and why.
    pub reason: String,
    /// Further lines under it.
    pub details: Vec<String>,
    /// Digest or state now, where known.
    pub current: Option<String>,
    /// Digest or state wanted, where known before apply.
    pub desired: Option<String>,
    /// A repository sync: each selected tag's own change, by tag name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagChange>,
    /// A repository sync with `prune`: target tags to delete.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deletes: Vec<crate::state::observe::StaleTag>,
    /// A short key of what was observed, to tell later whether it moved.
    #[serde(skip)]
    pub observed: String,
    /// Labels a build puts on its image (its fingerprint).
    #[serde(skip)]
    pub labels: Vec<(String, String)>,
    /// For a build whose inputs an existing image was built from: copy
    /// that image to the tags that lack it, instead of building.
    #[serde(skip)]
    pub retag: Option<Retag>,
    /// A build decided with the digests its job-made inputs will have after
    /// the run (see `decide::settle_readers`): nothing upstream moves it.
    #[serde(skip)]
    pub settled: bool,
    /// For a builder that is updated in place: nodes to append and to leave.
    #[serde(skip)]
    pub append: Vec<String>,
    #[serde(skip)]
    pub leave: Vec<String>,
}

/// One tag of a repository sync.
#[derive(Debug, Clone, Serialize)]
pub struct TagChange {
    pub tag: String,
    pub action: Action,
    pub reason: String,
    pub current: Option<String>,
    pub desired: Option<String>,
}

/// A retag: `from` (pinned by digest) copied to `to` through the registry.
#[derive(Debug, Clone)]
pub struct Retag {
    pub from: crate::plan::reference::ImageRef,
    pub to: Vec<crate::plan::reference::ImageRef>,
}

impl Change {
    pub fn new(address: Address, action: Action, reason: impl Into<String>) -> Self {
        Self {
            address,
            action,
            reason: reason.into(),
            details: Vec::new(),
            tags: Vec::new(),
            deletes: Vec::new(),
            current: None,
            desired: None,
            observed: String::new(),
            labels: Vec::new(),
            retag: None,
            settled: false,
            append: Vec::new(),
            leave: Vec::new(),
        }
    }
}
