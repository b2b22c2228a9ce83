//! `plan import skopeo-sync`: a `skopeo sync --src yaml` file as syncs to
//! the destination skopeo would be given (`--to`), named as skopeo names
//! them: `DEST/LAST-PATH-PART:TAG`, or the whole path with `--scoped`.
//!
//! `images: {NAME: []}` is every tag (a repository sync); listed tags are a
//! repository sync selecting exactly them; `images-by-tag-regex` and
//! `images-by-semver` are its `include` and `semver`. `tls-verify: false`
//! is `insecure: true`; credentials and certificate folders are not copied.

use indexmap::IndexMap;
use serde::Deserialize;

use super::{Imported, Writer, job_names};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Registry {
    #[serde(default)]
    images: IndexMap<String, Vec<String>>,
    #[serde(default)]
    images_by_tag_regex: IndexMap<String, String>,
    #[serde(default)]
    images_by_semver: IndexMap<String, String>,
    #[serde(default)]
    tls_verify: Option<bool>,
    #[serde(default)]
    credentials: Option<serde_json::Value>,
    #[serde(default)]
    cert_dir: Option<String>,
    #[serde(flatten)]
    other: std::collections::BTreeMap<String, serde_json::Value>,
}

/// One sync to write.
struct Planned {
    from: String,
    to: String,
    include: Vec<String>,
    semver: Option<String>,
    not_imported: Vec<String>,
}

pub fn from_skopeo_sync(
    text: &str,
    source: &str,
    dest: &str,
    scoped: bool,
) -> Result<Imported, String> {
    let registries: IndexMap<String, Registry> =
        crate::plan::yaml::from_str(text).map_err(|err| {
            format!(
                "{source} is not a skopeo sync file plan can read: {}",
                err.message
            )
        })?;
    let mut w = Writer::new(&format!("{source} (skopeo sync to {dest})"));
    w.line(0, "version: 1");
    let insecure: Vec<&String> = registries
        .iter()
        .filter(|(_, r)| r.tls_verify == Some(false))
        .map(|(host, _)| host)
        .collect();
    if !insecure.is_empty() {
        w.blank();
        w.line(0, "registries:");
        for host in insecure {
            w.comment(1, "tls-verify: false; plan's `insecure` is plain HTTP");
            w.line(1, &format!("{}:", w.q(host)));
            w.line(2, "insecure: true");
        }
    }
    let mut planned = Vec::new();
    for (host, registry) in &registries {
        let target = |image: &str| {
            let path = if scoped {
                format!("{host}/{image}")
            } else {
                image.rsplit('/').next().unwrap_or(image).to_owned()
            };
            format!("{}/{path}", dest.trim_end_matches('/'))
        };
        let mut notes = Vec::new();
        if registry.credentials.is_some() {
            notes.push(format!(
                "{host}: credentials (log in with `docker login {host}`)"
            ));
        }
        if let Some(dir) = &registry.cert_dir {
            notes.push(format!(
                "{host}: cert-dir {dir} (name a PEM file in `registries.{host}.ca_file`)"
            ));
        }
        for key in registry.other.keys() {
            notes.push(format!("{host}: {key}"));
        }
        for (image, tags) in &registry.images {
            let (digests, tags): (Vec<&String>, Vec<&String>) =
                tags.iter().partition(|t| t.starts_with("sha256:"));
            let include = if tags.is_empty() && digests.is_empty() {
                vec![".*".to_owned()]
            } else {
                tags.iter()
                    .map(|t| format!("^{}$", regex::escape(t)))
                    .collect()
            };
            let mut not_imported = std::mem::take(&mut notes);
            not_imported.extend(
                digests
                    .iter()
                    .map(|d| format!("{image}@{d} (a sync writes tags; name a tag for it)")),
            );
            if !include.is_empty() {
                planned.push(Planned {
                    from: format!("{host}/{image}"),
                    to: target(image),
                    include,
                    semver: None,
                    not_imported,
                });
            }
        }
        for (image, regex) in &registry.images_by_tag_regex {
            planned.push(Planned {
                from: format!("{host}/{image}"),
                to: target(image),
                include: vec![regex.clone()],
                semver: None,
                not_imported: std::mem::take(&mut notes),
            });
        }
        for (image, range) in &registry.images_by_semver {
            planned.push(Planned {
                from: format!("{host}/{image}"),
                to: target(image),
                include: Vec::new(),
                semver: Some(range.clone()),
                not_imported: std::mem::take(&mut notes),
            });
        }
        for note in notes {
            w.not_imported(0, host, &note);
        }
    }
    w.blank();
    w.line(0, "syncs:");
    let names = job_names(planned.iter().map(|p| p.to.as_str()));
    for (sync, name) in planned.iter().zip(names) {
        w.line(1, &format!("{}:", w.key(&name)));
        for note in &sync.not_imported {
            w.not_imported(2, &name, note);
        }
        w.field(2, "from", &sync.from);
        w.field(2, "to", &sync.to);
        w.line(2, "tags:");
        w.list(3, "include", &sync.include);
        if let Some(range) = &sync.semver {
            w.field(3, "semver", range);
        }
    }
    Ok(w.finish())
}
