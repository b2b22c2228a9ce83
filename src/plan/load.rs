//! Finding, reading and parsing plan files.
//!
//! Reading is bounded: a file over [`MAX_FILE_BYTES`] is refused before it is
//! parsed, and the YAML reader (`super::yaml`) bounds nesting and alias
//! expansion, so a hostile or runaway file fails fast with a diagnostic
//! instead of hanging or eating memory.

use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, did_you_mean};
use super::model::PlanFile;
use super::source::{FileId, Origin, SourceFile, SourceMap, Span};

/// Largest plan file read (bytes). A 20,000-job plan is about 3 MiB.
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Which files to read: those named with `-f`, else discovered in a folder.
pub fn discover(dir: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let single = dir.join("plan.yaml");
    if single.is_file() {
        return Ok(vec![PathBuf::from("plan.yaml")]);
    }
    let plans = dir.join("plans");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&plans)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| {
                    path.is_file()
                        && path
                            .extension()
                            .is_some_and(|ext| ext == "yaml" || ext == "yml")
                })
                .filter_map(|path| path.strip_prefix(dir).ok().map(Path::to_path_buf))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    if found.is_empty() {
        return Err(Diagnostic::error(
            "plan::no-plan-files",
            format!("no plan found in {}", display_dir(dir)),
        )
        .help("create `plan.yaml` or `plans/*.yaml`, or name files with `-f FILE`"));
    }
    Ok(found)
}

fn display_dir(dir: &Path) -> String {
    if dir.as_os_str().is_empty() || dir == Path::new(".") {
        "the current folder".into()
    } else {
        dir.display().to_string()
    }
}

/// Reads one file into `sources`; a missing, oversized or non-UTF-8 file is a diagnostic.
pub fn read(path: &Path, base: &Path, sources: &mut SourceMap) -> Result<FileId, Diagnostic> {
    let full = base.join(path);
    let name = path.display().to_string();
    let cannot = |what: String, help: &str| {
        Diagnostic::error(
            "plan::unreadable-file",
            format!("cannot read plan file `{name}`: {what}"),
        )
        .help(help)
    };
    let bytes = crate::local_file::read(&full, MAX_FILE_BYTES).map_err(|err| match err {
        crate::local_file::LocalFileError::TooLarge(_) => Diagnostic::error(
            "plan::budget",
            format!("plan file `{name}` is over the limit of {MAX_FILE_BYTES} bytes"),
        )
        .help("split the plan into several files, or use `matrix` to generate repetitive jobs"),
        crate::local_file::LocalFileError::NotRegular(_) => cannot(
            err.to_string(),
            "give `-f` a plan file (a FIFO, device or folder cannot be one)",
        ),
        crate::local_file::LocalFileError::Io(ref io)
            if io.kind() == std::io::ErrorKind::NotFound =>
        {
            cannot(err.to_string(), "check the path given with `-f`")
        }
        crate::local_file::LocalFileError::Io(_) => {
            cannot(err.to_string(), "check the file's permissions")
        }
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        cannot(
            format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
            "save the file as UTF-8",
        )
    })?;
    Ok(sources.add(SourceFile {
        name,
        path: full,
        text,
    }))
}

/// Parses one file; a syntax or type error becomes a diagnostic at its place.
pub fn parse(file: FileId, source: &SourceFile) -> Result<PlanFile, Diagnostic> {
    if source.text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---"
    }) {
        return Err(Diagnostic::error(
            "plan::empty-file",
            format!("plan file `{}` is empty", source.name),
        )
        .label(Origin::new(file, Span::default()), "nothing here")
        .help("start the file with `version: 1`"));
    }
    super::yaml::from_str::<PlanFile>(&source.text).map_err(|err| yaml_error(file, source, err))
}

fn yaml_error(file: FileId, source: &SourceFile, err: super::yaml::Error) -> Diagnostic {
    let origin = Origin::new(file, source.clamp(err.span.unwrap_or_default()));
    let (code, help) = explain(&err.message);
    // serde's word for an enum's value means nothing to a plan's author.
    let message = err
        .message
        .replacen("unknown variant `", "unknown value `", 1);
    Diagnostic::error(code, message)
        .label(origin, "here")
        .help(help)
}

/// A code and a way out for the errors serde reports in plain words.
fn explain(message: &str) -> (&'static str, String) {
    if message.starts_with("duplicate key") {
        return (
            "plan::duplicate-key",
            "a key may appear once in a mapping: remove or rename one of the two (the later one is not silently taken)".into(),
        );
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known = names_in(expected);
        let help = match did_you_mean(field, known.iter().map(String::as_str)) {
            Some(close) => format!("did you mean `{close}`?"),
            None if known.is_empty() => "remove this field".into(),
            None => format!("remove it; the fields here are: {}", known.join(", ")),
        };
        return ("plan::unknown-field", help);
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (variant, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known = names_in(expected);
        let help = match did_you_mean(variant, known.iter().map(String::as_str)) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("use one of: {}", known.join(", ")),
        };
        return ("plan::unknown-value", help);
    }
    if message.starts_with("invalid") || message.starts_with("expected") {
        let help = if message.contains("boolean") {
            "write `true` or `false`"
        } else if message.contains("u32") || message.contains("integer") {
            "write a whole number, without quotes"
        } else if message.contains("string") {
            "write a string here; quote it if it looks like a list, a map or a number"
        } else {
            "give this field a value of the expected type (see the plan reference in the README)"
        };
        return ("plan::wrong-type", help.into());
    }
    if message.contains("tab") {
        return (
            "plan::yaml-syntax",
            "indent with spaces; YAML does not allow tabs for indentation".into(),
        );
    }
    if message.contains("mapping values are not allowed") || message.contains("indentation") {
        return (
            "plan::yaml-syntax",
            "check the indentation of this line: the keys of one mapping must line up".into(),
        );
    }
    if message.contains("did not find expected")
        || message.contains("unclosed")
        || message.contains("end of stream")
    {
        return (
            "plan::yaml-syntax",
            "close the open quote, bracket or brace".into(),
        );
    }
    if message.starts_with("missing field") {
        return ("plan::missing-field", "add the field".into());
    }
    if message.contains("budget") || message.contains("limit") || message.contains("alias") {
        return (
            "plan::budget",
            "the file is too large or expands too much (aliases); split it or use `matrix`".into(),
        );
    }
    ("plan::yaml-syntax", "fix the YAML syntax here".into())
}

/// The names in serde's ", expected one of a, b, c" (with or without backquotes).
fn names_in(text: &str) -> Vec<String> {
    let list = text
        .split_once("expected one of ")
        .or_else(|| text.split_once("expected "))
        .map_or("", |(_, list)| list);
    list.split(", ")
        .map(|name| name.trim_matches(['`', ' ']).to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}
