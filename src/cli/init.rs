//! `plan init`: a starter `plan.yaml` from the Dockerfiles in the folder
//! (and its subfolders, three deep), with the JSON Schema beside it for
//! editors; checked before it is written, and never over an existing plan.

use std::path::{Path, PathBuf};

use super::{CliError, GlobalArgs, Output, exit};
use crate::plan::pipeline;
use crate::plan::schema::plan_schema;
use crate::plan::starter::{SCHEMA_FILE, starter_plan};

/// Folders never searched: dependencies, build output, version control.
const SKIPPED: &[&str] = &["node_modules", "target", "vendor", "dist", "build"];
const DEPTH: usize = 3;

pub fn run(global: &GlobalArgs, output: &mut Output) -> u8 {
    let dir = global.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let plan_path = dir.join("plan.yaml");
    if plan_path.exists() {
        return output.fail(
            &CliError::new(
                "cli::plan-exists",
                format!("{} exists already", plan_path.display()),
            )
            .help("`plan init` writes a new plan only; edit the one there"),
        );
    }
    let mut found = Vec::new();
    find_dockerfiles(&dir, Path::new(""), 0, &mut found);
    found.sort();
    if found.is_empty() {
        return output.fail(
            &CliError::new(
                "cli::no-dockerfile",
                format!("no Dockerfile in {} (or three folders down)", dir.display()),
            )
            .help("write a plan by hand: the README's plan reference shows every field"),
        );
    }
    let text = starter_plan(&found);
    // Checked as `plan validate` would, before anything is written.
    let mut sources = crate::plan::source::SourceMap::default();
    sources.add(crate::plan::source::SourceFile {
        name: "plan.yaml".into(),
        path: plan_path.clone(),
        text: text.clone(),
    });
    let checked = pipeline::check_sources(sources, &[], &|_| None);
    if let Some(error) = checked.diagnostics.iter().find(|d| d.is_error()) {
        return output.fail(&CliError::new(
            "cli::internal",
            format!("the starter plan does not validate: {}", error.message),
        ));
    }
    let schema_path = dir.join(SCHEMA_FILE);
    let written = std::fs::write(&plan_path, &text).and_then(|()| {
        if schema_path.exists() {
            Ok(())
        } else {
            std::fs::write(&schema_path, plan_schema())
        }
    });
    if let Err(err) = written {
        return output.fail(&CliError::new(
            "cli::io",
            format!("cannot write {}: {err}", plan_path.display()),
        ));
    }
    let builds = found.len();
    output.out(&format!(
        "wrote plan.yaml: {builds} build{} ({}), and {SCHEMA_FILE} for editors\n\n\
         next:\n  \
           1. set `registry` in plan.yaml (and each build's platforms)\n  \
           2. plan validate\n  \
           3. plan diff      # what apply would do, against your registry\n  \
           4. plan apply\n",
        if builds == 1 { "" } else { "s" },
        found
            .iter()
            .map(|p| crate::untrusted::escape(&p.display().to_string()).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    exit::OK
}

fn find_dockerfiles(root: &Path, relative: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root.join(relative)) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = relative.join(&name);
        if kind.is_dir() {
            if depth < DEPTH && !name.starts_with('.') && !SKIPPED.contains(&name.as_str()) {
                find_dockerfiles(root, &path, depth + 1, found);
            }
        } else if kind.is_file() && is_dockerfile(&name) {
            found.push(path);
        }
    }
}

fn is_dockerfile(name: &str) -> bool {
    name == "Dockerfile"
        || name.starts_with("Dockerfile.")
        || name.ends_with(".Dockerfile")
        || name.ends_with(".dockerfile")
}
