//! Job addresses: `KIND.NAME`, e.g. `builder.remotebuilder`, `sync.alpine-3.12`.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Builder,
    Build,
    Sync,
    Combine,
}

impl JobKind {
    pub const ALL: [Self; 4] = [Self::Builder, Self::Build, Self::Sync, Self::Combine];

    pub const fn prefix(self) -> &'static str {
        match self {
            Self::Builder => "builder",
            Self::Build => "build",
            Self::Sync => "sync",
            Self::Combine => "combine",
        }
    }

    /// The plan section the kind is declared in.
    pub const fn section(self) -> &'static str {
        match self {
            Self::Builder => "builders",
            Self::Build => "builds",
            Self::Sync => "syncs",
            Self::Combine => "combines",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    pub kind: JobKind,
    pub name: String,
}

impl Address {
    pub fn new(kind: JobKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
        }
    }

    /// Parses `KIND.NAME`; `None` if the kind is not one of ours.
    pub fn parse(text: &str) -> Option<Self> {
        let (prefix, name) = text.split_once('.')?;
        let kind = JobKind::ALL
            .into_iter()
            .find(|kind| kind.prefix() == prefix)?;
        (!name.is_empty()).then(|| Self::new(kind, name))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind.prefix(), self.name)
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
