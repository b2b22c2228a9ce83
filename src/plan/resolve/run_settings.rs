//! A build's run settings: secrets, ssh, network and the cache switches.
//! Secrets and ssh keys are kept as references (a path, a variable's name);
//! whether they exist is checked before `diff` and `apply` (state/secrets.rs),
//! not here, so `validate` needs none of them.

use std::path::{Path, PathBuf};

use super::{Resolver, keep, listed, origin};
use crate::plan::diagnostic::{Diagnostic, did_you_mean};
use crate::plan::located::Located;
use crate::plan::model;
use crate::plan::resolved::{
    At, Cache, CacheKind, CacheMode, ContextSource, NamedContext, RunSettings, Secret,
    SecretSource, Ssh,
};
use crate::plan::source::FileId;
use crate::plan::template::Scope;

/// Which side of buildx's `key=value` a checked text goes on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Id,
    Value,
}

/// What `--network` takes.
const NETWORKS: &[&str] = &["default", "none", "host"];

impl Resolver<'_> {
    pub(super) fn run_settings(
        &mut self,
        file: FileId,
        spec: &model::BuildSpec,
        scope: &Scope,
    ) -> RunSettings {
        let dir = self.plan.sources.get(file).dir().to_path_buf();
        let secrets = keep(listed(spec.secrets.as_ref()), |secret| {
            self.secret(file, secret, &dir, scope)
        });
        let ssh = keep(listed(spec.ssh.as_ref()), |entry| {
            self.ssh(file, entry, &dir, scope)
        });
        let network = spec
            .network
            .as_ref()
            .and_then(|n| self.text(file, n, scope))
            .filter(|n| self.check_network(n))
            .map(|n| n.value);
        let cache = spec.cache.as_ref().and_then(|c| self.cache(file, c, scope));
        let shm_size = spec
            .shm_size
            .as_ref()
            .and_then(|v| self.text(file, v, scope))
            .filter(|v| self.check_shm_size(v))
            .map(|v| v.value);
        RunSettings {
            secrets,
            ssh,
            network,
            no_cache: spec.no_cache.as_ref().is_some_and(|v| v.value),
            pull: spec.pull.as_ref().is_some_and(|v| v.value),
            cache,
            cache_from: self
                .texts(file, spec.cache_from.as_ref(), scope)
                .into_iter()
                .map(|t| t.value)
                .collect(),
            cache_to: self
                .texts(file, spec.cache_to.as_ref(), scope)
                .into_iter()
                .map(|t| t.value)
                .collect(),
            annotations: self.map(file, &spec.annotations, scope),
            extra_hosts: self.map(file, &spec.extra_hosts, scope),
            shm_size,
            ulimits: self.map(file, &spec.ulimits, scope),
            provenance: spec
                .attest
                .as_ref()
                .and_then(|a| a.value.provenance.as_ref())
                .map(|p| p.value),
            sbom: spec
                .attest
                .as_ref()
                .and_then(|a| a.value.sbom.as_ref())
                .map(|s| s.value),
        }
    }

    /// `cache:`; `None` for `none` (or a mistake, reported).
    fn cache(
        &mut self,
        file: FileId,
        cache: &Located<crate::plan::cache_spec::CacheSpec>,
        scope: &Scope,
    ) -> Option<At<Cache>> {
        let at = origin(file, cache.span);
        // A shorthand has no span of its own: the field's is used.
        let kind_text = Located::new(
            cache.value.kind.value.clone(),
            if cache.value.kind.span == Default::default() {
                cache.span
            } else {
                cache.value.kind.span
            },
        );
        let kind = self.text(file, &kind_text, scope)?;
        let kind = match kind.value.as_str() {
            "none" if cache.value.reference.is_none() => return None,
            "registry" => CacheKind::Registry,
            "inline" => CacheKind::Inline,
            "gha" => CacheKind::Gha,
            "local" => CacheKind::Local,
            other => {
                let known = ["registry", "inline", "gha", "local", "none"];
                let help = match did_you_mean(other, known.iter().copied()) {
                    Some(close) => format!(
                        "did you mean `{close}`? The kinds are: {}",
                        known.join(", ")
                    ),
                    None => format!("the kinds are: {}", known.join(", ")),
                };
                self.error(
                    Diagnostic::error("plan::unknown-value", format!("unknown cache `{other}`"))
                        .label(kind.at, "not a cache kind")
                        .help(help),
                );
                return None;
            }
        };
        let reference = match &cache.value.reference {
            Some(r) => {
                let r = self.text(file, r, scope)?;
                self.check_reference(Key::Value, "cache reference", &r)?;
                Some(r.value)
            }
            None => None,
        };
        let mode = match &cache.value.mode {
            None => CacheMode::Max,
            Some(m) => {
                match self.text(file, m, scope)?.value.as_str() {
                    "min" => CacheMode::Min,
                    "max" => CacheMode::Max,
                    other => {
                        self.error(
                        Diagnostic::error("plan::unknown-value", format!("unknown cache mode `{other}`"))
                            .label(origin(file, m.span), "not a mode")
                            .help("`mode` is `min` (the final stage's layers) or `max` (every stage's)"),
                    );
                        return None;
                    }
                }
            }
        };
        Some(At::new(
            Cache {
                kind,
                reference,
                mode,
            },
            at,
        ))
    }

    /// `shm_size`: a size as Docker writes it (`64m`, `2g`, bytes).
    fn check_shm_size(&mut self, size: &At<String>) -> bool {
        let text = size.value.to_ascii_lowercase();
        let digits = text.trim_end_matches(['b', 'k', 'm', 'g']);
        let ok = !digits.is_empty()
            && digits.chars().all(|c| c.is_ascii_digit())
            && text.len() - digits.len() <= 1;
        if !ok {
            self.error(
                Diagnostic::error("plan::bad-value", format!("`{}` is not a size", size.value))
                    .label(size.at, "not a size")
                    .help("write a number of bytes, or with a unit: `64m`, `2g`"),
            );
        }
        ok
    }

    fn secret(
        &mut self,
        file: FileId,
        secret: &Located<model::SecretSpec>,
        dir: &Path,
        scope: &Scope,
    ) -> Option<At<Secret>> {
        let at = origin(file, secret.span);
        let spec = &secret.value;
        let id = self.text(file, &spec.id, scope)?;
        let source = match (&spec.src, &spec.env) {
            (Some(src), None) => {
                let src = self.text(file, src, scope)?;
                self.check_reference(Key::Value, "secret file", &src)?;
                SecretSource::File(expand(dir, &src.value, self.templates.home().as_deref()))
            }
            (None, Some(env)) => {
                let env = self.text(file, env, scope)?;
                self.check_reference(Key::Value, "environment variable name", &env)?;
                SecretSource::Env(env.value)
            }
            (Some(_), Some(_)) => {
                self.error(
                    Diagnostic::error(
                        "plan::conflicting-fields",
                        format!("secret `{}` has both `src` and `env`", id.value),
                    )
                    .label(at, "this secret")
                    .help("a secret comes from one place: a file (`src`) or a variable (`env`)"),
                );
                return None;
            }
            (None, None) => {
                self.error(
                    Diagnostic::error(
                        "plan::missing-field",
                        format!("secret `{}` says neither `src` nor `env`", id.value),
                    )
                    .label(at, "this secret")
                    .help("add `src: FILE` or `env: VARIABLE`"),
                );
                return None;
            }
        };
        self.check_reference(Key::Id, "secret id", &id)?;
        Some(At::new(
            Secret {
                id: id.value,
                source,
            },
            at,
        ))
    }

    fn ssh(
        &mut self,
        file: FileId,
        entry: &Located<crate::plan::ssh_spec::SshSpec>,
        dir: &Path,
        scope: &Scope,
    ) -> Option<At<Ssh>> {
        let at = origin(file, entry.span);
        // A bare `default` has no span of its own: the entry's is used.
        let id_text = Located::new(entry.value.id.value.clone(), entry.span);
        let id = self.text(file, &id_text, scope)?;
        self.check_reference(Key::Id, "ssh id", &id)?;
        let mut paths = Vec::new();
        for path in &entry.value.paths {
            let path = self.text(file, path, scope)?;
            self.check_reference(Key::Value, "ssh path", &path)?;
            paths.push(expand(dir, &path.value, self.templates.home().as_deref()));
        }
        Some(At::new(
            Ssh {
                id: id.value,
                paths,
            },
            at,
        ))
    }

    /// A value that goes into buildx's `key=value,…` syntax: no comma,
    /// quote or control character can split or forge it, and an id (the
    /// key side) holds no `=` either.
    fn check_reference(&mut self, key: Key, what: &str, value: &At<String>) -> Option<()> {
        let bad = value.value.is_empty()
            || value
                .value
                .chars()
                .any(|c| c == ',' || c == '"' || c.is_control())
            || (key == Key::Id && value.value.contains('='));
        if !bad {
            return Some(());
        }
        self.error(
            Diagnostic::error(
                "plan::bad-value",
                format!(
                    "`{}` cannot be a {what}",
                    crate::untrusted::excerpt(&value.value, 200)
                ),
            )
            .label(value.at, "here")
            .help("buildx reads it in a `key=value,…` list: no commas, quotes or control characters (and no `=` in an id)"),
        );
        None
    }

    fn check_network(&mut self, network: &At<String>) -> bool {
        if NETWORKS.contains(&network.value.as_str()) {
            return true;
        }
        let help = match did_you_mean(&network.value, NETWORKS.iter().copied()) {
            Some(close) => {
                format!("did you mean `{close}`? `network` is one of: default, none, host")
            }
            None => "`network` is one of: default, none, host".to_owned(),
        };
        self.error(
            Diagnostic::error(
                "plan::unknown-value",
                format!("unknown network `{}`", network.value),
            )
            .label(network.at, "not a network buildx knows")
            .help(help),
        );
        false
    }
}

/// A path relative to the plan file's folder; `~/` is the home folder.
fn expand(dir: &Path, text: &str, home: Option<&str>) -> PathBuf {
    if let Some(rest) = text.strip_prefix("~/")
        && let Some(home) = home
    {
        return PathBuf::from(home).join(rest);
    }
    dir.join(text)
}

impl Resolver<'_> {
    /// `contexts:`; an image context is also an input of the build (an
    /// edge from the job that writes it, its digest in the fingerprint).
    pub(super) fn named_contexts(
        &mut self,
        file: FileId,
        spec: &model::BuildSpec,
        scope: &Scope,
        inputs: &mut Vec<At<crate::plan::reference::ImageRef>>,
    ) -> Vec<At<NamedContext>> {
        let dir = self.plan.sources.get(file).dir().to_path_buf();
        let mut contexts = Vec::new();
        for (name, value) in &spec.contexts {
            let Some(name) = self.text(file, name, scope) else {
                continue;
            };
            let Some(value) = self.text(file, value, scope) else {
                continue;
            };
            if self.check_reference(Key::Id, "context id", &name).is_none() {
                continue;
            }
            let source = if let Some(reference) = value.value.strip_prefix("docker-image://") {
                match crate::plan::reference::ImageRef::parse(reference) {
                    Ok(image) => {
                        inputs.push(At::new(image.clone(), value.at));
                        ContextSource::Image(image)
                    }
                    Err(err) => {
                        self.error(
                            Diagnostic::error(
                                "plan::bad-reference",
                                format!("`{reference}` is not an image reference: {}", err.message),
                            )
                            .label(value.at, "in this context")
                            .help(err.help),
                        );
                        continue;
                    }
                }
            } else if let Some(path) = value.value.strip_prefix("oci-layout://") {
                ContextSource::Layout(dir.join(path).display().to_string())
            } else if let Some(address) = crate::plan::address::Address::parse(&value.value)
                .filter(|a| a.kind != crate::plan::address::JobKind::Builder)
            {
                ContextSource::Job(address)
            } else {
                ContextSource::Path(dir.join(&value.value))
            };
            contexts.push(At::new(
                NamedContext {
                    name: name.value,
                    source,
                },
                value.at,
            ));
        }
        contexts
    }
}
