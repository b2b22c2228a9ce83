//! `plan diff` for people (text), pull requests (markdown) and machines (JSON).

use std::fmt::Write as _;

use serde::Serialize;

use crate::state::{Action, Change};

/// GitHub's limit for a comment or a step summary.
pub const MARKDOWN_LIMIT: usize = 65_535;

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub build: usize,
    pub run: usize,
    pub unchanged: usize,
    pub error: usize,
}

impl Counts {
    pub fn of(changes: &[Change]) -> Self {
        let mut counts = Self::default();
        for change in changes {
            match change.action {
                Action::Create => counts.create += 1,
                Action::Update => counts.update += 1,
                Action::Replace => counts.replace += 1,
                Action::Build => counts.build += 1,
                Action::Unknown => counts.run += 1,
                Action::Unchanged => counts.unchanged += 1,
                Action::Error => counts.error += 1,
            }
        }
        counts
    }

    pub fn has_changes(&self) -> bool {
        self.create + self.update + self.replace + self.build + self.run > 0
    }

    /// `Plan: 1 to create, 2 to update, 1 to build, 5 unchanged.`
    pub fn sentence(&self) -> String {
        let parts: Vec<String> = [
            (self.create, "to create"),
            (self.update, "to update"),
            (self.replace, "to replace"),
            (self.build, "to build"),
            (self.run, "to run"),
            (self.unchanged, "unchanged"),
            (self.error, "not observable"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            "Plan: nothing to do.".into()
        } else {
            format!("Plan: {}.", parts.join(", "))
        }
    }
}

pub fn text(changes: &[Change]) -> String {
    let width = changes
        .iter()
        .map(|c| c.address.to_string().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for change in changes {
        let mut line = format!(
            "{:>3} {:<width$}  {}",
            change.action.symbol(),
            change.address.to_string(),
            crate::untrusted::escape(&change.reason)
        );
        if change.action == Action::Build {
            line.push_str("   digest known after apply");
        }
        let _ = writeln!(out, "{}", line.trim_end());
        for (symbol, what) in tag_lines(change) {
            let line = format!(
                "{symbol:>3} {:<width$}  {}",
                change.address.to_string(),
                crate::untrusted::escape(&what)
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
        if change.action != Action::Unchanged && change.details.len() > 1 {
            for detail in &change.details {
                let _ = writeln!(out, "      {}", crate::untrusted::escape(detail));
            }
        }
    }
    let _ = writeln!(out, "\n{}", Counts::of(changes).sentence());
    out
}

/// A repository sync's own lines, one per tag: `+ 1.2.0 (sha256:…)`,
/// `= 1.1.0`, `- 1.0.0 (no longer selected)`.
fn tag_lines(change: &Change) -> Vec<(&'static str, String)> {
    let mut lines: Vec<(&'static str, String)> = change
        .tags
        .iter()
        .map(|tag| {
            let what = if tag.reason.is_empty() {
                tag.tag.clone()
            } else {
                format!("{} ({})", tag.tag, tag.reason)
            };
            (tag.action.symbol(), what)
        })
        .collect();
    for stale in &change.deletes {
        let tag = stale
            .reference
            .rsplit(':')
            .next()
            .unwrap_or(&stale.reference);
        lines.push(("-", format!("{tag} (no longer selected)")));
    }
    lines
}

#[derive(Serialize)]
struct Document<'a> {
    format_version: u32,
    summary: Counts,
    changes: &'a [Change],
}

pub fn json(changes: &[Change]) -> String {
    // Our own types, string keys only: serializing them cannot fail.
    let mut text = serde_json::to_string_pretty(&Document {
        format_version: 1,
        summary: Counts::of(changes),
        changes,
    })
    .unwrap_or_default();
    text.push('\n');
    text
}

pub(crate) fn cell(text: &str) -> String {
    crate::untrusted::escape(text).replace('|', "\\|")
}

/// Summary first, replacements called out, the detail collapsed; kept
/// under GitHub's 65,535 characters with a visible notice when cut.
pub fn markdown(changes: &[Change]) -> String {
    let counts = Counts::of(changes);
    let mut head = format!("### plan diff\n\n**{}**\n\n", counts.sentence());
    let replaced: Vec<&Change> = changes
        .iter()
        .filter(|c| c.action == Action::Replace)
        .collect();
    if !replaced.is_empty() {
        head.push_str("> [!WARNING]\n> These are removed and created again:\n");
        for change in &replaced {
            let _ = writeln!(head, "> - `{}`: {}", change.address, cell(&change.reason));
        }
        head.push('\n');
    }
    let errors: Vec<&Change> = changes
        .iter()
        .filter(|c| c.action == Action::Error)
        .collect();
    if !errors.is_empty() {
        head.push_str("> [!CAUTION]\n> Could not be observed:\n");
        for change in &errors {
            let _ = writeln!(head, "> - `{}`: {}", change.address, cell(&change.reason));
        }
        head.push('\n');
    }
    let deleted: Vec<&str> = changes
        .iter()
        .flat_map(|c| c.deletes.iter().map(|d| d.reference.as_str()))
        .collect();
    if !deleted.is_empty() {
        head.push_str("> [!WARNING]\n> These tags are deleted (`apply --allow-delete`):\n");
        for reference in &deleted {
            let _ = writeln!(head, "> - `{}`", cell(reference));
        }
        head.push('\n');
    }
    let open = format!(
        "<details><summary>{} jobs</summary>\n\n| | job | change |\n| :-: | --- | --- |\n",
        changes.len()
    );
    let close = "\n</details>\n";
    let mut rows = String::new();
    let mut shown = 0;
    for change in changes {
        let mut row = format!(
            "| `{}` | `{}` | {} |\n",
            change.action.symbol(),
            change.address,
            cell(&change.reason)
        );
        // Tags left as they are would bury the ones that change.
        for (symbol, what) in tag_lines(change).into_iter().filter(|(s, _)| *s != "=") {
            let _ = writeln!(
                row,
                "| `{symbol}` | `{}` | {} |",
                change.address,
                cell(&what)
            );
        }
        let notice_room = 120;
        if head.len() + open.len() + rows.len() + row.len() + close.len() + notice_room
            > MARKDOWN_LIMIT
        {
            break;
        }
        rows.push_str(&row);
        shown += 1;
    }
    let mut out = head + &open + &rows;
    if shown < changes.len() {
        let _ = writeln!(
            out,
            "\n**… {} more jobs not shown: the report was cut at {MARKDOWN_LIMIT} characters.**",
            changes.len() - shown
        );
    }
    out.push_str(close);
    out
}
