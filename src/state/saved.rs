//! A saved plan (`plan diff --out FILE`): which files, with which inputs,
//! and what was observed for each job. `plan apply FILE` observes again and
//! refuses when anything moved, naming what.

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::change::Change;
use crate::plan::source::SourceMap;

pub const KIND: &str = "buildplan-saved-plan";
/// 2: observations are recorded as JSON (1 used Rust's `Debug` text).
pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format_version: u32,
    pub kind: String,
    pub files: Vec<SavedFile>,
    pub vars: Vec<(String, String)>,
    pub targets: Vec<String>,
    /// `--exclude`; absent in plans saved before it existed.
    #[serde(default)]
    pub excludes: Vec<String>,
    /// `--set`, as given; absent in plans saved before it existed.
    #[serde(default)]
    pub sets: Vec<String>,
    pub jobs: Vec<SavedJob>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SavedFile {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SavedJob {
    pub address: String,
    pub action: super::change::Action,
    pub observed: String,
}

pub fn files_of(sources: &SourceMap) -> Vec<SavedFile> {
    sources
        .iter()
        .map(|(_, file)| SavedFile {
            name: file.name.clone(),
            sha256: hex::encode(sha2::Sha256::digest(file.text.as_bytes())),
        })
        .collect()
}

impl SavedPlan {
    pub fn new(
        sources: &SourceMap,
        vars: &[(String, String)],
        targets: &[String],
        excludes: &[String],
        sets: &[crate::plan::overrides::Override],
        changes: &[Change],
    ) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            kind: KIND.into(),
            files: files_of(sources),
            vars: vars.to_vec(),
            targets: targets.to_vec(),
            excludes: excludes.to_vec(),
            sets: sets.iter().map(|o| o.text.clone()).collect(),
            jobs: changes
                .iter()
                .map(|c| SavedJob {
                    address: c.address.to_string(),
                    action: c.action,
                    observed: c.observed.clone(),
                })
                .collect(),
        }
    }

    /// Jobs whose live state is not what the diff saw, each with how.
    pub fn drift(&self, changes: &[Change]) -> Vec<String> {
        let mut drifted = Vec::new();
        for job in &self.jobs {
            match changes
                .iter()
                .find(|c| c.address.to_string() == job.address)
            {
                None => drifted.push(format!("{}: no longer in the plan", job.address)),
                Some(now) if now.observed != job.observed || now.action != job.action => {
                    drifted.push(format!(
                        "{}: was `{}`, is now `{}` ({})",
                        job.address,
                        job.action.symbol(),
                        now.action.symbol(),
                        now.reason
                    ));
                }
                Some(_) => {}
            }
        }
        for change in changes {
            if !self
                .jobs
                .iter()
                .any(|j| j.address == change.address.to_string())
            {
                drifted.push(format!("{}: new since the diff", change.address));
            }
        }
        drifted
    }
}
