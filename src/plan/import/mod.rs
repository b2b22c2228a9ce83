//! `plan import`: a plan written from another tool's file, printed for the
//! user to read, check (`plan validate`) and commit. Pure: the other tool's
//! description is handed in as text; the CLI runs what produces it.

pub mod bake;
pub mod regsync;
pub mod skopeo_sync;

use std::fmt::Write as _;

use crate::plan::resolve::{is_safe_name, safe_name, unique_name};
use crate::plan::yaml::quoted;

/// A job name for each target reference: its repository's last path
/// part, made a valid name, numbered where two would clash.
pub fn job_names<'a>(targets: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut taken = std::collections::BTreeSet::new();
    targets
        .map(|target| {
            let path = target.split('@').next().unwrap_or(target);
            let last = path.rsplit('/').next().unwrap_or(path);
            let repository = last.split(':').next().unwrap_or(last);
            unique_name(&safe_name(repository, "sync"), &mut taken)
        })
        .collect()
}

/// The plan text, and what could not be imported (also in the text, as
/// `# not imported: …` comments where it would go).
#[derive(Debug)]
pub struct Imported {
    pub text: String,
    pub warnings: Vec<String>,
}

/// Writes plan YAML line by line: two spaces per level, every scalar
/// quoted (it reads back as written), comments where something did not map.
pub struct Writer {
    text: String,
    warnings: Vec<String>,
}

impl Writer {
    pub fn new(source: &str) -> Self {
        let mut w = Self {
            text: String::new(),
            warnings: Vec::new(),
        };
        w.comment(0, &format!("Imported by `plan import` from {source}."));
        w.comment(
            0,
            "Check it with `plan validate`, then `plan diff`; `# not imported:` marks what did not map.",
        );
        w
    }

    pub fn line(&mut self, indent: usize, text: &str) {
        let _ = writeln!(self.text, "{}{text}", "  ".repeat(indent));
    }

    pub fn blank(&mut self) {
        self.text.push('\n');
    }

    /// A comment, on one line whatever `text` holds.
    pub fn comment(&mut self, indent: usize, text: &str) {
        let flat: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        self.line(indent, &format!("# {flat}"));
    }

    /// What did not map: a comment at its place, and a warning naming the job.
    pub fn not_imported(&mut self, indent: usize, job: &str, what: &str) {
        self.comment(indent, &format!("not imported: {what}"));
        let flat: String = what.chars().filter(|c| !c.is_control()).collect();
        self.warnings.push(format!("{job}: not imported: {flat}"));
    }

    /// A mapping key: plain when it is a safe name, else quoted.
    pub fn key(&self, name: &str) -> String {
        if is_safe_name(name) {
            name.to_owned()
        } else {
            quoted(name)
        }
    }

    pub fn q(&self, text: &str) -> String {
        quoted(text)
    }

    pub fn field(&mut self, indent: usize, key: &str, value: &str) {
        self.line(indent, &format!("{key}: {}", quoted(value)));
    }

    /// `key: ["a", "b"]`; nothing when empty.
    pub fn list(&mut self, indent: usize, key: &str, items: &[String]) {
        if items.is_empty() {
            return;
        }
        let items: Vec<String> = items.iter().map(|i| quoted(i)).collect();
        self.line(indent, &format!("{key}: [{}]", items.join(", ")));
    }

    /// A block mapping of strings; nothing when empty.
    pub fn map(&mut self, indent: usize, key: &str, entries: &[(String, String)]) {
        if entries.is_empty() {
            return;
        }
        self.line(indent, &format!("{key}:"));
        for (k, v) in entries {
            self.line(indent + 1, &format!("{}: {}", quoted(k), quoted(v)));
        }
    }

    pub fn finish(self) -> Imported {
        Imported {
            text: self.text,
            warnings: self.warnings,
        }
    }
}
