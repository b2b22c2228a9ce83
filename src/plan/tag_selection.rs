//! A repository sync's `tags:`: which of a repository's tags it copies.
//! Pure: the tags are handed in (read by `tags/list` at `diff`/`apply`
//! time), and so are the creation dates `latest` falls back on.
//!
//! Decisions (the README says them too):
//! - every selection given must pass (`semver` and `include` and not `exclude`);
//! - a tag is a version when it reads as `[v]MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]`
//!   (Docker tags are rarely full semver: `3.18` is `3.18.0`); one that is
//!   not never matches `semver`;
//! - a range selects pre-releases only when it names one, as semver ranges do;
//! - regexes match anywhere unless they anchor themselves (`^…$`);
//! - `latest: N` keeps the N highest versions when every candidate is one,
//!   else the N newest by their image's creation date.

use std::cmp::Ordering;

use regex::Regex;
use semver::{Version, VersionReq};
use serde::Serialize;

/// `tags:` as the plan says it (resolved, checked).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TagSelection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest: Option<u32>,
}

/// A selection ready to apply.
#[derive(Debug)]
pub struct Selector {
    semver: Option<VersionReq>,
    include: Vec<Regex>,
    exclude: Vec<Regex>,
    latest: Option<usize>,
}

/// What is wrong with one part of a selection.
#[derive(Debug, PartialEq, Eq)]
pub enum SelectionError {
    Semver(String),
    Include(usize, String),
    Exclude(usize, String),
}

/// Regexes are user text compiled at every `diff`: bounded, so a
/// pathological one is an error, not minutes of work.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

fn compile(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|err| err.to_string())
}

/// A range as `semver` reads it; the `semver` crate's message, else.
pub fn parse_range(text: &str) -> Result<VersionReq, String> {
    VersionReq::parse(text.trim()).map_err(|err| err.to_string())
}

impl Selector {
    pub fn new(selection: &TagSelection) -> Result<Self, SelectionError> {
        let semver = selection
            .semver
            .as_deref()
            .map(parse_range)
            .transpose()
            .map_err(SelectionError::Semver)?;
        let include = selection
            .include
            .iter()
            .enumerate()
            .map(|(i, p)| compile(p).map_err(|e| SelectionError::Include(i, e)))
            .collect::<Result<_, _>>()?;
        let exclude = selection
            .exclude
            .iter()
            .enumerate()
            .map(|(i, p)| compile(p).map_err(|e| SelectionError::Exclude(i, e)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            semver,
            include,
            exclude,
            latest: selection.latest.map(|n| n as usize),
        })
    }

    /// Whether `latest` needs the creation dates of the candidates: it is
    /// given and some candidate is not a version.
    pub fn needs_dates(&self, candidates: &[String]) -> bool {
        self.latest.is_some() && candidates.iter().any(|t| version_of(t).is_none())
    }

    /// The tags that pass every filter (before `latest`), in listing order.
    pub fn candidates(&self, tags: &[String]) -> Vec<String> {
        tags.iter()
            .filter(|tag| self.passes(tag))
            .cloned()
            .collect()
    }

    fn passes(&self, tag: &str) -> bool {
        if let Some(range) = &self.semver {
            match version_of(tag) {
                Some(version) if range.matches(&version) => {}
                _ => return false,
            }
        }
        if !self.include.is_empty() && !self.include.iter().any(|r| r.is_match(tag)) {
            return false;
        }
        !self.exclude.iter().any(|r| r.is_match(tag))
    }

    /// The selected tags, sorted by name. `created` gives an image's
    /// creation date (RFC 3339 text sorts by time) for candidates that are
    /// not versions, when `latest` needs them; a tag without one sorts oldest.
    pub fn select(&self, tags: &[String], created: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        let mut chosen = self.candidates(tags);
        if let Some(n) = self.latest {
            if chosen.iter().all(|t| version_of(t).is_some()) {
                chosen.sort_by(|a, b| by_version(b, a));
            } else {
                let mut dated: Vec<(Option<String>, String)> =
                    chosen.into_iter().map(|t| (created(&t), t)).collect();
                dated.sort_by(|(da, a), (db, b)| db.cmp(da).then_with(|| a.cmp(b)));
                chosen = dated.into_iter().map(|(_, t)| t).collect();
            }
            chosen.truncate(n);
        }
        chosen.sort();
        chosen
    }
}

/// Highest version first, ties (`3.18` and `3.18.0`) by name.
fn by_version(a: &str, b: &str) -> Ordering {
    match (version_of(a), version_of(b)) {
        (Some(va), Some(vb)) => va.cmp_precedence(&vb).then_with(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}

/// A tag read as a version: `[v]MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]`,
/// missing parts zero. `None` for anything else (`latest`, `3.18-alpine`
/// reads as `3.18.0-alpine`, a pre-release, as Docker's tag conventions
/// and semver agree).
pub fn version_of(tag: &str) -> Option<Version> {
    let text = tag.strip_prefix('v').unwrap_or(tag);
    let core_end = text.find(['-', '+']).unwrap_or(text.len());
    let (core, rest) = text.split_at(core_end);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut numbers = [0u64; 3];
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        // Leading zeros are not versions (`01`), as semver says.
        if part.is_empty()
            || !part.bytes().all(|b| b.is_ascii_digit())
            || (part.len() > 1 && part.starts_with('0'))
        {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    let text = format!("{}.{}.{}{rest}", numbers[0], numbers[1], numbers[2]);
    Version::parse(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAGS: &[&str] = &["1.0.0", "1.1.0", "1.2.0", "1.2.1-rc1", "2.0.0", "latest"];

    fn select(selection: TagSelection) -> Vec<String> {
        let tags: Vec<String> = TAGS.iter().map(|t| (*t).to_owned()).collect();
        Selector::new(&selection).unwrap().select(&tags, &|_| None)
    }

    fn semver(range: &str) -> TagSelection {
        TagSelection {
            semver: Some(range.into()),
            ..TagSelection::default()
        }
    }

    #[test]
    fn semver_ranges_leave_out_prereleases_unless_they_name_one() {
        assert_eq!(select(semver(">=1.1")), ["1.1.0", "1.2.0", "2.0.0"]);
        assert_eq!(select(semver("^1")), ["1.0.0", "1.1.0", "1.2.0"]);
        assert_eq!(select(semver(">=1.2.1-rc0")), ["1.2.1-rc1", "2.0.0"]);
        assert_eq!(select(semver("<1")), Vec::<String>::new());
    }

    #[test]
    fn include_exclude_and_latest_combine() {
        let selection = TagSelection {
            include: vec![r"^\d+\.\d+\.\d+".into()],
            exclude: vec!["-rc".into()],
            ..TagSelection::default()
        };
        assert_eq!(select(selection), ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]);
        let latest = TagSelection {
            semver: Some(">=1".into()),
            latest: Some(2),
            ..TagSelection::default()
        };
        assert_eq!(select(latest), ["1.2.0", "2.0.0"]);
    }

    #[test]
    fn latest_falls_back_on_creation_dates() {
        let tags: Vec<String> = ["main", "dev", "1.0"].map(str::to_owned).to_vec();
        let selector = Selector::new(&TagSelection {
            latest: Some(2),
            ..TagSelection::default()
        })
        .unwrap();
        assert!(selector.needs_dates(&tags));
        let dates = |tag: &str| match tag {
            "main" => Some("2026-11-02T00:00:00Z".to_owned()),
            "dev" => Some("2026-11-03T00:00:00Z".to_owned()),
            _ => None,
        };
        assert_eq!(selector.select(&tags, &dates), ["dev", "main"]);
    }

    #[test]
    fn docker_tags_read_as_versions() {
        assert_eq!(version_of("3.18").unwrap().to_string(), "3.18.0");
        assert_eq!(version_of("v2").unwrap().to_string(), "2.0.0");
        assert_eq!(
            version_of("1.2.1-rc1").unwrap().to_string(),
            "1.2.1-rc1".to_owned()
        );
        for not in [
            "latest",
            "01.2",
            "1.2.3.4",
            "",
            "v",
            "1..2",
            "sha256-abc.sig",
        ] {
            assert!(version_of(not).is_none(), "{not}");
        }
    }

    #[test]
    fn bad_selections_say_which_part() {
        let bad = TagSelection {
            include: vec!["ok".into(), "(".into()],
            ..TagSelection::default()
        };
        assert!(matches!(
            Selector::new(&bad),
            Err(SelectionError::Include(1, _))
        ));
        assert!(matches!(
            Selector::new(&semver("not a range")),
            Err(SelectionError::Semver(_))
        ));
    }
}
