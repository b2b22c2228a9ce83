//! `plan apply`: run the plan's jobs through buildx, in parallel where the
//! graph allows, with progress, a summary, and a clean stop on Ctrl-C.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::duration::parse_duration;
use super::signals::Handlers;
use super::{CliError, GlobalArgs, Output, exit, session};
use crate::apply::{JobRef, JobRunner, plan_run};
use crate::backend::buildx::{Docker, check_installed};
use crate::backend::registry::{Registries, RegistryReader};
use crate::exec::{ContinuePolicy, JobRecord, JobState, Options, RetryPolicy, Subscriber, run};
use crate::graph::select::glob_matches;
use crate::plan::address::JobKind;
use crate::plan::resolved::Via;
use crate::report::diff::text as diff_text;
use crate::report::outputs;
use crate::report::progress::{ProgressMode, Reporter};
use crate::report::summary::{markdown as summary_markdown, render, summarize};
use crate::state::saved::{SavedPlan, files_of};
use crate::state::{Observer, changes};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `plan diff --out FILE`: applied only if nothing moved since.
    #[arg(value_name = "FILE")]
    pub saved: Option<PathBuf>,
    /// Jobs running at once.
    #[arg(short = 'j', long, default_value_t = 10)]
    pub parallelism: usize,
    /// What a failure stops.
    #[arg(long = "continue", value_enum, default_value_t = ContinuePolicy::Never)]
    pub continue_policy: ContinuePolicy,
    /// Progress output [default: `BUILDKIT_PROGRESS` if set (`rawjson` is `json`), else auto].
    #[arg(long, value_enum)]
    pub progress: Option<ProgressMode>,
    /// Write the results as JSON here (also when the run fails).
    #[arg(long, value_name = "FILE")]
    pub summary_file: Option<PathBuf>,
    /// Write what each build, sync and combine published, in bake's metadata
    /// format (digest, descriptor, image names), also when the run fails.
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// Write each job's full output to DIR/ADDRESS.log.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Give up on a job attempt after this long (e.g. `90s`, `30m`, `2h`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Attempts per job for transient failures (a dropped connection, a registry 429/5xx).
    #[arg(long, default_value_t = 3)]
    pub attempts: u32,
    /// When tags move: as each job finishes, or only once every job succeeded.
    #[arg(long, value_enum, default_value_t = Publish::Immediate)]
    pub publish: Publish,
    /// Run this job even if it is unchanged (glob on addresses, repeatable).
    #[arg(long = "force", value_name = "ADDR")]
    pub force: Vec<String>,
    /// Let repository syncs with `prune: true` delete the tags `diff` shows
    /// as `-` (without it, apply stops before anything runs, naming them).
    #[arg(long)]
    pub allow_delete: bool,
    /// After Ctrl-C, how long running commands get to stop before they are killed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub grace: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Publish {
    /// Each job moves its tags when its content is complete.
    Immediate,
    /// Every job pushes its content by digest; all tags move after every job succeeded.
    AtEnd,
}

impl ApplyArgs {
    /// `--progress`, else what `BUILDKIT_PROGRESS` says, else `auto`.
    pub fn progress_mode(&self) -> ProgressMode {
        self.progress.unwrap_or_else(|| {
            ProgressMode::from_buildkit(std::env::var("BUILDKIT_PROGRESS").ok().as_deref())
        })
    }
}

pub fn run_apply(global: &GlobalArgs, args: &ApplyArgs, output: &mut Output) -> u8 {
    match apply(global, args, output) {
        Ok(code) | Err(code) => code,
    }
}

/// The run, step by step; `Err` is an exit code for a run that stopped
/// before its jobs (its message already printed).
fn apply(global: &GlobalArgs, args: &ApplyArgs, output: &mut Output) -> Result<u8, u8> {
    let saved = read_saved(args.saved.as_deref(), output)?;
    let (global, session) = open_session(global, saved.as_ref(), output)?;
    let selected = session::selection(&session.graph, &global, output)?;
    let planned = plan_run(
        &session.plan,
        &session.graph,
        selected.as_deref(),
        args.timeout,
    );
    session::require_secrets(&session, &planned, &global, output)?;
    let docker = docker_if_needed(&session, &planned, output)?;
    let (workdir, registries) = prepare(&session, args, output)?;
    let runtime = session::runtime(output).ok_or(exit::ERROR)?;
    // Signals are watched from here on: one during observation still ends
    // the run with a summary and exit 130.
    let signals = Signals::watch(&runtime, output)?;
    let addresses: Vec<String> = planned.addresses.iter().map(ToString::to_string).collect();
    let run_info = RunInfo {
        addresses: &addresses,
        partial: selected.is_some(),
    };

    // The same decision `plan diff` shows: what is already done is skipped.
    let observer =
        Observer::new(RegistryReader::of(&registries), docker.clone()).timeout(args.timeout);
    let Some(assessment) = runtime.block_on(async {
        tokio::select! {
            changes = changes(&observer, &session.plan, &planned) => Some(changes),
            () = signals.cancel.cancelled() => None,
        }
    }) else {
        output.err("interrupted while reading live state: nothing was started\n");
        let nothing: Vec<JobRecord> = addresses.iter().map(|_| JobRecord::pending()).collect();
        report(&run_info, &nothing, true, Duration::ZERO, args, output);
        return Ok(exit::INTERRUPTED);
    };
    session::refuse_unsupported(&assessment, &session, &global, output)?;
    let changes = assessment.changes;
    if !args.allow_delete {
        refuse_deletes(&changes, output)?;
    }
    if let Some(saved) = &saved {
        refuse_drift(saved, &changes, output)?;
    }
    if args.progress_mode() != ProgressMode::Json {
        output.err(&diff_text(&changes));
    }

    let forced: Vec<bool> = addresses
        .iter()
        .map(|a| args.force.iter().any(|g| glob_matches(g, a)))
        .collect();
    let runner = Arc::new(JobRunner {
        registries: Arc::clone(&registries),
        changes,
        forced,
        makers: crate::state::inputs::Makers::of(&session.plan, &planned),
        held: std::sync::Mutex::new(Vec::new()),
        allow_delete: args.allow_delete,
        plan: Arc::new(session.plan),
        addresses: planned.addresses.clone(),
        jobs: planned.jobs.clone(),
        docker,
        workdir: workdir.path().to_path_buf(),
    });
    let started = Instant::now();
    let records = run_jobs(&runtime, &planned, &runner, &signals, args, output);

    let interrupted = signals.cancel.is_cancelled();
    let succeeded = !interrupted && records.iter().all(|r| r.state == JobState::Succeeded);
    let published = args.publish != Publish::AtEnd
        || publish_held(succeeded, &runtime, &registries, &runner, output);
    report(
        &run_info,
        &records,
        interrupted,
        started.elapsed(),
        args,
        output,
    );
    let plan = Arc::clone(&runner.plan);
    write_outputs(
        &plan,
        &planned,
        &records,
        &runtime,
        &registries,
        args,
        output,
    );
    Ok(if interrupted {
        exit::INTERRUPTED
    } else if succeeded && published {
        exit::OK
    } else {
        exit::ERROR
    })
}

/// What the step after reads: `--metadata-file`, and under GitHub Actions
/// `$GITHUB_OUTPUT` (`changed`, `digests`). False (each cause said) when a
/// file could not be written or a published digest could not be read: the
/// step after would read a file that is missing or incomplete.
fn write_outputs(
    plan: &crate::plan::resolved::Plan,
    planned: &crate::apply::PlannedRun,
    records: &[JobRecord],
    runtime: &tokio::runtime::Runtime,
    registries: &Registries,
    args: &ApplyArgs,
    output: &mut Output,
) -> bool {
    let github = output.github_file("GITHUB_OUTPUT");
    if args.metadata_file.is_none() && github.is_none() {
        return true;
    }
    let published = runtime.block_on(crate::apply::published::published(
        plan, planned, records, registries,
    ));
    let mut failures: Vec<String> = published
        .iter()
        .filter_map(|p| {
            Some(format!(
                "cannot read what {} published: {}",
                p.address,
                p.unread.as_ref()?
            ))
        })
        .collect();
    if let Some(path) = &args.metadata_file {
        let text = format!("{:#}\n", outputs::metadata(&published));
        if let Err(err) = std::fs::write(path, text) {
            failures.push(format!("cannot write {}: {err}", path.display()));
        }
    }
    if let Some(path) = &github {
        let changed = records
            .iter()
            .any(|r| r.state == JobState::Succeeded && !r.outcome.unchanged);
        if let Err(err) = outputs::append(path, &outputs::github_output(changed, &published)) {
            failures.push(format!("cannot write {}: {err}", path.display()));
        }
    }
    for failure in &failures {
        output.err(&format!("plan: {}\n", crate::untrusted::escape(failure)));
    }
    failures.is_empty()
}

/// Tags a run would delete stop it before anything runs, unless
/// `--allow-delete` says the deletions `diff` showed are meant.
fn refuse_deletes(changes: &[crate::state::Change], output: &mut Output) -> Result<(), u8> {
    let doomed: Vec<String> = changes
        .iter()
        .flat_map(|c| {
            c.deletes
                .iter()
                .map(move |d| format!("{} ({})", d.reference, c.address))
        })
        .collect();
    if doomed.is_empty() {
        return Ok(());
    }
    Err(output.fail(
        &CliError::new(
            "cli::deletes-not-allowed",
            format!(
                "this run would delete {} tag{}: {}",
                doomed.len(),
                if doomed.len() == 1 { "" } else { "s" },
                crate::untrusted::escape(&doomed.join(", "))
            ),
        )
        .help(
            "nothing was started; check them in `plan diff`, then run `plan apply --allow-delete`",
        ),
    ))
}

/// Where the run works: the log folder, a work folder for generated
/// files, and the run's registries (holding tags under `--publish at-end`).
fn prepare(
    session: &session::Session,
    args: &ApplyArgs,
    output: &mut Output,
) -> Result<(tempfile::TempDir, Arc<Registries>), u8> {
    if let Some(dir) = &args.log_dir {
        std::fs::create_dir_all(dir).map_err(|err| {
            output.fail(&CliError::new(
                "cli::io",
                format!("cannot create the log folder {}: {err}", dir.display()),
            ))
        })?;
    }
    let workdir = tempfile::Builder::new()
        .prefix("buildplan-")
        .tempdir()
        .map_err(|err| {
            output.fail(&CliError::new(
                "cli::io",
                format!("cannot create a work folder: {err}"),
            ))
        })?;
    let registries = Arc::new(Registries::new(
        session.plan.registries.clone(),
        session.plan.mirrors.clone(),
    ));
    if args.publish == Publish::AtEnd {
        refuse_at_end_reads(session, output)?;
        registries.hold_tags();
    }
    Ok((workdir, registries))
}

/// The first signal stops the run (`cancel`), a second aborts it (`abort`).
struct Signals {
    cancel: CancellationToken,
    abort: CancellationToken,
    watcher: tokio::task::JoinHandle<()>,
}

impl Signals {
    /// Installs the handlers now; `Err` (a message printed) when they
    /// cannot be, since a run that Ctrl-C could not stop cleanly is not
    /// started.
    fn watch(runtime: &tokio::runtime::Runtime, output: &mut Output) -> Result<Self, u8> {
        let handlers = {
            let _context = runtime.enter();
            Handlers::install()
        }
        .map_err(|err| {
            output.fail(&CliError::new(
                "cli::signals",
                format!("cannot install the Ctrl-C handler: {err}"),
            ))
        })?;
        let cancel = CancellationToken::new();
        let abort = CancellationToken::new();
        let watcher = runtime.spawn(handlers.cancel_on_signal(cancel.clone(), abort.clone()));
        Ok(Self {
            cancel,
            abort,
            watcher,
        })
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// What the summary says of the run as a whole.
struct RunInfo<'a> {
    addresses: &'a [String],
    /// `--target` selected part of the plan.
    partial: bool,
}

/// The session, with a saved plan's files, vars and targets in place of
/// the flags, refused when a file changed since it was saved.
fn open_session(
    global: &GlobalArgs,
    saved: Option<&SavedPlan>,
    output: &mut Output,
) -> Result<(GlobalArgs, session::Session), u8> {
    let mut global = global.clone();
    if let Some(saved) = saved {
        global.files = saved.files.iter().map(|f| PathBuf::from(&f.name)).collect();
        global.vars.clone_from(&saved.vars);
        global.targets.clone_from(&saved.targets);
        global.excludes.clone_from(&saved.excludes);
        global.set = saved
            .sets
            .iter()
            .filter_map(|text| crate::plan::overrides::parse_override(text).ok())
            .collect();
    }
    let session = session::open(&global, output).ok_or(exit::ERROR)?;
    if let Some(saved) = saved {
        refuse_changed_files(saved, &session, output)?;
    }
    Ok((global, session))
}

/// Docker, checked to be installed with buildx when the run needs it: only
/// buildx work does, a plan of native copies runs without it.
fn docker_if_needed(
    session: &session::Session,
    planned: &crate::apply::PlannedRun,
    output: &mut Output,
) -> Result<Docker, u8> {
    let needs_docker = planned.jobs.iter().any(|job| match job {
        JobRef::Sync(i) => session.plan.syncs[*i].via != Via::Registry,
        JobRef::Combine(i) => session.plan.combines[*i].via != Via::Registry,
        JobRef::Builder(_) | JobRef::Build(_) => true,
    });
    let docker = Docker::default();
    if needs_docker && let Err(message) = check_installed(&docker) {
        return Err(output.fail(&CliError::new("cli::docker-missing", message)));
    }
    Ok(docker)
}

/// A saved plan is refused when any job's live state moved since.
fn refuse_drift(
    saved: &SavedPlan,
    changes: &[crate::state::Change],
    output: &mut Output,
) -> Result<(), u8> {
    let drift = saved.drift(changes);
    if drift.is_empty() {
        return Ok(());
    }
    Err(output.fail(
        &CliError::new(
            "cli::stale-plan",
            format!(
                "the saved plan is stale; since `plan diff --out` these moved:\n{}",
                drift
                    .iter()
                    .map(|d| format!("  - {d}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        )
        .help("review `plan diff` again, then apply")
        .exit(exit::STALE),
    ))
}

/// Every job through the scheduler, with progress as `--progress` says.
fn run_jobs(
    runtime: &tokio::runtime::Runtime,
    planned: &crate::apply::PlannedRun,
    runner: &Arc<JobRunner>,
    signals: &Signals,
    args: &ApplyArgs,
    output: &Output,
) -> Vec<JobRecord> {
    let reporter = Arc::new(Reporter::new(
        args.progress_mode(),
        planned.addresses.iter().map(ToString::to_string).collect(),
        args.log_dir.clone(),
        std::io::stderr().is_terminal(),
        std::env::var_os("CI").is_some(),
        output.github_actions,
        Box::new(std::io::stderr()),
    ));
    let options = Options {
        parallelism: args.parallelism,
        continue_policy: args.continue_policy,
        retry: RetryPolicy {
            attempts: args.attempts.max(1),
            ..RetryPolicy::default()
        },
        grace: args.grace,
        abort: signals.abort.clone(),
    };
    let subscriber: Arc<dyn Subscriber> = reporter.clone();
    let records = runtime.block_on(run(
        &planned.schedule,
        Arc::clone(runner),
        &options,
        signals.cancel.clone(),
        subscriber,
    ));
    reporter.finish();
    records
}

/// The summary, on stderr and in `--summary-file`.
fn report(
    info: &RunInfo<'_>,
    records: &[JobRecord],
    interrupted: bool,
    took: Duration,
    args: &ApplyArgs,
    output: &mut Output,
) {
    let summary = summarize(info.addresses, records, interrupted, info.partial, took);
    output.err(&render(&summary));
    write_summary(args.summary_file.as_deref(), &summary, output);
    output.to_step_summary(&summary_markdown(&summary));
}

/// `--summary-file`: the results as JSON, also for a failed or interrupted run.
fn write_summary(
    path: Option<&Path>,
    summary: &crate::report::summary::Summary,
    output: &mut Output,
) {
    let Some(path) = path else { return };
    let written = serde_json::to_string_pretty(summary)
        .map_err(|err| err.to_string())
        .and_then(|text| std::fs::write(path, text + "\n").map_err(|err| err.to_string()));
    if let Err(err) = written {
        output.fail(&CliError::new(
            "cli::io",
            format!("cannot write the summary to {}: {err}", path.display()),
        ));
    }
}

/// Largest saved plan read (it holds one line per job).
const MAX_SAVED_PLAN_BYTES: u64 = 64 * 1024 * 1024;

/// The plan saved by `plan diff --out`, if one was given.
fn read_saved(path: Option<&Path>, output: &mut Output) -> Result<Option<SavedPlan>, u8> {
    let Some(path) = path else {
        return Ok(None);
    };
    let bytes = crate::local_file::read(path, MAX_SAVED_PLAN_BYTES).map_err(|err| {
        output.fail(&CliError::new(
            "cli::io",
            format!("cannot read {}: {err}", path.display()),
        ))
    })?;
    serde_json::from_slice::<SavedPlan>(&bytes)
        .ok()
        .filter(|saved| {
            saved.kind == crate::state::saved::KIND
                && saved.format_version == crate::state::saved::FORMAT_VERSION
        })
        .map(Some)
        .ok_or_else(|| {
            output.fail(
                &CliError::new(
                    "cli::not-a-saved-plan",
                    format!(
                        "{} is not a plan saved by `plan diff --out` of this version of plan",
                        path.display()
                    ),
                )
                .help("run `plan diff --out FILE` again, then `plan apply FILE`"),
            )
        })
}

/// A saved plan is stale when a plan file changed since it was saved.
fn refuse_changed_files(
    saved: &SavedPlan,
    session: &session::Session,
    output: &mut Output,
) -> Result<(), u8> {
    let now = files_of(&session.plan.sources);
    let changed: Vec<&str> = saved
        .files
        .iter()
        .filter(|f| !now.contains(f))
        .map(|f| f.name.as_str())
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    Err(output.fail(
        &CliError::new(
            "cli::stale-plan",
            format!(
                "the saved plan is stale: {} changed since `plan diff --out`",
                changed.join(", ")
            ),
        )
        .help("run `plan diff --out` again")
        .exit(exit::STALE),
    ))
}

/// `--publish at-end` cannot run a build whose Dockerfile reads, by tag, an
/// image this run produces: the tag would still be the old one. Said before
/// anything runs.
fn refuse_at_end_reads(session: &session::Session, output: &mut Output) -> Result<(), u8> {
    let readers: Vec<String> = session
        .graph
        .image_readers()
        .filter(|job| job.address.kind == JobKind::Build)
        .map(|job| job.address.to_string())
        .collect();
    if readers.is_empty() {
        return Ok(());
    }
    Err(output.fail(
        &CliError::new(
            "cli::publish-at-end",
            format!(
                "--publish at-end cannot run {}: its Dockerfile reads an image this run produces, by a tag that would only move at the end",
                readers.join(", ")
            ),
        )
        .help("use --publish immediate for this plan"),
    ))
}

/// `--publish at-end`: moves every held tag if every job succeeded, else
/// none. Returns whether publishing went through.
fn publish_held(
    succeeded: bool,
    runtime: &tokio::runtime::Runtime,
    registries: &Registries,
    runner: &JobRunner,
    output: &mut Output,
) -> bool {
    if !succeeded {
        output.err("Nothing published: the run did not succeed, so no tag moved (content pushed by digest stays unreferenced).\n");
        return true;
    }
    let moved = runtime.block_on(async {
        let native = registries.publish_held().await.map_err(|e| e.message)?;
        let buildx = runner.publish_held().await?;
        Ok::<_, String>(native.len() + buildx.len())
    });
    match moved {
        Ok(n) => {
            output.err(&format!(
                "Published: every job succeeded, {n} tag move{} done.\n",
                if n == 1 { "" } else { "s" }
            ));
            true
        }
        Err(err) => {
            output.fail(
                &CliError::new(
                    "cli::publish-failed",
                    format!("publishing the held tags failed: {err}"),
                )
                .help("run `plan apply --publish at-end` again; the content is in place"),
            );
            false
        }
    }
}
