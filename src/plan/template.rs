//! Templates in plan strings: minijinja with strict undefined behaviour.
//!
//! Names come from `vars` (with `--var` overrides), the job's matrix values
//! and `env.NAME`. Only environment variables a template names are read, and
//! they are read through the lookup the caller hands in, so this module
//! stays pure. An undefined name is a diagnostic at its place in the file.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::Arc;

use minijinja::value::{Object, Value};
use minijinja::{Environment, ErrorKind, UndefinedBehavior};

use super::diagnostic::{Diagnostic, did_you_mean};
use super::source::{Origin, SourceMap, Span};

/// Reads one environment variable; `None` when it is not set.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Reads the repository's metadata (`git.*`); called at most once, and
/// only when a template names `git`.
pub type GitLookup<'a> = &'a dyn Fn() -> Result<super::git_meta::GitMeta, String>;

/// The names a template can see: matrix values over vars, plus `env`.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    vars: Arc<BTreeMap<String, Value>>,
    matrix: Arc<BTreeMap<String, Value>>,
}

impl Scope {
    pub fn with_vars(vars: BTreeMap<String, Value>) -> Self {
        Self {
            vars: Arc::new(vars),
            matrix: Arc::default(),
        }
    }

    #[must_use]
    pub fn with_matrix(&self, matrix: BTreeMap<String, Value>) -> Self {
        Self {
            vars: Arc::clone(&self.vars),
            matrix: Arc::new(matrix),
        }
    }

    /// The same names, plus `name` (over a var or matrix value of that name).
    #[must_use]
    pub fn with_value(&self, name: &str, value: Value) -> Self {
        let mut matrix = (*self.matrix).clone();
        matrix.insert(name.to_owned(), value);
        Self {
            vars: Arc::clone(&self.vars),
            matrix: Arc::new(matrix),
        }
    }

    fn has(&self, name: &str) -> bool {
        self.matrix.contains_key(name) || self.vars.contains_key(name)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.matrix
            .keys()
            .chain(self.vars.keys())
            .map(String::as_str)
    }
}

#[derive(Debug)]
struct ScopeObject {
    scope: Scope,
    env: Value,
    git: Value,
}

impl Object for ScopeObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        if key == "env" {
            return Some(self.env.clone());
        }
        if key == "git" && !self.git.is_undefined() {
            return Some(self.git.clone());
        }
        self.scope
            .matrix
            .get(key)
            .or_else(|| self.scope.vars.get(key))
            .cloned()
    }
}

pub struct Templates<'a> {
    jinja: Environment<'static>,
    env_lookup: EnvLookup<'a>,
    /// Environment variables read so far (only those templates named).
    env_values: BTreeMap<String, String>,
    env_value: Value,
    git_lookup: Option<GitLookup<'a>>,
    /// `git.*`, read on first use (or why it could not be).
    git: Option<Result<Value, String>>,
    /// `git.*` fields templates named.
    git_reads: std::collections::BTreeSet<String>,
    /// Environment variables templates named, set or not.
    env_reads: std::collections::BTreeSet<String>,
    /// Names each template source uses, so a source repeated across a matrix is analysed once.
    used_names: HashMap<String, Vec<String>>,
    /// Variables whose own definition failed (already reported).
    poisoned: HashSet<String>,
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Instructions one template may run (minijinja's fuel): far above any
/// real template, far below a loop that would hang `plan`.
pub const TEMPLATE_FUEL: u64 = 100_000;
/// Largest text one template may render to.
pub const MAX_RENDERED_BYTES: usize = 1024 * 1024;

/// `rendered`, unless it is over [`MAX_RENDERED_BYTES`] (a diagnostic).
fn capped(rendered: String, at: Origin, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    if rendered.len() <= MAX_RENDERED_BYTES {
        return Some(rendered);
    }
    diagnostics.push(
        Diagnostic::error(
            "plan::budget",
            format!(
                "this template renders to more than {} KiB",
                MAX_RENDERED_BYTES / 1024
            ),
        )
        .label(at, "renders too much")
        .help("a value in a plan is a name, a tag or a short text: check for a repeated or multiplied variable"),
    );
    None
}

/// `{{`, `{%` or `{#` anywhere. Most plan strings are plain: this runs for
/// every one, so it looks for `{` bytes rather than three substrings.
fn is_template(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = bytes[from..].iter().position(|&b| b == b'{') {
        let at = from + i;
        if matches!(bytes.get(at + 1), Some(b'{' | b'%' | b'#')) {
            return true;
        }
        from = at + 1;
    }
    false
}

impl<'a> Templates<'a> {
    /// The home folder, as the plan's environment says (`HOME`), for `~/`
    /// in paths. Not recorded as a template input.
    pub fn home(&self) -> Option<String> {
        (self.env_lookup)("HOME")
    }

    pub fn new(env_lookup: EnvLookup<'a>) -> Self {
        Self::with_git(env_lookup, None)
    }

    /// With `git.*` read through `git_lookup` (once, when a template names it).
    pub fn with_git(env_lookup: EnvLookup<'a>, git_lookup: Option<GitLookup<'a>>) -> Self {
        let mut jinja = Environment::new();
        jinja.add_filter("slug", |text: String| {
            super::git_meta::slug(&text)
                .map_err(|why| minijinja::Error::new(ErrorKind::InvalidOperation, why))
        });
        jinja.add_filter("semver", |text: String| {
            super::git_meta::semver_parts(&text)
                .map(Value::from)
                .map_err(|why| minijinja::Error::new(ErrorKind::InvalidOperation, why))
        });
        jinja.set_undefined_behavior(UndefinedBehavior::Strict);
        // A template is a few lookups and filters; loops that run into the
        // millions are a mistake (or an attack on CI) and stop here.
        jinja.set_fuel(Some(TEMPLATE_FUEL));
        // Templates cannot read files: no loader is set, so `include` fails.
        Self {
            jinja,
            env_lookup,
            env_values: BTreeMap::new(),
            env_value: Value::from(BTreeMap::<String, String>::new()),
            git_lookup,
            git: None,
            git_reads: std::collections::BTreeSet::new(),
            env_reads: std::collections::BTreeSet::new(),
            used_names: HashMap::new(),
            poisoned: HashSet::new(),
        }
    }

    /// Renders `text`, written at `at`; a problem is pushed to `diagnostics`.
    pub fn render(
        &mut self,
        text: &str,
        at: Origin,
        scope: &Scope,
        sources: &SourceMap,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<String> {
        if !is_template(text) {
            return Some(text.to_owned());
        }
        if let Some(rendered) = self.substitute(text, scope) {
            return capped(rendered, at, diagnostics);
        }
        let names = match self.used_names.get(text) {
            Some(names) => names.clone(),
            None => match self.jinja.template_from_str(text) {
                Ok(template) => {
                    let mut names: Vec<String> =
                        template.undeclared_variables(true).into_iter().collect();
                    names.sort();
                    self.used_names.insert(text.to_owned(), names.clone());
                    names
                }
                Err(err) => {
                    diagnostics.push(template_error(&err, at));
                    return None;
                }
            },
        };
        // Environment variables the template names are read now; an unset
        // one is only an error if rendering needs it (`| default(…)` is fine).
        let mut unset_env = Vec::new();
        let mut undefined = Vec::new();
        let mut poisoned = false;
        for name in &names {
            let mut parts = name.split('.');
            let root = parts.next().unwrap_or(name);
            if root == "env" {
                if let Some(var) = parts.next()
                    && !self.read_env(var)
                {
                    unset_env.push(var.to_owned());
                }
            } else if root == "git" && !scope.has("git") {
                if let Some(field) = parts.next() {
                    self.git_reads.insert(field.to_owned());
                }
                if let Err(why) = self.read_git() {
                    diagnostics.push(
                        Diagnostic::error("plan::git-unreadable", format!("cannot read `git.*`: {why}"))
                            .label(at, "reads git metadata")
                            .help("run plan inside a git repository with `git` installed, or set the GITHUB_* variables (GITHUB_SHA, GITHUB_REF) it reads in CI"),
                    );
                    return None;
                }
            } else if self.poisoned.contains(root) {
                // Its own definition failed and was reported; do not repeat it here.
                poisoned = true;
            } else if !scope.has(root) {
                undefined.push(root.to_owned());
            }
        }
        if poisoned {
            report_undefined(&undefined, &[], at, scope, sources, diagnostics);
            return None;
        }
        let git = match &self.git {
            Some(Ok(git)) => git.clone(),
            _ => Value::UNDEFINED,
        };
        let context = Value::from_object(ScopeObject {
            scope: scope.clone(),
            env: self.env_value.clone(),
            git,
        });
        let err = match self.jinja.render_str(text, context) {
            Ok(rendered) => return capped(rendered, at, diagnostics),
            Err(err) => err,
        };
        if err.kind() != ErrorKind::UndefinedError || (undefined.is_empty() && unset_env.is_empty())
        {
            diagnostics.push(template_error(&err, at));
            return None;
        }
        report_undefined(&undefined, &unset_env, at, scope, sources, diagnostics);
        None
    }

    /// The fast path for the common template, literal text with `{{ name }}`
    /// or `{{ env.NAME }}` in it and nothing else: substituted directly,
    /// which gives what minijinja prints for string values. Anything else
    /// (filters, tests, blocks, an unknown name) returns `None` and goes
    /// through minijinja, which also reports the errors.
    fn substitute(&mut self, text: &str, scope: &Scope) -> Option<String> {
        // One pass over the bytes: this runs for every template.
        if text
            .as_bytes()
            .windows(2)
            .any(|w| w[0] == b'{' && matches!(w[1], b'%' | b'#'))
        {
            return None;
        }
        let mut out = String::with_capacity(text.len() + 16);
        let mut rest = text;
        while let Some(open) = find_pair(rest, *b"{{") {
            if out.len() > MAX_RENDERED_BYTES {
                // Over the cap already: `capped` reports it.
                return Some(out);
            }
            out.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            let close = find_pair(after, *b"}}")?;
            let name = after[..close].trim();
            let value = match name.strip_prefix("env.") {
                Some(var) if is_identifier(var) => {
                    if !self.read_env(var) {
                        return None;
                    }
                    self.env_values.get(var)?.as_str()
                }
                _ if is_identifier(name) && !self.poisoned.contains(name) => {
                    let value = scope.matrix.get(name).or_else(|| scope.vars.get(name))?;
                    value.as_str()?
                }
                _ => return None,
            };
            out.push_str(value);
            rest = &after[close + 2..];
        }
        out.push_str(rest);
        Some(out)
    }

    /// Reads `git.*` once (the first template naming it).
    fn read_git(&mut self) -> Result<(), String> {
        if self.git.is_none() {
            let read = match self.git_lookup {
                Some(lookup) => lookup().map(|meta| Value::from(meta.fields())),
                None => Err("this command does not read git metadata".to_owned()),
            };
            self.git = Some(read);
        }
        match &self.git {
            Some(Err(why)) => Err(why.clone()),
            _ => Ok(()),
        }
    }

    /// What templates read from outside the plan: environment variables
    /// (set or not) and `git.*` fields, each once, sorted.
    pub fn reads(&self) -> (Vec<String>, Vec<String>) {
        (
            self.env_reads.iter().cloned().collect(),
            self.git_reads.iter().cloned().collect(),
        )
    }

    /// The repository's metadata when a template (or `oci_labels`) read it.
    pub fn git_meta(&mut self) -> Result<super::git_meta::GitMeta, String> {
        for field in ["sha", "commit_time", "source", "tag", "branch"] {
            self.git_reads.insert(field.to_owned());
        }
        match self.git_lookup {
            Some(lookup) => lookup(),
            None => Err("this command does not read git metadata".to_owned()),
        }
    }

    /// Marks a variable whose definition failed: templates using it fail quietly.
    pub fn poison(&mut self, name: &str) {
        self.poisoned.insert(name.to_owned());
    }

    /// Reads one environment variable into the template scope; false when unset.
    fn read_env(&mut self, name: &str) -> bool {
        if self.env_values.contains_key(name) {
            return true;
        }
        if !self.env_reads.contains(name) {
            self.env_reads.insert(name.to_owned());
        }
        match (self.env_lookup)(name) {
            Some(value) => {
                self.env_values.insert(name.to_owned(), value);
                self.env_value = Value::from(self.env_values.clone());
                true
            }
            None => false,
        }
    }
}

fn report_undefined(
    undefined: &[String],
    unset_env: &[String],
    at: Origin,
    scope: &Scope,
    sources: &SourceMap,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for var in unset_env {
        diagnostics.push(
            Diagnostic::error(
                "plan::undefined-variable",
                format!("environment variable `{var}` is not set"),
            )
            .label(narrow(sources, at, var), "used here")
            .help(format!(
                "set `{var}` in the environment, or give a fallback: `env.{var} | default(\"…\")`"
            )),
        );
    }
    for root in undefined {
        let mut help = format!("define `{root}` under `vars:` or pass `--var {root}=VALUE`");
        if let Some(close) = did_you_mean(root, scope.names()) {
            help = format!("did you mean `{close}`? Otherwise {help}");
        }
        diagnostics.push(
            Diagnostic::error(
                "plan::undefined-variable",
                format!("undefined template variable `{root}`"),
            )
            .label(narrow(sources, at, root), "not defined")
            .help(help),
        );
    }
}

fn template_error(err: &minijinja::Error, at: Origin) -> Diagnostic {
    let detail = err
        .detail()
        .map_or_else(|| err.kind().to_string(), str::to_owned);
    if err.kind() == ErrorKind::OutOfFuel {
        return Diagnostic::error(
            "plan::budget",
            format!("this template runs too long (over {TEMPLATE_FUEL} steps)"),
        )
        .label(at, "in this template")
        .help(
            "loops in a plan's templates should run a few times; use `matrix:` to make many jobs",
        );
    }
    Diagnostic::error("plan::template", format!("template error: {detail}"))
        .label(at, "in this template")
        .help("check the `{{ … }}` expressions; templates use minijinja (Jinja2) syntax")
}

/// The place of `word` inside the value written at `at`, else the whole value.
fn narrow(sources: &SourceMap, at: Origin, word: &str) -> Origin {
    let source = sources.get(at.file);
    let span = source.clamp(at.span);
    source.text[span.start..span.end()]
        .find(word)
        .map_or(at, |i| {
            Origin::new(at.file, Span::new(span.start + i, word.len()))
        })
}

/// Where the two bytes `pair` (`{{`, `}}`) first occur in `text`. A byte
/// scan: `str::find` with a string pattern sets up a searcher on every
/// call, and this runs for every template of a plan.
fn find_pair(text: &str, pair: [u8; 2]) -> Option<usize> {
    text.as_bytes().windows(2).position(|w| w == pair)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::source::{FileId, SourceFile};

    fn sources(text: &str) -> SourceMap {
        let mut map = SourceMap::default();
        map.add(SourceFile {
            name: "t.yaml".into(),
            path: "t.yaml".into(),
            text: text.into(),
        });
        map
    }

    fn scope() -> Scope {
        let vars = [("hub", "tangx"), ("tag", "3.12")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::from(v)))
            .collect();
        Scope::with_vars(vars).with_matrix([("arch".to_owned(), Value::from("arm64"))].into())
    }

    fn render(text: &str, env: EnvLookup<'_>) -> (Option<String>, Vec<Diagnostic>) {
        let map = sources(text);
        let mut diagnostics = Vec::new();
        let at = Origin::new(FileId(0), Span::new(0, text.len()));
        let out = Templates::new(env).render(text, at, &scope(), &map, &mut diagnostics);
        (out, diagnostics)
    }

    #[test]
    fn fast_path_agrees_with_minijinja() {
        let env = |name: &str| (name == "HOME_X").then(|| "/root".to_owned());
        for text in [
            "{{ hub }}/alpine:{{ tag }}",
            "{{hub}}-{{ arch }}",
            "x{{ env.HOME_X }}y",
            "{{ hub }}{{ hub }}",
            "no template",
            "{{ hub | upper }}",
            "{{ 'a' ~ tag }}",
            "{% if tag %}{{ tag }}{% endif %}",
        ] {
            let mut slow = Environment::new();
            slow.set_undefined_behavior(UndefinedBehavior::Strict);
            let context = minijinja::context! { hub => "tangx", tag => "3.12", arch => "arm64", env => minijinja::context! { HOME_X => "/root" } };
            let expected = slow.render_str(text, context).unwrap();
            assert_eq!(
                render(text, &env).0.as_deref(),
                Some(expected.as_str()),
                "{text}"
            );
        }
    }

    #[test]
    fn unset_env_with_a_default_is_fine() {
        let env = |_: &str| None;
        let (out, diagnostics) = render("{{ env.NOPE | default('x') }}", &env);
        assert_eq!(out.as_deref(), Some("x"), "{diagnostics:?}");
        let (out, diagnostics) = render("{{ env.NOPE }}", &env);
        assert_eq!(out, None);
        assert_eq!(
            diagnostics[0].message,
            "environment variable `NOPE` is not set"
        );
    }

    #[test]
    fn undefined_names_point_at_themselves() {
        let env = |_: &str| None;
        let (out, diagnostics) = render("{{ hbu }}/x", &env);
        assert_eq!(out, None);
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].labels[0].origin.span, Span::new(3, 3));
        assert!(
            diagnostics[0]
                .help
                .as_deref()
                .unwrap()
                .contains("did you mean `hub`")
        );
    }
}
