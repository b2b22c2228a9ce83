//! `plan import`: a plan from a `docker-bake.hcl` (read through `docker
//! buildx bake --print`), printed or written with `-o`, checked as
//! `plan validate` would. What did not map is a `# not imported:` comment
//! in the plan and a warning here.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{CliError, GlobalArgs, Output, exit};
use crate::plan::import::{Imported, bake, regsync, skopeo_sync};
use crate::plan::pipeline;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub from: ImportFrom,
}

#[derive(Debug, Subcommand)]
pub enum ImportFrom {
    /// A bake definition (HCL, JSON or compose; bake's own default files
    /// when none is named), read with `docker buildx bake --print`; `--target`
    /// names bake targets or groups (default: bake's `default` group).
    Bake {
        /// Bake files (`-f` for bake), in order.
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Write the plan here instead of printing it (not over an existing file).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// A regsync configuration: `sync` entries as syncs (repository
    /// entries as repository syncs), `creds` as `registries` settings.
    Regsync {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// A `skopeo sync --src yaml` file, synced to `--to` as skopeo would.
    SkopeoSync {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The destination skopeo was given (`skopeo sync … FILE DEST`).
        #[arg(long = "to", value_name = "DEST")]
        to: String,
        /// Keep each image's whole path under DEST (skopeo's `--scoped`).
        #[arg(long)]
        scoped: bool,
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Largest file imported (a configuration, not data).
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// A file to import: bounded, UTF-8.
fn read_config(dir: &Path, file: &Path) -> Result<String, CliError> {
    let path = dir.join(file);
    let bytes = crate::local_file::read(&path, MAX_CONFIG_BYTES).map_err(|err| {
        CliError::new(
            "cli::import",
            format!("cannot read {}: {err}", path.display()),
        )
    })?;
    String::from_utf8(bytes).map_err(|_| {
        CliError::new(
            "cli::import",
            format!("{} is not UTF-8 text", path.display()),
        )
    })
}

pub fn run(global: &GlobalArgs, args: &ImportArgs, output: &mut Output) -> u8 {
    let dir = global.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let (imported, out) = match &args.from {
        ImportFrom::Bake { files, out } => return run_bake(global, files, out.as_deref(), output),
        ImportFrom::Regsync { file, out } => (
            read_config(&dir, file).and_then(|text| {
                regsync::from_regsync(&text, &file.display().to_string())
                    .map_err(|why| CliError::new("cli::import", why))
            }),
            out,
        ),
        ImportFrom::SkopeoSync {
            file,
            to,
            scoped,
            out,
        } => (
            read_config(&dir, file).and_then(|text| {
                skopeo_sync::from_skopeo_sync(&text, &file.display().to_string(), to, *scoped)
                    .map_err(|why| CliError::new("cli::import", why))
            }),
            out,
        ),
    };
    match imported {
        Ok(imported) => finish(global, &dir, imported, out.as_deref(), output),
        Err(err) => output.fail(&err),
    }
}

fn run_bake(global: &GlobalArgs, files: &[PathBuf], out: Option<&Path>, output: &mut Output) -> u8 {
    let dir = global.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let docker = crate::backend::buildx::Docker::default();
    let print = match crate::backend::bake::print(&docker, &dir, files, &global.targets) {
        Ok(print) => print,
        Err(err) => return output.fail(&CliError::new("cli::import", err.message).help(err.help)),
    };
    let source = if files.is_empty() {
        "bake's default files".to_owned()
    } else {
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match bake::from_bake(&print, &source) {
        Ok(imported) => finish(global, &dir, imported, out, output),
        Err(why) => output.fail(&CliError::new("cli::import", why)),
    }
}

/// Checks the imported plan, says what did not map, and prints or writes it.
fn finish(
    global: &GlobalArgs,
    dir: &Path,
    imported: Imported,
    out: Option<&Path>,
    output: &mut Output,
) -> u8 {
    let plan_path = out.map_or_else(|| dir.join("plan.yaml"), |o| dir.join(o));
    if out.is_some() && plan_path.exists() {
        return output.fail(
            &CliError::new(
                "cli::plan-exists",
                format!("{} exists already", plan_path.display()),
            )
            .help("name another file with -o, or print the plan (no -o) and merge it by hand"),
        );
    }
    let mut sources = crate::plan::source::SourceMap::default();
    sources.add(crate::plan::source::SourceFile {
        name: plan_path.display().to_string(),
        path: plan_path.clone(),
        text: imported.text.clone(),
    });
    let checked = pipeline::check_sources(sources, &[], &|_| None);
    for warning in &imported.warnings {
        output.err(&format!("warning: {}\n", crate::untrusted::escape(warning)));
    }
    let failed = checked.has_errors();
    if !checked.diagnostics.is_empty() {
        super::session::print_diagnostics(&checked.diagnostics, &checked.plan, global, output);
    }
    match out {
        Some(_) => {
            if let Err(err) = std::fs::write(&plan_path, &imported.text) {
                return output.fail(&CliError::new(
                    "cli::io",
                    format!("cannot write {}: {err}", plan_path.display()),
                ));
            }
            output.err(&format!(
                "wrote {}: check it with `plan validate -f {}`\n",
                plan_path.display(),
                plan_path.display()
            ));
        }
        None => output.out(&imported.text),
    }
    if failed { exit::ERROR } else { exit::OK }
}
