//! `plan apply`: run the plan's jobs through buildx, in parallel where the
//! graph allows, with progress, a summary, and a clean stop on Ctrl-C.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::{GlobalArgs, Output, exit, session};
use crate::apply::{JobRef, JobRunner, plan_run};
use crate::backend::buildx::{Docker, check_installed};
use crate::backend::registry::Registries;
use crate::exec::{ContinuePolicy, JobState, Options, RetryPolicy, Subscriber, run};
use crate::graph::select::glob_matches;
use crate::plan::resolved::Via;
use crate::report::diff::text as diff_text;
use crate::report::progress::{ProgressMode, Reporter};
use crate::report::summary::{render, summarize};
use crate::state::saved::{SavedPlan, files_of};
use crate::state::{Observer, decide};

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
    /// Progress output.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Write the results as JSON here (also when the run fails).
    #[arg(long, value_name = "FILE")]
    pub summary_file: Option<PathBuf>,
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

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.trim().split_at(
        text.trim()
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(text.trim().len()),
    );
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 90s, 30m or 2h"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (use ms, s, m or h)"
            ));
        }
    };
    Ok(Duration::from_secs_f64(seconds))
}

pub fn run_apply(global: &GlobalArgs, args: &ApplyArgs, output: &mut Output) -> u8 {
    let saved = match &args.saved {
        None => None,
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<SavedPlan>(&t).map_err(|e| e.to_string()))
        {
            Ok(saved) if saved.kind == crate::state::saved::KIND => Some(saved),
            Ok(_) | Err(_) => {
                output.err(&format!(
                    "error: {} is not a plan saved by `plan diff --out`\n",
                    path.display()
                ));
                return exit::ERROR;
            }
        },
    };
    // A saved plan names its files, vars and targets; they replace the flags.
    let mut global = global.clone();
    let mut targets = global.targets.clone();
    if let Some(saved) = &saved {
        global.files = saved.files.iter().map(|f| PathBuf::from(&f.name)).collect();
        global.vars.clone_from(&saved.vars);
        targets.clone_from(&saved.targets);
    }
    let global = &global;
    let Some(session) = session::open(global, output) else {
        return exit::ERROR;
    };
    if let Some(saved) = &saved {
        let now = files_of(&session.plan.sources);
        let changed: Vec<&str> = saved
            .files
            .iter()
            .filter(|f| !now.contains(f))
            .map(|f| f.name.as_str())
            .collect();
        if !changed.is_empty() {
            output.err(&format!("error: the saved plan is stale: {} changed since `plan diff --out`\n  help: run `plan diff --out` again\n", changed.join(", ")));
            return exit::STALE;
        }
    }
    let selected = match session::selection(&session.graph, &targets, output) {
        Ok(selected) => selected,
        Err(code) => return code,
    };
    let planned = plan_run(
        &session.plan,
        &session.graph,
        selected.as_deref(),
        args.timeout,
    );
    // Only buildx work needs docker: a plan of native copies runs without it.
    let needs_docker = planned.jobs.iter().any(|job| match job {
        JobRef::Sync(i) => session.plan.syncs[*i].via != Via::Registry,
        JobRef::Combine(i) => session.plan.combines[*i].via != Via::Registry,
        JobRef::Builder(_) | JobRef::Build(_) => true,
    });
    let docker = Docker::default();
    if needs_docker && let Err(message) = check_installed(&docker) {
        output.err(&format!("error: {message}\n"));
        return exit::ERROR;
    }
    if let Some(dir) = &args.log_dir
        && let Err(err) = std::fs::create_dir_all(dir)
    {
        output.err(&format!(
            "error: cannot create the log folder {}: {err}\n",
            dir.display()
        ));
        return exit::ERROR;
    }
    let workdir = match tempfile::Builder::new().prefix("buildplan-").tempdir() {
        Ok(dir) => dir,
        Err(err) => {
            output.err(&format!("error: cannot create a work folder: {err}\n"));
            return exit::ERROR;
        }
    };
    let addresses: Vec<String> = planned.addresses.iter().map(ToString::to_string).collect();
    let reporter = Arc::new(Reporter::new(
        args.progress,
        addresses.clone(),
        args.log_dir.clone(),
        std::io::stderr().is_terminal(),
        std::env::var_os("CI").is_some(),
        output.github_actions,
        Box::new(std::io::stderr()),
    ));
    let registries = Arc::new(Registries::new(
        session.plan.registries.clone(),
        session.plan.mirrors.clone(),
    ));
    if args.publish == Publish::AtEnd {
        // A build reads its base images by tag in its Dockerfile; under
        // at-end the tag would still be the old one. Say so before anything runs.
        let reads_own: Vec<String> = session
            .graph
            .jobs()
            .filter(|(_, job)| job.address.kind == crate::plan::address::JobKind::Build)
            .filter(|(node, _)| {
                session.graph.dependencies(*node).any(|dep| {
                    session
                        .graph
                        .reasons(dep, *node)
                        .any(|e| matches!(e, crate::graph::Edge::Image(_)))
                })
            })
            .map(|(_, job)| job.address.to_string())
            .collect();
        if !reads_own.is_empty() {
            output.err(&format!(
                "error: --publish at-end cannot run {}: its Dockerfile reads an image this run produces, by a tag that would only move at the end\n  help: use --publish immediate for this plan\n",
                reads_own.join(", ")
            ));
            return exit::ERROR;
        }
        registries.hold_tags();
    }
    let Some(runtime) = session::runtime(output) else {
        return exit::ERROR;
    };
    // The same decision `plan diff` shows: what is already done is skipped.
    let observer = Observer::new(Arc::clone(&registries), docker.clone());
    let observed = runtime.block_on(observer.observe(&session.plan, &planned));
    let changes = decide(&session.plan, &planned, &observed);
    if let Some(saved) = &saved {
        let drift = saved.drift(&changes);
        if !drift.is_empty() {
            output.err(&format!(
                "error: the saved plan is stale; since `plan diff --out` these moved:\n{}\n  help: review `plan diff` again, then apply\n",
                drift.iter().map(|d| format!("  - {d}")).collect::<Vec<_>>().join("\n")
            ));
            return exit::STALE;
        }
    }
    if args.progress != ProgressMode::Json {
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
        held: std::sync::Mutex::new(Vec::new()),
        plan: Arc::new(session.plan),
        addresses: planned.addresses.clone(),
        jobs: planned.jobs.clone(),
        docker,
        workdir: workdir.path().to_path_buf(),
    });
    let options = Options {
        parallelism: args.parallelism,
        continue_policy: args.continue_policy,
        retry: RetryPolicy {
            attempts: args.attempts.max(1),
            ..RetryPolicy::default()
        },
        grace: args.grace,
    };
    let started = Instant::now();
    let cancel = CancellationToken::new();
    let records = runtime.block_on(async {
        let watcher = tokio::spawn(interrupt_on_signal(cancel.clone()));
        let subscriber: Arc<dyn Subscriber> = reporter.clone();
        let records = run(
            &planned.schedule,
            Arc::clone(&runner),
            &options,
            cancel.clone(),
            subscriber,
        )
        .await;
        watcher.abort();
        records
    });
    reporter.finish();
    let interrupted = cancel.is_cancelled();
    let succeeded = !interrupted && records.iter().all(|r| r.state == JobState::Succeeded);
    let mut publish_failed = false;
    if args.publish == Publish::AtEnd {
        if succeeded {
            let published = runtime.block_on(async {
                let native = registries.publish_held().await.map_err(|e| e.message)?;
                let buildx = runner.publish_held().await?;
                Ok::<_, String>(native.len() + buildx.len())
            });
            match published {
                Ok(n) => output.err(&format!(
                    "Published: every job succeeded, {n} tag move{} done.\n",
                    if n == 1 { "" } else { "s" }
                )),
                Err(err) => {
                    publish_failed = true;
                    output.err(&format!("error: publishing the held tags failed: {err}\n  help: run `plan apply --publish at-end` again; the content is in place\n"));
                }
            }
        } else {
            output.err("Nothing published: the run did not succeed, so no tag moved (content pushed by digest stays unreferenced).\n");
        }
    }
    let summary = summarize(
        &addresses,
        &records,
        interrupted,
        selected.is_some(),
        started.elapsed(),
    );
    output.err(&render(&summary));
    if let Some(path) = &args.summary_file {
        let mut text = serde_json::to_string_pretty(&summary).unwrap_or_default();
        text.push('\n');
        if let Err(err) = std::fs::write(path, text) {
            output.err(&format!(
                "error: cannot write the summary to {}: {err}\n",
                path.display()
            ));
        }
    }
    if interrupted {
        exit::INTERRUPTED
    } else if succeeded && !publish_failed {
        exit::OK
    } else {
        exit::ERROR
    }
}

/// Ctrl-C or SIGTERM cancels the run (once; a second signal changes nothing,
/// the grace period still applies).
async fn interrupt_on_signal(cancel: CancellationToken) {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match &mut terminate {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
    cancel.cancel();
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
