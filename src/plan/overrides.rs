//! `--set KIND.NAME.FIELD[.KEY]=VALUE`: a field of the jobs whose name
//! matches a glob, overridden from the command line, as bake's `--set`.
//!
//! An override is checked exactly as the file is: it is written as YAML
//! (`VALUE` a string, a comma-separated list for list fields, a number or
//! boolean as written, or YAML flow `[…]`/`{…}` for anything else),
//! appended to the text of the file that holds the job under a comment
//! naming the `--set`, and parsed there. The job then takes that one field
//! from it. So a wrong value is a diagnostic at its place, in the file's
//! own name, showing the `--set` it came from.

use crate::plan::yaml::quoted;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::address::{JobKind, glob_matches};
use super::diagnostic::Diagnostic;
use super::model::{self, PlanFile};
use super::source::{FileId, Origin, SourceMap, Span};

/// One `--set`, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub text: String,
    pub kind: JobKind,
    pub glob: String,
    pub field: String,
    /// `args.NAME`: the one entry of a map field.
    pub key: Option<String>,
    pub value: String,
}

/// Fields whose value is a list: `VALUE` is comma-separated.
const LIST_FIELDS: &[&str] = &["platforms", "tags", "needs", "cache_from", "cache_to", "to"];
/// Fields that are maps: `FIELD.KEY=VALUE` sets one entry.
const MAP_FIELDS: &[&str] = &[
    "args",
    "labels",
    "annotations",
    "extra_hosts",
    "ulimits",
    "contexts",
    "driver_opts",
];

/// The fields a kind of job has, as the plan format names them.
fn fields(kind: JobKind) -> Vec<String> {
    let schema = match kind {
        JobKind::Builder => schemars::schema_for!(model::BuilderSpec),
        JobKind::Build => schemars::schema_for!(model::BuildSpec),
        JobKind::Sync => schemars::schema_for!(model::SyncSpec),
        JobKind::Combine => schemars::schema_for!(model::CombineSpec),
    };
    schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().filter(|k| *k != "matrix").cloned().collect())
        .unwrap_or_default()
}

/// Reads `KIND.NAME.FIELD[.KEY]=VALUE` (a job name may hold dots: the
/// field is the first part, after the name, that names one).
pub fn parse_override(text: &str) -> Result<Override, String> {
    let (path, value) = text.split_once('=').ok_or_else(|| {
        format!("`{text}` is not ADDR.FIELD=VALUE (e.g. `build.*.platforms=linux/amd64`)")
    })?;
    if value.contains(['\n', '\r']) {
        return Err(format!(
            "the value of `--set {path}` spans lines; give it on one line"
        ));
    }
    let (prefix, rest) = path.split_once('.').unwrap_or((path, ""));
    let kind = JobKind::ALL
        .into_iter()
        .find(|k| k.prefix() == prefix)
        .ok_or_else(|| {
            format!("`{path}` does not start with a job kind: builder., build., sync. or combine.")
        })?;
    let known = fields(kind);
    let parts: Vec<&str> = rest.split('.').collect();
    let at = (1..parts.len())
        .find(|&i| known.iter().any(|f| f == parts[i]))
        .ok_or_else(|| {
            format!(
                "`{path}` names no field of a {prefix}; its fields are {}",
                known.join(", ")
            )
        })?;
    let field = parts[at].to_owned();
    let key = (at + 1 < parts.len()).then(|| parts[at + 1..].join("."));
    if key.is_some() && !MAP_FIELDS.contains(&field.as_str()) {
        return Err(format!(
            "`{path}`: `{field}` is not a map; only {} take `.KEY`",
            MAP_FIELDS.join(", ")
        ));
    }
    Ok(Override {
        text: text.to_owned(),
        kind,
        glob: parts[..at].join("."),
        field,
        key,
        value: value.to_owned(),
    })
}

/// `VALUE` as YAML for its field.
fn yaml_value(o: &Override) -> String {
    let value = o.value.trim();
    if value.starts_with('[') || value.starts_with('{') {
        return value.to_owned();
    }
    if o.key.is_none() && LIST_FIELDS.contains(&o.field.as_str()) {
        let items: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(quoted)
            .collect();
        return format!("[{}]", items.join(", "));
    }
    let plain = matches!(value, "true" | "false")
        || (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()));
    if plain {
        value.to_owned()
    } else {
        quoted(value)
    }
}

/// The job maps of one kind in a parsed file: names, in order.
fn names(file: &PlanFile, kind: JobKind) -> Vec<String> {
    match kind {
        JobKind::Builder => file.builders.keys().map(|k| k.value.clone()).collect(),
        JobKind::Build => file.builds.keys().map(|k| k.value.clone()).collect(),
        JobKind::Sync => file.syncs.keys().map(|k| k.value.clone()).collect(),
        JobKind::Combine => file.combines.keys().map(|k| k.value.clone()).collect(),
    }
}

/// Applies every `--set` to the parsed files. Each must match a job
/// somewhere; a value the plan format refuses is a diagnostic at its
/// place in the text appended to the job's file.
pub fn apply(
    sources: &mut SourceMap,
    files: &mut [(FileId, PlanFile)],
    overrides: &[Override],
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for o in overrides {
        let matched = files
            .iter()
            .any(|(_, file)| names(file, o.kind).iter().any(|n| glob_matches(&o.glob, n)));
        if !matched {
            diagnostics.push(
                Diagnostic::error(
                    "cli::set-matches-nothing",
                    format!(
                        "`--set {}` matches no {} in the plan",
                        o.text,
                        o.kind.prefix()
                    ),
                )
                .help(format!(
                    "`{}` is a glob on job names; `plan ls` lists them",
                    o.glob
                )),
            );
        }
    }
    for (id, file) in files.iter_mut() {
        // Per job: its overrides, in order (a later one wins).
        let mut jobs: BTreeMap<(usize, String), Vec<&Override>> = BTreeMap::new();
        for o in overrides {
            for name in names(file, o.kind) {
                if glob_matches(&o.glob, &name) {
                    jobs.entry((kind_order(o.kind), name)).or_default().push(o);
                }
            }
        }
        if jobs.is_empty() {
            continue;
        }
        let appended = override_yaml(&jobs);
        let source = sources.get_mut(*id);
        let start = source.text.len();
        // Parsed where it will stand: the file's text blanked out (every
        // byte but newlines a space), so each span points into the
        // appended text, and diagnostics show it under the file's name.
        let mut padded = blanked(&source.text);
        padded.push('\n');
        padded.push_str(&appended);
        source.text.push('\n');
        source.text.push_str(&appended);
        let mut parsed = match super::yaml::from_str::<PlanFile>(&padded) {
            Ok(parsed) => parsed,
            Err(err) => {
                let span = err.span.unwrap_or(Span { start, len: 0 });
                diagnostics.push(
                    Diagnostic::error(
                        "cli::bad-set",
                        err.message
                            .replacen("unknown variant `", "unknown value `", 1),
                    )
                    .label(Origin::new(*id, source.clamp(span)), "from --set")
                    .help("give a value the field takes, as in the file (see the plan reference)"),
                );
                continue;
            }
        };
        for ((order, name), list) in &jobs {
            // Each field once (its value is the last `--set` of it); a map
            // set whole by any of them is replaced, else gets the entries.
            let mut seen: Vec<(&str, bool)> = Vec::new();
            for o in list {
                match seen.iter_mut().find(|(f, _)| *f == o.field) {
                    Some((_, whole)) => *whole |= o.key.is_none(),
                    None => seen.push((&o.field, o.key.is_none())),
                }
            }
            for (field, whole) in seen {
                let change = Change {
                    kind: JobKind::ALL[*order],
                    name,
                    field,
                    whole,
                };
                take_field(file, &mut parsed, &change);
            }
        }
    }
    diagnostics
}

/// Same byte offsets, nothing to parse: each char of `text` replaced by as
/// many spaces as its UTF-8 length (newlines kept).
fn blanked(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\n' {
            out.push('\n');
        } else {
            out.extend(std::iter::repeat_n(' ', c.len_utf8()));
        }
    }
    out
}

fn kind_order(kind: JobKind) -> usize {
    JobKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

/// The YAML appended for one file: each job once, each `--set` named in
/// a comment, placeholders for the fields a sync or combine requires.
fn override_yaml(jobs: &BTreeMap<(usize, String), Vec<&Override>>) -> String {
    let mut out = String::new();
    let mut section = None;
    for ((order, name), list) in jobs {
        let kind = JobKind::ALL[*order];
        if section != Some(*order) {
            let _ = writeln!(out, "{}:", section_name(kind));
            section = Some(*order);
        }
        let _ = writeln!(out, "  {}:", quoted(name));
        // Each field once: the last `--set` of it wins; map entries merge.
        let mut fields: Vec<(String, String)> = Vec::new();
        for o in list {
            let _ = writeln!(out, "    # --set {}", o.text.replace(['\n', '\r'], " "));
            let value = match &o.key {
                Some(key) => {
                    let entry = format!("{}: {}", quoted(key), yaml_value(o));
                    match fields.iter_mut().find(|(f, _)| *f == o.field) {
                        Some((_, existing)) if existing.starts_with('{') => {
                            existing.pop();
                            format!("{existing}, {entry}}}")
                        }
                        _ => format!("{{{entry}}}"),
                    }
                }
                None => yaml_value(o),
            };
            fields.retain(|(f, _)| *f != o.field);
            fields.push((o.field.clone(), value));
        }
        let placeholders: &[(&str, &str)] = match kind {
            JobKind::Sync => &[("from", "\"\""), ("to", "[]")],
            JobKind::Combine => &[("from", "{}"), ("to", "[]")],
            _ => &[],
        };
        for (field, value) in placeholders {
            if !fields.iter().any(|(f, _)| f == field) {
                let _ = writeln!(out, "    {field}: {value}");
            }
        }
        for (field, value) in &fields {
            let _ = writeln!(out, "    {field}: {value}");
        }
    }
    out
}

fn section_name(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Builder => "builders",
        JobKind::Build => "builds",
        JobKind::Sync => "syncs",
        JobKind::Combine => "combines",
    }
}

/// One field of one job to take from the parsed overrides.
struct Change<'a> {
    kind: JobKind,
    name: &'a str,
    field: &'a str,
    /// A map field set whole (else: its entries added).
    whole: bool,
}

/// Moves the field from the parsed override into the job.
fn take_field(file: &mut PlanFile, parsed: &mut PlanFile, c: &Change<'_>) {
    match c.kind {
        JobKind::Builder => {
            if let (Some(to), Some(from)) = (
                job(&mut file.builders, c.name),
                job(&mut parsed.builders, c.name),
            ) {
                builder_field(&mut to.value, &mut from.value, c);
            }
        }
        JobKind::Build => {
            if let (Some(to), Some(from)) = (
                job(&mut file.builds, c.name),
                job(&mut parsed.builds, c.name),
            ) {
                build_field(&mut to.value, &mut from.value, c);
            }
        }
        JobKind::Sync => {
            if let (Some(to), Some(from)) =
                (job(&mut file.syncs, c.name), job(&mut parsed.syncs, c.name))
            {
                sync_field(&mut to.value, &mut from.value, c);
            }
        }
        JobKind::Combine => {
            if let (Some(to), Some(from)) = (
                job(&mut file.combines, c.name),
                job(&mut parsed.combines, c.name),
            ) {
                combine_field(&mut to.value, &mut from.value, c);
            }
        }
    }
}

fn job<'a, T>(
    map: &'a mut model::Map<model::Name, super::located::Located<T>>,
    name: &str,
) -> Option<&'a mut super::located::Located<T>> {
    map.iter_mut()
        .find(|(k, _)| k.value == name)
        .map(|(_, v)| v)
}

/// The job takes the field from the parsed override (swapped: the
/// override is thrown away after). Map fields set by entry get the entries.
macro_rules! set_field {
    ($to:expr, $from:expr, $c:expr; fields: [$($field:ident),* $(,)?]; maps: [$($map:ident),* $(,)?]) => {
        match $c.field {
            $(stringify!($field) => std::mem::swap(&mut $to.$field, &mut $from.$field),)*
            $(stringify!($map) => {
                if $c.whole {
                    std::mem::swap(&mut $to.$map, &mut $from.$map);
                } else {
                    $to.$map.extend(std::mem::take(&mut $from.$map));
                }
            })*
            _ => {}
        }
    };
}

fn builder_field(to: &mut model::BuilderSpec, from: &mut model::BuilderSpec, c: &Change<'_>) {
    set_field!(to, from, c;
        fields: [driver, mirrors, buildkitd_config, buildkitd_flags, nodes, endpoint, context, platforms, max_parallel];
        maps: [driver_opts]);
}

fn build_field(to: &mut model::BuildSpec, from: &mut model::BuildSpec, c: &Change<'_>) {
    set_field!(to, from, c;
        fields: [context, dockerfile, platforms, builder, tags, target, push, strategy, needs, secrets, ssh,
                 network, no_cache, pull, cache, cache_from, cache_to, shm_size, attest];
        maps: [args, labels, annotations, extra_hosts, ulimits, contexts]);
}

fn sync_field(to: &mut model::SyncSpec, from: &mut model::SyncSpec, c: &Change<'_>) {
    set_field!(to, from, c;
        fields: [from, to, platforms, via, builder, needs, tags, prune, referrers];
        maps: [annotations]);
}

fn combine_field(to: &mut model::CombineSpec, from: &mut model::CombineSpec, c: &Change<'_>) {
    set_field!(to, from, c;
        fields: [from, to, via, builder, needs];
        maps: [annotations]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_addresses_fields_and_keys() {
        let o = parse_override("build.*.platforms=linux/amd64,linux/arm64").unwrap();
        assert_eq!(
            (o.kind, o.glob.as_str(), o.field.as_str()),
            (JobKind::Build, "*", "platforms")
        );
        assert_eq!(yaml_value(&o), "[\"linux/amd64\", \"linux/arm64\"]");
        let o = parse_override("build.my.app.labels.org.opencontainers.image.title=x").unwrap();
        assert_eq!(o.glob, "my.app");
        assert_eq!(o.key.as_deref(), Some("org.opencontainers.image.title"));
        assert_eq!(
            yaml_value(&parse_override("build.a.push=false").unwrap()),
            "false"
        );
        assert_eq!(
            yaml_value(&parse_override("build.a.target=\"x").unwrap()),
            "\"\\\"x\""
        );
        for bad in [
            "build.a",
            "nope.a.tags=x",
            "build.a.nope=1",
            "build.a.target.k=v",
            "build.a.tags",
        ] {
            assert!(parse_override(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_build_field_is_settable() {
        // A field added to the model without a line in `build_field` would
        // be accepted and then silently dropped.
        for field in fields(JobKind::Build) {
            let mut to = crate::plan::yaml::from_str::<model::BuildSpec>("{}").unwrap();
            let from = crate::plan::yaml::from_str::<model::BuildSpec>(&format!(
                "{field}: {}",
                if MAP_FIELDS.contains(&field.as_str()) {
                    "{k: v}"
                } else {
                    "x"
                }
            ));
            let Ok(mut from) = from else { continue };
            let change = Change {
                kind: JobKind::Build,
                name: "x",
                field: &field,
                whole: true,
            };
            build_field(&mut to, &mut from, &change);
            assert_ne!(
                format!("{to:?}"),
                format!(
                    "{:?}",
                    crate::plan::yaml::from_str::<model::BuildSpec>("{}").unwrap()
                ),
                "{field} was not taken"
            );
        }
    }
}
