//! `builders:`: buildx builders and their nodes, and `driver: docker`
//! builders that are one existing engine.

use indexmap::IndexMap;

use super::{Resolver, is_safe_name, origin};
use crate::plan::address::JobKind;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::located::Located;
use crate::plan::model;
use crate::plan::resolved::{At, Builder, Driver, Endpoint, Node};
use crate::plan::source::{FileId, Span};
use crate::plan::template::Scope;

impl Resolver<'_> {
    pub(super) fn builder(
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
                .filter_map(|node| self.node(file, driver, &node.value, &driver_opts, &scope))
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
                .filter(|c| self.check_buildkitd_config(c))
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
                .filter(|e| self.check_endpoint(Driver::Docker, e))
                .map(|e| At::new(Endpoint::Host(e.value), e.at)),
            (None, Some(context)) => self
                .text(file, context, scope)
                .filter(|c| self.check_safe_name("Docker context", c))
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
            // The engine `docker` itself would use (DOCKER_HOST, DOCKER_CONTEXT).
            (None, None) => Some(At::new(Endpoint::Environment, name.at)),
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
        driver: Driver,
        spec: &model::NodeSpec,
        builder_opts: &IndexMap<String, String>,
        scope: &Scope,
    ) -> Option<Node> {
        let name = self.text(file, &spec.name, scope)?;
        let endpoint = self.text(file, &spec.endpoint, scope)?;
        // The node name names its buildkitd.toml and goes on buildx's
        // command line; the endpoint goes there too.
        let name_ok = self.check_safe_name("node", &name);
        if !self.check_endpoint(driver, &endpoint) || !name_ok {
            return None;
        }
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

    /// An endpoint is an address the driver can use, or a Docker context
    /// name; never something buildx or docker could read as an option.
    fn check_endpoint(&mut self, driver: Driver, endpoint: &At<String>) -> bool {
        let schemes = endpoint_schemes(driver);
        let problem = match endpoint.value.split_once("://") {
            _ if endpoint.value.starts_with('-') => {
                Some("it starts with `-`, which a command would read as an option".to_owned())
            }
            _ if endpoint
                .value
                .chars()
                .any(|c| c.is_control() || c.is_whitespace()) =>
            {
                Some("it holds spaces or control characters".to_owned())
            }
            Some((scheme, rest)) if !schemes.contains(&scheme) || rest.is_empty() => Some(format!(
                "`{}://` is not an endpoint the `{}` driver can reach",
                crate::untrusted::escape(scheme),
                driver.name()
            )),
            Some(_) => None,
            None if is_safe_name(&endpoint.value) => None,
            None => Some("it is neither an address nor a Docker context name".to_owned()),
        };
        let Some(problem) = problem else {
            return true;
        };
        self.error(
            Diagnostic::error(
                "plan::bad-endpoint",
                format!(
                    "`{}` is not a valid endpoint: {problem}",
                    crate::untrusted::excerpt(&endpoint.value, 200)
                ),
            )
            .label(endpoint.at, "this endpoint")
            .help(if schemes.is_empty() {
                "use a Kubernetes context name".to_owned()
            } else {
                format!(
                    "use {} or a Docker context name",
                    schemes
                        .iter()
                        .map(|s| format!("`{s}://…`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
        );
        false
    }

    /// `buildkitd_config` is merged with the mirrors as TOML: it must parse,
    /// and its `registry`, if any, must be a table.
    fn check_buildkitd_config(&mut self, config: &At<String>) -> bool {
        let problem = match config.value.parse::<toml::Table>() {
            Err(err) => Some(format!(
                "`buildkitd_config` is not valid TOML: {}",
                err.message()
            )),
            Ok(table) if table.get("registry").is_some_and(|r| !r.is_table()) => {
                Some("`registry` in `buildkitd_config` must be a table".to_owned())
            }
            Ok(_) => None,
        };
        let Some(problem) = problem else {
            return true;
        };
        self.error(
            Diagnostic::error("plan::bad-value", problem)
                .label(config.at, "this buildkitd.toml")
                .help("write it as a buildkitd.toml file is written; a YAML block scalar (`buildkitd_config: |`) keeps its lines"),
        );
        false
    }

    fn zero_parallel(&mut self, file: FileId, span: Span) {
        self.error(
            Diagnostic::error("plan::bad-value", "`max_parallel` must be at least 1")
                .label(origin(file, span), "zero would run nothing")
                .help("set it to 1 or more, or remove it for no limit"),
        );
    }
}

/// The endpoint schemes each driver accepts (as buildx documents them).
fn endpoint_schemes(driver: Driver) -> &'static [&'static str] {
    match driver {
        Driver::DockerContainer | Driver::Docker => &["ssh", "unix", "tcp", "npipe"],
        Driver::Remote => &["tcp", "unix", "docker-container", "kube-pod"],
        // A Kubernetes node's endpoint is a kubeconfig context name.
        Driver::Kubernetes => &[],
    }
}
