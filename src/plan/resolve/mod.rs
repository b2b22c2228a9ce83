//! From parsed files to one resolved [`Plan`]: merge the files, render the
//! templates, expand matrices, parse references and platforms, apply
//! defaults. Every problem is collected; nothing stops at the first.
//!
//! This file holds the walk over the files and the value helpers every
//! section shares (templates, references, platforms, names); each section
//! has its own file: `registries.rs`, `builders.rs`, `matrix.rs`, `jobs.rs`.

mod builders;
mod jobs;
mod matrix;
mod registries;
mod repository_sync;
mod run_settings;

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use indexmap::IndexMap;
use minijinja::value::Value;

use super::address::JobKind;
use super::diagnostic::Diagnostic;
use super::dockerfile::Dockerfile;
use super::located::Located;
use super::model::{self, PlanFile};
use super::platform::Platform;
use super::reference::ImageRef;
use super::resolved::{At, Plan};
use super::source::{FileId, Origin, SourceMap, Span};
use super::string_list::StringList;
use super::template::{EnvLookup, Scope, Templates};

/// The only plan format version.
pub const VERSION: u32 = 1;
/// Largest number of jobs one matrix may expand to.
pub const MAX_MATRIX_JOBS: usize = 100_000;

/// What the command line adds to the files.
pub struct Inputs<'a> {
    /// `--var NAME=VALUE`, in order; later ones win.
    pub var_overrides: &'a [(String, String)],
    pub env: EnvLookup<'a>,
    /// `git.*`; `None`: templates cannot read it (a diagnostic says so).
    pub git: Option<crate::plan::template::GitLookup<'a>>,
}

pub fn resolve(
    sources: SourceMap,
    files: &[(FileId, PlanFile)],
    inputs: &Inputs<'_>,
) -> (Plan, Vec<Diagnostic>) {
    let mut resolver = Resolver {
        templates: Templates::with_git(inputs.env, inputs.git),
        diagnostics: Vec::new(),
        defined: HashMap::new(),
        dockerfiles: HashMap::new(),
        plan: Plan {
            sources,
            ..Plan::default()
        },
        scope: Scope::default(),
        matrix_jobs: 0,
    };
    for (file, parsed) in files {
        resolver.version(*file, parsed);
    }
    resolver.vars(files, inputs.var_overrides);
    for (file, parsed) in files {
        resolver.registries(*file, parsed);
        resolver.mirrors(*file, parsed);
    }
    for (file, parsed) in files {
        for (name, spec) in &parsed.builders {
            resolver.builder(*file, name, spec);
        }
    }
    // Sized once: a 5,000-build plan would otherwise copy its builds as the
    // lists grow (matrices may still add more).
    let count = |each: fn(&PlanFile) -> usize| files.iter().map(|(_, p)| each(p)).sum::<usize>();
    resolver.plan.builds.reserve(count(|p| p.builds.len()));
    resolver.plan.syncs.reserve(count(|p| p.syncs.len()));
    resolver.plan.combines.reserve(count(|p| p.combines.len()));
    for (file, parsed) in files {
        for (name, spec) in &parsed.builds {
            resolver.build(*file, name, spec);
        }
        for (name, spec) in &parsed.syncs {
            resolver.sync(*file, name, spec);
        }
        for (name, spec) in &parsed.combines {
            resolver.combine(*file, name, spec);
        }
    }
    let (env, git) = resolver.templates.reads();
    resolver.plan.reads = crate::plan::resolved::Reads { env, git };
    (resolver.plan, resolver.diagnostics)
}

struct Resolver<'a> {
    templates: Templates<'a>,
    diagnostics: Vec<Diagnostic>,
    /// Where each name was first defined, by (section, name), to report clashes.
    defined: HashMap<(&'static str, String), Origin>,
    /// Each Dockerfile read (or why it could not be), so a matrix reads each once.
    dockerfiles: HashMap<PathBuf, Result<Rc<Dockerfile>, crate::local_file::LocalFileError>>,
    plan: Plan,
    scope: Scope,
    /// Jobs the matrices made so far: the cap is for the whole plan, not
    /// per matrix (twenty matrices of 100,000 would be two million jobs).
    matrix_jobs: usize,
}

fn origin(file: FileId, span: Span) -> Origin {
    Origin::new(file, span)
}

/// `a/b/../c` as `a/c`, without touching the disk (the folder may not exist).
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

impl Resolver<'_> {
    fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn version(&mut self, file: FileId, parsed: &PlanFile) {
        let name = self.plan.sources.get(file).name.clone();
        match &parsed.version {
            None => self.error(
                Diagnostic::error("plan::missing-version", format!("`{name}` does not say which plan format it uses"))
                    .label(origin(file, Span::default()), "no `version` in this file")
                    .help(format!("add `version: {VERSION}` at the top of the file")),
            ),
            Some(v) if v.value != VERSION => self.error(
                Diagnostic::error("plan::unsupported-version", format!("plan format version {} is not supported", v.value))
                    .label(origin(file, v.span), "unsupported version")
                    .help(format!("this `plan` reads version {VERSION}; write `version: {VERSION}` or upgrade `plan`")),
            ),
            Some(_) => {}
        }
    }

    /// Records a definition; a second one with the same name is an error showing both.
    fn claim(&mut self, section: &'static str, what: &str, name: &str, at: Origin) -> bool {
        match self.defined.get(&(section, name.to_owned())) {
            Some(first) => {
                let first = *first;
                self.error(
                    Diagnostic::error(
                        "plan::duplicate-name",
                        format!("{what} `{name}` is defined twice"),
                    )
                    .label(at, "defined again here")
                    .label(first, "first defined here")
                    .help("rename or remove one of them; names are unique across all plan files"),
                );
                false
            }
            None => {
                self.defined.insert((section, name.to_owned()), at);
                true
            }
        }
    }

    fn vars(&mut self, files: &[(FileId, PlanFile)], overrides: &[(String, String)]) {
        let overrides: HashMap<&str, &str> = overrides
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut values: BTreeMap<String, Value> = BTreeMap::new();
        for (file, parsed) in files {
            for (name, value) in &parsed.vars {
                if !self.claim("vars", "variable", &name.value, origin(*file, name.span)) {
                    continue;
                }
                // Vars may use env and the vars before them; a `--var` is taken as written.
                let rendered = match overrides.get(name.value.as_str()) {
                    Some(over) => Some((*over).to_owned()),
                    None => {
                        let scope = Scope::with_vars(values.clone());
                        self.render_with(&value.value, origin(*file, value.span), &scope)
                    }
                };
                if let Some(rendered) = rendered {
                    values.insert(name.value.clone(), Value::from(rendered.clone()));
                    self.plan.vars.insert(name.value.clone(), rendered);
                } else {
                    self.templates.poison(&name.value);
                }
            }
        }
        for (name, value) in &overrides {
            if !values.contains_key(*name) {
                values.insert((*name).to_owned(), Value::from(*value));
                self.plan
                    .vars
                    .insert((*name).to_owned(), (*value).to_owned());
            }
        }
        self.scope = Scope::with_vars(values);
    }

    fn render_with(&mut self, text: &str, at: Origin, scope: &Scope) -> Option<String> {
        self.templates
            .render(text, at, scope, &self.plan.sources, &mut self.diagnostics)
    }

    fn text(&mut self, file: FileId, value: &Located<String>, scope: &Scope) -> Option<At<String>> {
        self.text_at(file, &value.value, value.span, scope)
    }

    fn text_at(
        &mut self,
        file: FileId,
        text: &str,
        span: Span,
        scope: &Scope,
    ) -> Option<At<String>> {
        let at = origin(file, span);
        self.render_with(text, at, scope).map(|v| At::new(v, at))
    }

    fn image(
        &mut self,
        file: FileId,
        value: &Located<String>,
        scope: &Scope,
    ) -> Option<At<ImageRef>> {
        self.image_at(file, &value.value, value.span, scope)
    }

    fn image_at(
        &mut self,
        file: FileId,
        value: &str,
        span: Span,
        scope: &Scope,
    ) -> Option<At<ImageRef>> {
        let text = self.text_at(file, value, span, scope)?;
        match ImageRef::parse(&text.value) {
            Ok(image) => Some(At::new(image, text.at)),
            Err(err) => {
                self.error(
                    Diagnostic::error("plan::bad-reference", err.message)
                        .label(text.at, "not a valid image reference")
                        .help(err.help),
                );
                None
            }
        }
    }

    fn images(
        &mut self,
        file: FileId,
        list: &Located<StringList>,
        scope: &Scope,
    ) -> Vec<At<ImageRef>> {
        match &list.value {
            StringList::One(text) => self
                .image_at(file, text, list.span, scope)
                .into_iter()
                .collect(),
            StringList::Many(items) => keep(items, |item| self.image(file, item, scope)),
        }
    }

    fn platform(
        &mut self,
        file: FileId,
        value: &Located<String>,
        scope: &Scope,
    ) -> Option<At<Platform>> {
        let text = self.text(file, value, scope)?;
        match Platform::parse(&text.value) {
            Ok(platform) => Some(At::new(platform, text.at)),
            Err(err) => {
                self.error(
                    Diagnostic::error("plan::bad-platform", err.message)
                        .label(text.at, "not a valid platform")
                        .help(err.help),
                );
                None
            }
        }
    }

    /// Platforms of a list, each once: a repeat (after normalizing) is an error.
    fn platforms(
        &mut self,
        file: FileId,
        list: Option<&model::TextList>,
        scope: &Scope,
    ) -> Vec<At<Platform>> {
        let items = listed(list);
        let mut out: Vec<At<Platform>> = Vec::with_capacity(items.len());
        for item in items {
            let Some(platform) = self.platform(file, item, scope) else {
                continue;
            };
            if let Some(first) = out.iter().find(|p| p.value == platform.value) {
                let first = first.at;
                self.error(
                    Diagnostic::error(
                        "plan::duplicate-platform",
                        format!("platform `{}` is listed twice", platform.value),
                    )
                    .label(platform.at, "listed again here")
                    .label(first, "first listed here")
                    .help("remove one of them"),
                );
                continue;
            }
            out.push(platform);
        }
        out
    }

    fn texts(
        &mut self,
        file: FileId,
        list: Option<&model::TextList>,
        scope: &Scope,
    ) -> Vec<At<String>> {
        keep(listed(list), |item| self.text(file, item, scope))
    }

    fn map(
        &mut self,
        file: FileId,
        map: &crate::plan::model::Map<Located<String>, Located<String>>,
        scope: &Scope,
    ) -> IndexMap<String, String> {
        let mut out = IndexMap::with_capacity(map.len());
        for (k, v) in map {
            if let (Some(key), Some(value)) = (self.text(file, k, scope), self.text(file, v, scope))
            {
                out.insert(key.value, value.value);
            }
        }
        out
    }

    /// Checks a job or builder name: it becomes part of an address, a file name and a log prefix.
    fn check_name(&mut self, kind: JobKind, name: &At<String>) -> bool {
        self.check_safe_name(kind.prefix(), name)
    }

    /// A name that becomes a file name, a command-line argument, a log
    /// prefix or an address: letters, digits, `-`, `_` and `.`, starting
    /// with a letter or digit (so never `..`, `-x` or a hidden file), at
    /// most 128 characters.
    fn check_safe_name(&mut self, what: &str, name: &At<String>) -> bool {
        if is_safe_name(&name.value) {
            return true;
        }
        self.error(
            Diagnostic::error(
                "plan::bad-name",
                format!(
                    "`{}` is not a valid {what} name",
                    crate::untrusted::excerpt(&name.value, 200)
                ),
            )
            .label(name.at, "invalid name")
            .help("use letters, digits, `-`, `_` and `.` only, starting with a letter or digit (at most 128 characters)"),
        );
        false
    }

    fn require_targets(&mut self, kind: JobKind, name: &At<String>, to: &Located<StringList>) {
        if to.items().is_empty() {
            self.error(
                Diagnostic::error(
                    "plan::no-target",
                    format!("{} `{}` has no target", kind.prefix(), name.value),
                )
                .label(Origin::new(name.at.file, to.span), "empty `to`")
                .help("name at least one target image in `to`"),
            );
        }
    }

    fn needs(
        &mut self,
        file: FileId,
        list: Option<&model::TextList>,
        scope: &Scope,
    ) -> Vec<At<String>> {
        self.texts(file, list, scope)
    }
}

/// Parses `NAME=VALUE` as given to `--var`.
pub fn parse_var_override(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

/// `raw` as a job name (for names plan writes itself: `init`, `import`):
/// each character a name cannot hold becomes `-`, it starts with a letter
/// or digit, at most 100 characters; `fallback` when nothing is left.
pub fn safe_name(raw: &str, fallback: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned();
    name.truncate(100);
    if is_safe_name(&name) {
        name
    } else {
        fallback.to_owned()
    }
}

/// `name`, or `name-2`, `name-3`… when taken; records the one returned.
pub fn unique_name(name: &str, taken: &mut std::collections::BTreeSet<String>) -> String {
    let mut candidate = name.to_owned();
    let mut n = 2;
    while !taken.insert(candidate.clone()) {
        candidate = format!("{name}-{n}");
        n += 1;
    }
    candidate
}

/// See [`Resolver::check_safe_name`].
pub fn is_safe_name(name: &str) -> bool {
    name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// What `f` keeps of `items`, in a list sized for all of them. (`collect`
/// on a `filter_map` starts at four places and doubles; for the one or two
/// items a plan lists that was most of the memory resolution touched, and
/// on a large plan fresh memory costs more than the work done in it.)
fn keep<'a, T, U>(items: &'a [T], f: impl FnMut(&'a T) -> Option<U>) -> Vec<U> {
    let mut out = Vec::with_capacity(items.len());
    out.extend(items.iter().filter_map(f));
    out
}

/// The items of an optional list field (none when it is absent).
fn listed<T>(list: Option<&Located<Vec<T>>>) -> &[T] {
    list.map_or(&[], |l| l.value.as_slice())
}
