//! The command line: clap definitions, and one file per command.

mod apply;
mod completions;
mod diff;
mod duration;
mod error;
mod graph;
mod import;
mod init;
mod ls;
mod output;
mod schema;
mod session;
mod show;
mod signals;
mod validate;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use error::CliError;
pub use output::Output;

/// Exit codes, as `cli.md` defines them.
pub mod exit {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    /// `apply FILE`: the live state moved since the diff that saved it.
    pub const STALE: u8 = 3;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, Parser)]
#[command(
    name = "plan",
    version,
    about = "Build plans for Docker buildx: builders, builds, syncs and combines as one graph",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Plan file to read (repeatable). Default: `plan.yaml`, else `plans/*.yaml` and `plans/*.yml`.
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Set a template variable, overriding `vars` (repeatable).
    #[arg(long = "var", global = true, value_name = "NAME=VALUE", value_parser = crate::plan::resolve::parse_var_override)]
    pub vars: Vec<(String, String)>,
    /// Override a field of the jobs matching a glob, checked as the file is
    /// (repeatable): `build.*.platforms=linux/amd64`, `build.app.args.VERSION=2`,
    /// `sync.mirror.tags={semver: ">=2"}`.
    #[arg(long = "set", global = true, value_name = "ADDR.FIELD=VALUE", value_parser = crate::plan::overrides::parse_override)]
    pub set: Vec<crate::plan::overrides::Override>,
    /// Work on the jobs whose address matches (a glob: `sync.*`), and what they need (repeatable).
    #[arg(long = "target", global = true, value_name = "ADDR")]
    pub targets: Vec<String>,
    /// Leave out the jobs whose address matches (a glob), and what needs them (repeatable).
    #[arg(long = "exclude", global = true, value_name = "ADDR")]
    pub excludes: Vec<String>,
    /// Run as if started in DIR.
    #[arg(short = 'C', long = "dir", global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// How diagnostics are printed (on stderr).
    #[arg(long, global = true, value_enum, default_value_t = DiagnosticsFormat::Text)]
    pub diagnostics: DiagnosticsFormat,
    /// Colour in diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagnosticsFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a starter plan.yaml from the Dockerfiles found here (and below), and say what next.
    Init,
    /// Parse, render templates, build and check the graph; touches nothing outside the files.
    Validate,
    /// Print the resolved plan as JSON (templates, matrices and defaults applied).
    Show,
    /// Print the job graph.
    Graph {
        #[arg(long, value_enum, default_value_t = crate::graph::export::Format::Dot)]
        format: crate::graph::export::Format,
    },
    /// List the jobs (as `bake --list` lists targets): address, what, the images each writes.
    Ls {
        /// As JSON: address, kind, what, targets, needs.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of the plan format.
    Schema,
    /// Write a plan from another tool's definition (`plan import bake`).
    Import(import::ImportArgs),
    /// Show what `apply` would change, against the live builders and registries.
    Diff(diff::DiffArgs),
    /// Run the plan: builders, builds, syncs and combines; skips what is already done.
    Apply(apply::ApplyArgs),
    /// Print a shell completion script (e.g. `plan completions bash > /etc/bash_completion.d/plan`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Runs `plan` with these arguments; returns the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>, output: &mut Output) -> u8 {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                exit::ERROR
            } else {
                exit::OK
            };
            // A usage error under `--diagnostics json` is a JSON diagnostic
            // too (the flag is found by hand: parsing is what failed).
            if err.use_stderr() && asks_for_json(&args) {
                output.diagnostics = DiagnosticsFormat::Json;
                let rendered = err.to_string();
                let message = rendered
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("error: ")
                    .to_owned();
                return output
                    .fail(&CliError::new("cli::usage", message).help("see `plan --help`"));
            }
            let text = if output.color_for(Color::Auto) {
                err.render().ansi().to_string()
            } else {
                err.render().to_string()
            };
            if err.use_stderr() {
                output.err(&text);
            } else {
                output.out(&text);
            }
            return code;
        }
    };
    output.diagnostics = cli.global.diagnostics;
    match &cli.command {
        Command::Init => init::run(&cli.global, output),
        Command::Validate => validate::run(&cli.global, output),
        Command::Show => show::run(&cli.global, output),
        Command::Graph { format } => graph::run(&cli.global, *format, output),
        Command::Ls { json } => ls::run(&cli.global, *json, output),
        Command::Schema => schema::run(output),
        Command::Import(args) => import::run(&cli.global, args, output),
        Command::Diff(args) => diff::run(&cli.global, args, output),
        Command::Apply(args) => apply::run_apply(&cli.global, args, output),
        Command::Completions { shell } => completions::run(*shell, output),
    }
}

/// Whether the raw arguments ask for `--diagnostics json`.
fn asks_for_json(args: &[OsString]) -> bool {
    args.iter()
        .zip(args.iter().skip(1))
        .any(|(flag, value)| flag == "--diagnostics" && value == "json")
        || args.iter().any(|a| a == "--diagnostics=json")
}
