//! What is wrong with a plan, and where.
//!
//! Validation collects every problem as a [`Diagnostic`] instead of stopping
//! at the first; `report/` renders them (miette text, JSON, GitHub Actions
//! annotations). Nothing here prints.

use serde::Serialize;

use super::source::Origin;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A marked place in a file with a short note ("defined here").
#[derive(Debug, Clone)]
pub struct Label {
    pub origin: Origin,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable identifier, e.g. `plan::unknown-builder`, for scripts and docs.
    pub code: &'static str,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where: the first label is the primary place.
    pub labels: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    #[must_use]
    pub fn label(mut self, origin: Origin, text: impl Into<String>) -> Self {
        self.labels.push(Label {
            origin,
            text: text.into(),
        });
        self
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub fn primary(&self) -> Option<&Label> {
        self.labels.first()
    }
}

/// Close means similar by Jaro-Winkler, or a few edits away (a swapped pair
/// of letters counts as one), scaled to the word's length.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let edits_allowed = (word.chars().count() / 4).max(1);
    candidates
        .into_iter()
        .filter_map(|candidate| {
            let similarity = strsim::jaro_winkler(word, candidate);
            let edits = strsim::damerau_levenshtein(word, candidate);
            (similarity > 0.8 || edits <= edits_allowed).then_some((edits, similarity, candidate))
        })
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("bulder", ["builder", "builds"]),
            Some("builder")
        );
        assert_eq!(did_you_mean("zzz", ["builder", "builds"]), None);
        assert_eq!(did_you_mean("hbu", ["arch", "hub", "tag"]), Some("hub"));
        assert_eq!(did_you_mean("ab", ["cd"]), None);
    }
}
