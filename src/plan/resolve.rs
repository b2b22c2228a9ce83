//! From parsed files to one resolved [`Plan`]: merge the files, render the
//! templates, expand matrices, parse references and platforms, apply
//! defaults. Every problem is collected; nothing stops at the first.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use minijinja::value::Value;

use super::address::JobKind;
use super::builder_choice::BuilderChoice;
use super::diagnostic::Diagnostic;
use super::dockerfile;
use super::located::Located;
use super::model::{self, PlanFile};
use super::platform::Platform;
use super::reference::{ImageRef, is_loopback_host};
use super::resolved::{
    At, Build, Builder, Combine, CombineSource, Driver, Endpoint, Mirror, Node, Placement, Plan,
    Registry, Strategy, Sync, Via,
};
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
}

pub fn resolve(
    sources: SourceMap,
    files: &[(FileId, PlanFile)],
    inputs: &Inputs<'_>,
) -> (Plan, Vec<Diagnostic>) {
    let mut resolver = Resolver {
        templates: Templates::new(inputs.env),
        diagnostics: Vec::new(),
        defined: HashMap::new(),
        dockerfiles: HashMap::new(),
        plan: Plan {
            sources,
            ..Plan::default()
        },
        scope: Scope::default(),
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
    (resolver.plan, resolver.diagnostics)
}

struct Resolver<'a> {
    templates: Templates<'a>,
    diagnostics: Vec<Diagnostic>,
    /// Where each name was first defined, by (section, name), to report clashes.
    defined: HashMap<(&'static str, String), Origin>,
    /// Dockerfiles read so far (`None`: missing), so a matrix reads each once.
    dockerfiles: HashMap<PathBuf, Option<String>>,
    plan: Plan,
    scope: Scope,
}

fn origin(file: FileId, span: Span) -> Origin {
    Origin::new(file, span)
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
        let at = origin(file, value.span);
        self.render_with(&value.value, at, scope)
            .map(|v| At::new(v, at))
    }

    fn image(
        &mut self,
        file: FileId,
        value: &Located<String>,
        scope: &Scope,
    ) -> Option<At<ImageRef>> {
        let text = self.text(file, value, scope)?;
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
        list.items()
            .iter()
            .filter_map(|item| self.image(file, item, scope))
            .collect()
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
        let mut out: Vec<At<Platform>> = Vec::new();
        for item in list.map(|l| l.value.as_slice()).unwrap_or_default() {
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
        list.map(|l| l.value.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(|item| self.text(file, item, scope))
            .collect()
    }

    fn map(
        &mut self,
        file: FileId,
        map: &IndexMap<Located<String>, Located<String>>,
        scope: &Scope,
    ) -> IndexMap<String, String> {
        map.iter()
            .filter_map(|(k, v)| {
                let key = self.text(file, k, scope)?;
                let value = self.text(file, v, scope)?;
                Some((key.value, value.value))
            })
            .collect()
    }

    fn registries(&mut self, file: FileId, parsed: &PlanFile) {
        for (host, spec) in &parsed.registries {
            let Some(name) = self.text(file, host, &self.scope.clone()) else {
                continue;
            };
            if !self.claim("registries", "registry", &name.value, name.at) {
                continue;
            }
            let dir = self.plan.sources.get(file).dir().to_path_buf();
            let registry = Registry {
                insecure: spec
                    .value
                    .insecure
                    .as_ref()
                    .map_or_else(|| is_loopback_host(&name.value), |v| v.value),
                ca_file: spec
                    .value
                    .ca_file
                    .as_ref()
                    .map(|f| tidy(&dir.join(&f.value))),
                max_concurrency: spec.value.max_concurrency.as_ref().map(|v| v.value),
                at: name.at,
            };
            if registry.max_concurrency == Some(0) {
                let at = origin(
                    file,
                    spec.value
                        .max_concurrency
                        .as_ref()
                        .map_or(host.span, |v| v.span),
                );
                self.error(
                    Diagnostic::error("plan::bad-value", "`max_concurrency` must be at least 1")
                        .label(at, "zero allows no request at all")
                        .help("set it to 1 or more, or remove it for no limit"),
                );
            }
            self.plan.registries.insert(name.value, registry);
        }
    }

    fn mirrors(&mut self, file: FileId, parsed: &PlanFile) {
        let scope = self.scope.clone();
        for (upstream, list) in &parsed.mirrors {
            let Some(name) = self.text(file, upstream, &scope) else {
                continue;
            };
            if !self.claim("mirrors", "mirror list for", &name.value, name.at) {
                continue;
            }
            let mut mirrors = Vec::new();
            for entry in &list.value {
                let mut host = entry.value.host.clone();
                if host.span == Span::default() {
                    host.span = entry.span;
                }
                let Some(host) = self.text(file, &host, &scope) else {
                    continue;
                };
                mirrors.push(Mirror {
                    insecure: entry
                        .value
                        .insecure
                        .as_ref()
                        .map_or_else(|| is_loopback_host(&host.value), |v| v.value),
                    host: host.value,
                });
            }
            if mirrors.is_empty() {
                self.error(
                    Diagnostic::error(
                        "plan::empty-mirrors",
                        format!("no mirrors listed for `{}`", name.value),
                    )
                    .label(name.at, "empty list")
                    .help("list at least one mirror host, or remove the entry"),
                );
            }
            let key = if name.value == "index.docker.io" {
                "docker.io".to_owned()
            } else {
                name.value
            };
            self.plan.mirrors.insert(key, mirrors);
        }
    }

    /// Checks a job or builder name: it becomes part of an address, a file name and a log prefix.
    fn check_name(&mut self, kind: JobKind, name: &At<String>) -> bool {
        let ok = !name.value.is_empty()
            && name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            self.error(
                Diagnostic::error(
                    "plan::bad-name",
                    format!("`{}` is not a valid {} name", name.value, kind.prefix()),
                )
                .label(name.at, "invalid name")
                .help("use letters, digits, `-`, `_` and `.` only"),
            );
        }
        ok
    }

    fn builder(
        &mut self,
        file: FileId,
        name: &Located<String>,
        spec: &Located<model::BuilderSpec>,
    ) {
        let scope = self.scope.clone();
        let Some(name) = self.text(file, name, &scope) else {
            return;
        };
        if !self.check_name(JobKind::Builder, &name)
            || !self.claim("builders", "builder", &name.value, name.at)
        {
            return;
        }
        let spec = &spec.value;
        let driver = spec
            .driver
            .as_ref()
            .map_or(Driver::DockerContainer, |d| d.value);
        let driver_opts = self.map(file, &spec.driver_opts, &scope);
        let nodes = if driver == Driver::Docker {
            self.engine_node(file, &name, spec, &driver_opts, &scope)
        } else {
            for (field, span) in [
                ("endpoint", spec.endpoint.as_ref().map(|v| v.span)),
                ("context", spec.context.as_ref().map(|v| v.span)),
                ("platforms", spec.platforms.as_ref().map(|v| v.span)),
                ("max_parallel", spec.max_parallel.as_ref().map(|v| v.span)),
            ] {
                if let Some(span) = span {
                    self.error(
                        Diagnostic::error("plan::misplaced-field", format!("`{field}` belongs on a node of this builder"))
                            .label(origin(file, span), "only `driver: docker` builders take this here")
                            .help(format!("move `{field}` under `nodes:`, or set `driver: docker` to use an existing engine")),
                    );
                }
            }
            spec.nodes
                .as_ref()
                .map(|nodes| nodes.value.as_slice())
                .unwrap_or_default()
                .iter()
                .filter_map(|node| self.node(file, &node.value, &driver_opts, &scope))
                .collect()
        };
        let builder = Builder {
            name,
            driver,
            mirrors: spec.mirrors.as_ref().is_none_or(|m| m.value),
            buildkitd_config: spec
                .buildkitd_config
                .as_ref()
                .and_then(|c| self.text(file, c, &scope))
                .map(|c| c.value),
            buildkitd_flags: spec
                .buildkitd_flags
                .as_ref()
                .and_then(|c| self.text(file, c, &scope))
                .map(|c| c.value),
            nodes,
        };
        self.plan.builders.push(builder);
    }

    /// A `docker` builder is one existing engine; it is modelled as its single node.
    fn engine_node(
        &mut self,
        file: FileId,
        name: &At<String>,
        spec: &model::BuilderSpec,
        driver_opts: &IndexMap<String, String>,
        scope: &Scope,
    ) -> Vec<Node> {
        if let Some(nodes) = &spec.nodes {
            self.error(
                Diagnostic::error("plan::misplaced-field", "a `docker` builder has no nodes")
                    .label(origin(file, nodes.span), "nodes of a `docker` builder")
                    .help("a `driver: docker` builder is one existing engine: give it `endpoint` or `context`; use `driver: docker-container` for several nodes"),
            );
        }
        let endpoint = match (&spec.endpoint, &spec.context) {
            (Some(endpoint), None) => self
                .text(file, endpoint, scope)
                .map(|e| At::new(Endpoint::Host(e.value), e.at)),
            (None, Some(context)) => self
                .text(file, context, scope)
                .map(|c| At::new(Endpoint::Context(c.value), c.at)),
            (Some(endpoint), Some(_)) => {
                self.error(
                    Diagnostic::error(
                        "plan::conflicting-fields",
                        "a `docker` builder takes `endpoint` or `context`, not both",
                    )
                    .label(origin(file, endpoint.span), "endpoint given here")
                    .help("remove one of them"),
                );
                None
            }
            (None, None) => {
                self.error(
                    Diagnostic::error(
                        "plan::missing-field",
                        format!(
                            "`docker` builder `{}` does not say which engine to use",
                            name.value
                        ),
                    )
                    .label(name.at, "no `endpoint` or `context`")
                    .help("add `endpoint: ssh://user@host` (or `unix://…`), or `context: NAME`"),
                );
                None
            }
        };
        let Some(endpoint) = endpoint else {
            return Vec::new();
        };
        vec![Node {
            name: name.clone(),
            endpoint,
            platforms: self.platforms(file, spec.platforms.as_ref(), scope),
            max_parallel: spec.max_parallel.as_ref().map(|v| v.value),
            driver_opts: driver_opts.clone(),
        }]
    }

    fn node(
        &mut self,
        file: FileId,
        spec: &model::NodeSpec,
        builder_opts: &IndexMap<String, String>,
        scope: &Scope,
    ) -> Option<Node> {
        let name = self.text(file, &spec.name, scope)?;
        let endpoint = self.text(file, &spec.endpoint, scope)?;
        let mut driver_opts = builder_opts.clone();
        driver_opts.extend(self.map(file, &spec.driver_opts, scope));
        if spec.max_parallel.as_ref().is_some_and(|v| v.value == 0) {
            self.zero_parallel(
                file,
                spec.max_parallel
                    .as_ref()
                    .map_or(spec.name.span, |v| v.span),
            );
        }
        Some(Node {
            name,
            endpoint: At::new(Endpoint::parse(&endpoint.value), endpoint.at),
            platforms: self.platforms(file, spec.platforms.as_ref(), scope),
            max_parallel: spec.max_parallel.as_ref().map(|v| v.value),
            driver_opts,
        })
    }

    fn zero_parallel(&mut self, file: FileId, span: Span) {
        self.error(
            Diagnostic::error("plan::bad-value", "`max_parallel` must be at least 1")
                .label(origin(file, span), "zero would run nothing")
                .help("set it to 1 or more, or remove it for no limit"),
        );
    }

    /// One (name, scope) per matrix combination; the name is rendered in its scope.
    fn expand(
        &mut self,
        kind: JobKind,
        file: FileId,
        name: &Located<String>,
        matrix: Option<&model::Matrix>,
    ) -> Vec<(At<String>, Scope)> {
        let base = self.scope.clone();
        let scopes = match matrix {
            None => vec![base],
            Some(matrix) => match self.matrix_scopes(file, matrix) {
                Some(scopes) => scopes,
                None => return Vec::new(),
            },
        };
        let several = scopes.len() > 1;
        let mut out: Vec<(At<String>, Scope)> = Vec::with_capacity(scopes.len());
        for scope in scopes {
            let Some(rendered) = self.text(file, name, &scope) else {
                return Vec::new();
            };
            if several
                && out
                    .first()
                    .is_some_and(|(first, _)| first.value == rendered.value)
            {
                self.error(
                    Diagnostic::error(
                        "plan::matrix-name",
                        format!(
                            "every instance of matrix job `{}` gets the same name",
                            rendered.value
                        ),
                    )
                    .label(rendered.at, "this name does not use the matrix")
                    .help(format!(
                        "put a matrix value in the name, e.g. `{}-{{{{ {} }}}}`",
                        name.value,
                        matrix
                            .and_then(|m| m.value.keys().next())
                            .map_or("value", |k| k.value.as_str())
                    )),
                );
                return Vec::new();
            }
            if !self.check_name(kind, &rendered) {
                return Vec::new();
            }
            if self.claim(kind.section(), kind.prefix(), &rendered.value, rendered.at) {
                out.push((rendered, scope));
            }
        }
        out
    }

    fn matrix_scopes(&mut self, file: FileId, matrix: &model::Matrix) -> Option<Vec<Scope>> {
        if matrix.value.is_empty() {
            self.error(
                Diagnostic::error("plan::empty-matrix", "the matrix has no variables")
                    .label(origin(file, matrix.span), "empty matrix")
                    .help("give the matrix at least one variable with values, e.g. `tag: [\"3.12\", \"3.13\"]`, or remove it"),
            );
            return None;
        }
        let mut axes: Vec<(String, Vec<String>)> = Vec::new();
        let mut total: usize = 1;
        for (key, values) in &matrix.value {
            if values.value.is_empty() {
                self.error(
                    Diagnostic::error(
                        "plan::empty-matrix",
                        format!("matrix variable `{}` has no values", key.value),
                    )
                    .label(origin(file, values.span), "no values")
                    .help("list at least one value, or remove the variable"),
                );
                return None;
            }
            let rendered: Vec<String> = values
                .value
                .iter()
                .filter_map(|v| self.text(file, v, &self.scope.clone()).map(|v| v.value))
                .collect();
            total = total.saturating_mul(rendered.len());
            axes.push((key.value.clone(), rendered));
        }
        if total > MAX_MATRIX_JOBS {
            self.error(
                Diagnostic::error(
                    "plan::budget",
                    format!(
                        "the matrix expands to {total} jobs, over the limit of {MAX_MATRIX_JOBS}"
                    ),
                )
                .label(origin(file, matrix.span), "this matrix")
                .help("split the matrix into smaller ones"),
            );
            return None;
        }
        let mut scopes = Vec::with_capacity(total);
        let mut index = vec![0usize; axes.len()];
        loop {
            let values: BTreeMap<String, Value> = axes
                .iter()
                .zip(&index)
                .map(|((name, values), &i)| (name.clone(), Value::from(values[i].clone())))
                .collect();
            scopes.push(self.scope.with_matrix(values));
            // Odometer: the last axis turns fastest, so instances keep the order written.
            let mut axis = axes.len();
            loop {
                if axis == 0 {
                    return Some(scopes);
                }
                axis -= 1;
                index[axis] += 1;
                if index[axis] < axes[axis].1.len() {
                    break;
                }
                index[axis] = 0;
            }
        }
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

    fn build(&mut self, file: FileId, name: &Located<String>, spec: &Located<model::BuildSpec>) {
        let spec_at = origin(file, spec.span);
        let spec = &spec.value;
        for (name, scope) in self.expand(JobKind::Build, file, name, spec.matrix.as_ref()) {
            let dir = self.plan.sources.get(file).dir().to_path_buf();
            let context = match &spec.context {
                Some(c) => self
                    .text(file, c, &scope)
                    .map(|c| At::new(tidy(&dir.join(c.value)), c.at)),
                None => Some(At::new(dir.clone(), name.at)),
            };
            let Some(context) = context else { continue };
            let dockerfile = match &spec.dockerfile {
                Some(d) => self
                    .text(file, d, &scope)
                    .map(|d| At::new(tidy(&context.value.join(d.value)), d.at)),
                None => Some(At::new(context.value.join("Dockerfile"), context.at)),
            };
            let Some(dockerfile) = dockerfile else {
                continue;
            };
            let args = self.map(file, &spec.args, &scope);
            let labels = self.map(file, &spec.labels, &scope);
            let builder = match spec.builder.as_ref() {
                None => Placement::Default,
                Some(choice) => match &choice.value {
                    BuilderChoice::One(b) => self
                        .text(file, &Located::new(b.clone(), choice.span), &scope)
                        .map_or(Placement::Default, Placement::One),
                    BuilderChoice::PerPlatform(map) => Placement::PerPlatform(
                        map.iter()
                            .filter_map(|(platform, builder)| {
                                Some((
                                    self.platform(file, platform, &scope)?,
                                    self.text(file, builder, &scope)?,
                                ))
                            })
                            .collect(),
                    ),
                },
            };
            let mut platforms = self.platforms(file, spec.platforms.as_ref(), &scope);
            if platforms.is_empty()
                && let Placement::PerPlatform(map) = &builder
            {
                platforms = map.iter().map(|(p, _)| p.clone()).collect();
            }
            let tags = spec
                .tags
                .as_ref()
                .map(|t| self.images(file, t, &scope))
                .unwrap_or_default();
            let push = spec.push.as_ref().map_or(!tags.is_empty(), |p| p.value);
            if push && tags.is_empty() {
                let at = spec.push.as_ref().map_or(spec_at, |p| origin(file, p.span));
                self.error(
                    Diagnostic::error(
                        "plan::push-without-tags",
                        format!("build `{}` pushes but has no tags", name.value),
                    )
                    .label(at, "push: true")
                    .help("add `tags:` naming where to push, or set `push: false`"),
                );
            }
            let strategy = spec.strategy.as_ref().map_or(Strategy::Auto, |s| s.value);
            let inputs = self.base_images(&dockerfile, &args);
            let build = Build {
                context,
                dockerfile,
                platforms,
                builder,
                tags,
                args,
                labels,
                target: spec
                    .target
                    .as_ref()
                    .and_then(|t| self.text(file, t, &scope))
                    .map(|t| t.value),
                push,
                strategy,
                needs: self.needs(file, spec.needs.as_ref(), &scope),
                inputs,
                name,
            };
            self.plan.builds.push(build);
        }
    }

    /// Reads the Dockerfile (once per path) for the images its `FROM` lines name.
    fn base_images(
        &mut self,
        dockerfile: &At<PathBuf>,
        args: &IndexMap<String, String>,
    ) -> Vec<At<ImageRef>> {
        let text = self
            .dockerfiles
            .entry(dockerfile.value.clone())
            .or_insert_with(|| std::fs::read_to_string(&dockerfile.value).ok())
            .clone();
        let Some(text) = text else {
            self.error(
                Diagnostic::error("plan::missing-dockerfile", format!("Dockerfile `{}` not found", self.plan.sources.get(dockerfile.at.file).display_path(&dockerfile.value).display()))
                    .label(dockerfile.at, "the build's Dockerfile")
                    .help("create it, or point `context:` (relative to the plan file) and `dockerfile:` (relative to the context) at it"),
            );
            return Vec::new();
        };
        let args: HashMap<String, String> =
            args.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        dockerfile::base_images(&text, &args)
            .into_iter()
            .filter_map(|base| ImageRef::parse(&base.image).ok())
            .map(|image| At::new(image, dockerfile.at))
            .collect()
    }

    fn sync(&mut self, file: FileId, name: &Located<String>, spec: &Located<model::SyncSpec>) {
        let spec = &spec.value;
        for (name, scope) in self.expand(JobKind::Sync, file, name, spec.matrix.as_ref()) {
            let from = self.image(file, &spec.from, &scope);
            self.require_targets(JobKind::Sync, &name, &spec.to);
            let to = self.images(file, &spec.to, &scope);
            let platforms = self.platforms(file, spec.platforms.as_ref(), &scope);
            let builder = spec
                .builder
                .as_ref()
                .and_then(|b| self.text(file, b, &scope));
            let needs = self.needs(file, spec.needs.as_ref(), &scope);
            let Some(from) = from else { continue };
            self.plan.syncs.push(Sync {
                name,
                from,
                to,
                platforms,
                via: spec.via.as_ref().map_or(Via::Registry, |v| v.value),
                builder,
                needs,
            });
        }
    }

    fn combine(
        &mut self,
        file: FileId,
        name: &Located<String>,
        spec: &Located<model::CombineSpec>,
    ) {
        let spec = &spec.value;
        for (name, scope) in self.expand(JobKind::Combine, file, name, spec.matrix.as_ref()) {
            let from: Vec<CombineSource> = spec
                .from
                .value
                .iter()
                .filter_map(|(platform, image)| {
                    let platform = self.platform(file, platform, &scope);
                    let image = self.image(file, image, &scope);
                    Some(CombineSource {
                        platform: platform?,
                        image: image?,
                    })
                })
                .collect();
            if spec.from.value.is_empty() {
                self.error(
                    Diagnostic::error("plan::empty-combine", format!("combine `{}` has no sources", name.value))
                        .label(origin(file, spec.from.span), "no platforms")
                        .help("map each platform to its image, e.g. `linux/amd64: example.com/app:1-amd64`"),
                );
            }
            self.require_targets(JobKind::Combine, &name, &spec.to);
            let to = self.images(file, &spec.to, &scope);
            let builder = spec
                .builder
                .as_ref()
                .and_then(|b| self.text(file, b, &scope));
            let needs = self.needs(file, spec.needs.as_ref(), &scope);
            self.plan.combines.push(Combine {
                name,
                from,
                to,
                via: spec.via.as_ref().map_or(Via::Registry, |v| v.value),
                builder,
                needs,
            });
        }
    }
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

/// Parses `NAME=VALUE` as given to `--var`.
pub fn parse_var_override(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}
