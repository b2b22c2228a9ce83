//! What every command starts with: the plan loaded and checked, and its
//! diagnostics printed in the form asked for.

use std::path::{Path, PathBuf};

use super::{CliError, DiagnosticsFormat, GlobalArgs, Output};
use crate::graph::{JobGraph, Validated, build_graph};
use crate::plan::diagnostic::Diagnostic;
use crate::plan::pipeline::{self, Request};
use crate::plan::resolved::Plan;
use crate::report::diagnostics::{self, Style};

/// A plan that loaded without errors, and its checked graph.
pub struct Session {
    pub plan: Plan,
    pub graph: JobGraph<Validated>,
}

fn read_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Loads and checks the plan; prints every diagnostic; `None` if there were errors.
pub fn open(global: &GlobalArgs, output: &mut Output) -> Option<Session> {
    let dir = global.dir.clone().unwrap_or_else(|| PathBuf::from(""));
    // `git.*` is read once per run, and only when a template names it.
    let git_dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.clone()
    };
    let git_once = std::cell::OnceCell::new();
    let read_git = || {
        git_once
            .get_or_init(|| crate::backend::git::read(&git_dir, &read_env))
            .clone()
    };
    let request = Request {
        dir: Path::new(&dir),
        files: &global.files,
        var_overrides: &global.vars,
        overrides: &global.set,
        env: &read_env,
        git: Some(&read_git),
    };
    let loaded = pipeline::load(&request);
    let mut diagnostics = loaded.diagnostics;
    let plan = loaded.plan;
    let graph = if diagnostics.iter().any(Diagnostic::is_error) {
        None
    } else {
        match build_graph(&plan).validate() {
            Ok(graph) => Some(graph),
            Err(cycles) => {
                diagnostics.extend(cycles);
                None
            }
        }
    };
    print_diagnostics(&diagnostics, &plan, global, output);
    graph.map(|graph| Session { plan, graph })
}

/// `--target`: the jobs to work on (by node index), closed under what they
/// need; `None` when no target was given (every job). A pattern that
/// matches no job is an error, printed here; `Err` holds the exit code.
/// The graph narrowed to `--target`/`--exclude` (the whole of it without
/// them); `Err` is the exit code, the reason printed.
pub fn selected_graph(
    graph: JobGraph<Validated>,
    global: &GlobalArgs,
    output: &mut Output,
) -> Result<JobGraph<Validated>, u8> {
    Ok(match selection(&graph, global, output)? {
        Some(selected) => graph.subgraph(&selected),
        None => graph,
    })
}

pub fn selection(
    graph: &JobGraph<Validated>,
    global: &GlobalArgs,
    output: &mut Output,
) -> Result<Option<Vec<bool>>, u8> {
    let no_such = |flag: &str, pattern: &str, output: &mut Output| {
        output.fail(
            &CliError::new(
                "cli::no-such-job",
                format!("{flag} `{pattern}` matches no job of the plan"),
            )
            .help("`plan ls` lists every job's address (KIND.NAME, e.g. `sync.alpine`, `build.*`)"),
        )
    };
    if global.targets.is_empty() && global.excludes.is_empty() {
        return Ok(None);
    }
    // What --exclude leaves: all but the excluded jobs and what needs them.
    let mut left = vec![true; graph.len()];
    crate::graph::select::exclude(graph, &mut left, &global.excludes)
        .map_err(|pattern| no_such("--exclude", &pattern, output))?;
    if global.targets.is_empty() {
        return Ok(Some(left));
    }
    crate::graph::select::select_among(graph, &global.targets, &left)
        .map(Some)
        .map_err(|pattern| no_such("--target", &pattern, output))
}

/// Prints diagnostics in the form `--diagnostics` asks for (and as GitHub
/// annotations under Actions).
pub fn print_diagnostics(
    diagnostics: &[Diagnostic],
    plan: &Plan,
    global: &GlobalArgs,
    output: &mut Output,
) {
    if diagnostics.is_empty() {
        return;
    }
    match global.diagnostics {
        DiagnosticsFormat::Json => {
            output.err(&diagnostics::render_json(diagnostics, &plan.sources))
        }
        DiagnosticsFormat::Text => {
            let style = Style {
                color: output.color_for(global.color),
                width: output.stderr_width(),
            };
            for diagnostic in diagnostics {
                output.err(&diagnostics::render(diagnostic, &plan.sources, style));
            }
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            let warnings = diagnostics.len() - errors;
            let summary = match (errors, warnings) {
                (0, w) => format!("{w} warning{}\n", plural(w)),
                (e, 0) => format!("error: the plan has {e} error{}\n", plural(e)),
                (e, w) => format!(
                    "error: the plan has {e} error{} and {w} warning{}\n",
                    plural(e),
                    plural(w)
                ),
            };
            output.err(&summary);
        }
    }
    if output.github_actions {
        for diagnostic in diagnostics {
            let line = diagnostics::github_annotation(diagnostic, &plan.sources);
            output.out(&format!("{line}\n"));
        }
    }
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The async runtime for commands that talk to the world.
pub fn runtime(output: &mut Output) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(err) => {
            output.fail(&CliError::new(
                "cli::runtime",
                format!("cannot start the async runtime: {err}"),
            ));
            None
        }
    }
}

/// What a build asks of an engine that cannot do it stops the run before
/// anything runs (`diff` says the same); printed as diagnostics.
pub fn refuse_unsupported(
    assessment: &crate::state::Assessment,
    session: &Session,
    global: &GlobalArgs,
    output: &mut Output,
) -> Result<(), u8> {
    if assessment.unsupported.is_empty() {
        return Ok(());
    }
    print_diagnostics(&assessment.unsupported, &session.plan, global, output);
    Err(super::exit::ERROR)
}

/// Every secret and ssh source the run's builds name must be on this
/// machine; printed as diagnostics (at the secret) when one is not.
pub fn require_secrets(
    session: &Session,
    planned: &crate::apply::PlannedRun,
    global: &GlobalArgs,
    output: &mut Output,
) -> Result<(), u8> {
    let is_set = |name: &str| std::env::var_os(name).is_some();
    let missing = crate::state::secrets::missing(&session.plan, planned, &is_set);
    if missing.is_empty() {
        return Ok(());
    }
    print_diagnostics(&missing, &session.plan, global, output);
    Err(super::exit::ERROR)
}
