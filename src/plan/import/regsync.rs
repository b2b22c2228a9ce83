//! `plan import regsync`: a regsync configuration as syncs. `type: image`
//! entries become syncs of one image; `type: repository` entries become
//! repository syncs, `tags.allow`/`deny` their `include`/`exclude`
//! (regsync anchors its expressions: so do these). `creds` become
//! `registries` entries for the settings plan has (`tls: disabled` is
//! `insecure: true`); credentials are never copied — plan reads them from
//! the Docker config and its helpers.

use serde::Deserialize;

use super::{Imported, Writer, job_names};

#[derive(Debug, Deserialize)]
struct Config {
    #[serde(default)]
    creds: Vec<Cred>,
    #[serde(default)]
    defaults: Option<serde_json::Value>,
    #[serde(default)]
    sync: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Cred {
    registry: String,
    #[serde(default)]
    tls: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    pass: Option<String>,
    #[serde(default, rename = "regcert")]
    cert: Option<String>,
    #[serde(flatten)]
    other: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    source: String,
    target: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    tags: Option<Tags>,
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    platforms: Vec<String>,
    #[serde(flatten)]
    other: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Tags {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
}

pub fn from_regsync(text: &str, source: &str) -> Result<Imported, String> {
    let config: Config = crate::plan::yaml::from_str(text).map_err(|err| {
        format!(
            "{source} is not a regsync configuration plan can read: {}",
            err.message
        )
    })?;
    let mut w = Writer::new(source);
    w.line(0, "version: 1");
    if !config.creds.is_empty() {
        w.blank();
        w.comment(0, "Credentials are not copied: plan reads them from the Docker config (`docker login HOST`) and its credential helpers.");
        w.line(0, "registries:");
        for cred in &config.creds {
            w.line(1, &format!("{}:", w.q(&cred.registry)));
            match cred.tls.as_deref() {
                Some("disabled") => w.line(2, "insecure: true"),
                Some("enabled") | None => w.line(2, "insecure: false"),
                Some(other) => w.not_imported(2, &cred.registry, &format!("tls: {other} (plan speaks HTTPS with verification, or plain HTTP with `insecure: true`)")),
            }
            if cred.user.is_some() || cred.pass.is_some() {
                w.comment(2, "user/pass: log in with `docker login` instead");
            }
            if cred.cert.is_some() {
                w.not_imported(
                    2,
                    &cred.registry,
                    "regcert (write the PEM to a file and name it in `ca_file`)",
                );
            }
            for key in cred.other.keys() {
                w.not_imported(2, &cred.registry, key);
            }
        }
    }
    if let Some(defaults) = &config.defaults {
        w.blank();
        w.not_imported(0, "defaults", &format!("defaults: {defaults} (schedules, rate-limit floors and backups are the CI's business; see `requests_per_second` under `registries`)"));
    }
    w.blank();
    w.line(0, "syncs:");
    let names = job_names(config.sync.iter().map(|e| e.target.as_str()));
    for (entry, name) in config.sync.iter().zip(names) {
        w.line(1, &format!("{}:", w.key(&name)));
        let repository = entry.kind.as_deref() == Some("repository");
        w.field(2, "from", &entry.source);
        w.field(2, "to", &entry.target);
        let mut platforms = entry.platforms.clone();
        platforms.extend(entry.platform.clone());
        w.list(2, "platforms", &platforms);
        match (repository, &entry.tags) {
            (true, tags) => {
                w.line(2, "tags:");
                let allow = tags.as_ref().map(|t| t.allow.clone()).unwrap_or_default();
                let deny = tags.as_ref().map(|t| t.deny.clone()).unwrap_or_default();
                let allow = if allow.is_empty() {
                    vec![".*".to_owned()]
                } else {
                    allow
                };
                w.list(3, "include", &anchored(&allow));
                w.list(3, "exclude", &anchored(&deny));
            }
            (false, Some(_)) => {
                w.not_imported(2, &name, "tags (only repository entries select tags)")
            }
            (false, None) => {}
        }
        if let Some(kind) = entry
            .kind
            .as_deref()
            .filter(|k| !matches!(*k, "image" | "repository"))
        {
            w.not_imported(2, &name, &format!("type: {kind}"));
        }
        for (key, value) in &entry.other {
            w.not_imported(2, &name, &format!("{key}: {value}"));
        }
    }
    Ok(w.finish())
}

/// regsync matches a whole tag: `3.\d+` is `^(?:3.\d+)$`.
fn anchored(patterns: &[String]) -> Vec<String> {
    patterns.iter().map(|p| format!("^(?:{p})$")).collect()
}
