//! The end of a run: every job with its state and time (failures last), and
//! the same as JSON for `--summary-file`, written even when the run fails.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::exec::{JobRecord, JobState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunResult {
    Succeeded,
    Failed,
    Interrupted,
}

#[derive(Serialize)]
pub struct Summary<'a> {
    pub format_version: u32,
    pub result: RunResult,
    /// `--target` chose part of the plan.
    pub partial: bool,
    pub duration_ms: u64,
    pub jobs: Vec<JobSummary<'a>>,
}

#[derive(Serialize)]
pub struct JobSummary<'a> {
    pub address: &'a str,
    #[serde(flatten)]
    pub record: &'a JobRecord,
    pub duration_ms: Option<u64>,
    /// Succeeded without work: it was already as the plan says.
    pub unchanged: bool,
}

pub fn summarize<'a>(
    addresses: &'a [String],
    records: &'a [JobRecord],
    interrupted: bool,
    partial: bool,
    duration: Duration,
) -> Summary<'a> {
    let failed = records.iter().any(|r| r.state != JobState::Succeeded);
    Summary {
        format_version: 1,
        result: if interrupted {
            RunResult::Interrupted
        } else if failed {
            RunResult::Failed
        } else {
            RunResult::Succeeded
        },
        partial,
        duration_ms: millis(duration),
        jobs: addresses
            .iter()
            .zip(records)
            .map(|(address, record)| JobSummary {
                address,
                record,
                duration_ms: record.duration.map(millis),
                unchanged: record.outcome.unchanged,
            })
            .collect(),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn rank(state: JobState) -> u8 {
    match state {
        JobState::Succeeded => 0,
        JobState::NotStarted => 1,
        JobState::Cancelled => 2,
        JobState::Skipped => 3,
        JobState::Failed => 4,
    }
}

/// The table printed at the end of `plan apply`.
pub fn render(summary: &Summary<'_>) -> String {
    let mut jobs: Vec<&JobSummary<'_>> = summary.jobs.iter().collect();
    jobs.sort_by_key(|j| rank(j.record.state));
    let width = jobs.iter().map(|j| j.address.len()).max().unwrap_or(0);
    let mut out = String::from("\nSummary:\n");
    for job in &jobs {
        let state = match job.record.state {
            JobState::Succeeded if job.unchanged => "unchanged",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "FAILED",
            JobState::Skipped => "skipped",
            JobState::Cancelled => "cancelled",
            JobState::NotStarted => "not started",
        };
        let time = job
            .duration_ms
            .map_or_else(String::new, |ms| format!("{:>7.1}s", ms as f64 / 1000.0));
        let _ = write!(out, "  {:<width$}  {state:<11}{time}", job.address);
        if let Some(error) = &job.record.error {
            let _ = write!(out, "  {}", crate::untrusted::escape(error));
        } else if job.record.state == JobState::Skipped {
            out.push_str("  a job it depends on failed");
        }
        out.push('\n');
    }
    let count = |state: JobState| {
        summary
            .jobs
            .iter()
            .filter(|j| j.record.state == state && !j.unchanged)
            .count()
    };
    let unchanged = summary.jobs.iter().filter(|j| j.unchanged).count();
    let mut parts: Vec<String> = [
        (JobState::Succeeded, "succeeded"),
        (JobState::Failed, "failed"),
        (JobState::Skipped, "skipped"),
        (JobState::Cancelled, "cancelled"),
        (JobState::NotStarted, "not started"),
    ]
    .iter()
    .filter(|(state, _)| count(*state) > 0)
    .map(|(state, word)| format!("{} {word}", count(*state)))
    .collect();
    if unchanged > 0 {
        parts.insert(
            usize::from(count(JobState::Succeeded) > 0),
            format!("{unchanged} unchanged"),
        );
    }
    let verdict = match summary.result {
        RunResult::Succeeded => "Apply complete",
        RunResult::Failed => "Apply failed",
        RunResult::Interrupted => "Apply interrupted",
    };
    let partial = if summary.partial {
        " (partial: --target)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "{verdict}{partial}: {} in {:.1}s.",
        parts.join(", "),
        summary.duration_ms as f64 / 1000.0
    );
    out
}

/// The summary as markdown, for `$GITHUB_STEP_SUMMARY`.
pub fn markdown(summary: &Summary<'_>) -> String {
    let mut jobs: Vec<&JobSummary<'_>> = summary.jobs.iter().collect();
    jobs.sort_by_key(|j| rank(j.record.state));
    let verdict = match summary.result {
        RunResult::Succeeded => "Apply complete",
        RunResult::Failed => "Apply failed",
        RunResult::Interrupted => "Apply interrupted",
    };
    let mut out = format!(
        "### plan apply\n\n**{verdict}** in {:.1}s.\n\n| job | result | time |\n| --- | --- | ---: |\n",
        summary.duration_ms as f64 / 1000.0
    );
    for job in jobs {
        let state = match job.record.state {
            JobState::Succeeded if job.unchanged => "unchanged".to_owned(),
            JobState::Succeeded => "succeeded".to_owned(),
            JobState::Failed => format!(
                "**failed**: {}",
                super::diff::cell(job.record.error.as_deref().unwrap_or(""))
            ),
            JobState::Skipped => "skipped".to_owned(),
            JobState::Cancelled => "cancelled".to_owned(),
            JobState::NotStarted => "not started".to_owned(),
        };
        let time = job
            .duration_ms
            .map_or_else(String::new, |ms| format!("{:.1}s", ms as f64 / 1000.0));
        let _ = writeln!(out, "| `{}` | {state} | {time} |", job.address);
    }
    out
}
