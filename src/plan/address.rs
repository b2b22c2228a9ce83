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

/// `*` matches any run of characters, `?` one character.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}
