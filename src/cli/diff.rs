//! `plan diff`: what `apply` would change, against the live builders and
//! registries. Observes only; changes nothing.

use clap::{Args, ValueEnum};

use super::{CliError, GlobalArgs, Output, exit, session};
use crate::apply::plan_run;
use crate::backend::buildx::Docker;
use crate::backend::registry::RegistryReader;
use crate::report::diff::{Counts, json, markdown, text};
use crate::state::saved::SavedPlan;
use crate::state::{Action, Observer, changes};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Exit 0 when nothing would change, 2 when something would, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Save the plan with what was observed, for `plan apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Give up on reading a job's live state after this long (e.g. `30s`).
    #[arg(long, value_name = "DURATION", value_parser = super::duration::parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

pub const CHANGES_PENDING: u8 = 2;

pub fn run(global: &GlobalArgs, args: &DiffArgs, output: &mut Output) -> u8 {
    let Some(session) = session::open(global, output) else {
        return exit::ERROR;
    };
    let selected = match session::selection(&session.graph, global, output) {
        Ok(selected) => selected,
        Err(code) => return code,
    };
    let planned = plan_run(&session.plan, &session.graph, selected.as_deref(), None);
    if let Err(code) = session::require_secrets(&session, &planned, global, output) {
        return code;
    }
    let Some(runtime) = session::runtime(output) else {
        return exit::ERROR;
    };
    // Read-only by construction: `diff` is never handed a registry it could write to.
    let registries = RegistryReader::new(
        session.plan.registries.clone(),
        session.plan.mirrors.clone(),
    );
    let observer = Observer::new(registries, Docker::default()).timeout(args.timeout);
    let assessment = runtime.block_on(changes(&observer, &session.plan, &planned));
    if let Err(code) = session::refuse_unsupported(&assessment, &session, global, output) {
        return code;
    }
    let changes = assessment.changes;
    let format = if args.json {
        DiffFormat::Json
    } else {
        args.format
    };
    output.out(&match format {
        DiffFormat::Text => text(&changes),
        DiffFormat::Json => json(&changes),
        DiffFormat::Markdown => markdown(&changes),
    });
    // Under GitHub Actions the job's summary page shows the diff too.
    output.to_step_summary(&markdown(&changes));
    if let Some(path) = &args.out {
        let saved = SavedPlan::new(
            &session.plan.sources,
            &global.vars,
            &global.targets,
            &global.excludes,
            &global.set,
            &changes,
        );
        // Our own types, string keys only: serializing them cannot fail.
        let text = serde_json::to_string_pretty(&saved).unwrap_or_default() + "\n";
        if let Err(err) = std::fs::write(path, text) {
            return output.fail(&CliError::new(
                "cli::io",
                format!("cannot write {}: {err}", path.display()),
            ));
        }
        output.err(&format!(
            "Saved this plan to {}; `plan apply {}` applies it if nothing moved.\n",
            path.display(),
            path.display()
        ));
    }
    let counts = Counts::of(&changes);
    if changes.iter().any(|c| c.action == Action::Error) {
        exit::ERROR
    } else if args.detailed_exitcode && counts.has_changes() {
        CHANGES_PENDING
    } else {
        exit::OK
    }
}
