//! `registries:` and `mirrors:`: per-registry settings (CA files, plain
//! HTTP, request caps) and the mirrors tried before each upstream.

use super::{Resolver, origin, tidy};
use crate::plan::diagnostic::Diagnostic;
use crate::plan::model::PlanFile;
use crate::plan::reference::is_loopback_host;
use crate::plan::resolved::{Mirror, Registry};
use crate::plan::source::{FileId, Span};

impl Resolver<'_> {
    pub(super) fn registries(&mut self, file: FileId, parsed: &PlanFile) {
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
                requests_per_second: spec.value.requests_per_second.as_ref().map(|v| v.value),
                at: name.at,
            };
            for (field, value) in [
                ("max_concurrency", &spec.value.max_concurrency),
                ("requests_per_second", &spec.value.requests_per_second),
            ] {
                if let Some(zero) = value.as_ref().filter(|v| v.value == 0) {
                    self.error(
                        Diagnostic::error(
                            "plan::bad-value",
                            format!("`{field}` must be at least 1"),
                        )
                        .label(origin(file, zero.span), "zero allows no request at all")
                        .help("set it to 1 or more, or remove it for no limit"),
                    );
                }
            }
            self.plan.registries.insert(name.value, registry);
        }
    }

    pub(super) fn mirrors(&mut self, file: FileId, parsed: &PlanFile) {
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
}
