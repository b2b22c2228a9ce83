//! `plan import bake`: the JSON `docker buildx bake --print` writes (so
//! HCL, JSON and compose files, variables, functions, `inherits` and
//! matrices are bake's own business) as a plan. Pure: the JSON is handed in.
//!
//! Every target becomes a build of the same name; `contexts = { x =
//! "target:y" }` becomes `build.y`; groups become comments. What has no
//! place in a plan is a `# not imported: …` comment where it would go, and
//! a warning.

use serde_json::{Map, Value};

use super::{Imported, Writer};

/// The bake target fields that map, and to what (the README's table).
pub const MAPPED: &[(&str, &str)] = &[
    ("context", "context"),
    ("dockerfile", "dockerfile"),
    ("platforms", "platforms"),
    ("tags", "tags"),
    ("args", "args"),
    ("labels", "labels"),
    ("annotations", "annotations"),
    ("target", "target"),
    ("cache-from", "cache_from"),
    ("cache-to", "cache_to"),
    ("secret", "secrets"),
    ("ssh", "ssh"),
    ("attest", "attest"),
    ("contexts", "contexts"),
    ("output", "push"),
    ("pull", "pull"),
    ("no-cache", "no_cache"),
    ("network", "network"),
    ("shm-size", "shm_size"),
    ("ulimits", "ulimits"),
    ("extra-hosts", "extra_hosts"),
];

pub fn from_bake(print: &str, source: &str) -> Result<Imported, String> {
    let printed: Value = serde_json::from_str(print).map_err(|err| {
        format!("`docker buildx bake --print` wrote no JSON plan could read: {err}")
    })?;
    let targets = printed["target"]
        .as_object()
        .ok_or("`docker buildx bake --print` listed no targets")?;
    let mut w = Writer::new(&format!("docker buildx bake --print ({source})"));
    if let Some(groups) = printed["group"].as_object() {
        for (name, group) in groups {
            let members: Vec<&str> = group["targets"]
                .as_array()
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            w.comment(0, &format!("bake group `{name}`: {}", members.join(", ")));
        }
    }
    w.line(0, "version: 1");
    w.blank();
    w.line(0, "builds:");
    for (name, target) in targets {
        let Some(target) = target.as_object() else {
            continue;
        };
        build(&mut w, name, target, context_tag(targets, name).as_deref());
    }
    Ok(w.finish())
}

/// A tag for a target other targets read as a context (`target:NAME`)
/// and that has none: bake keeps its result in the builder, plan passes
/// it by digest through a registry, so it needs somewhere to push. Next
/// to the first reader's first tag: `REPO:context-NAME`.
fn context_tag(targets: &Map<String, Value>, name: &str) -> Option<String> {
    let own_tags = targets[name]["tags"]
        .as_array()
        .is_some_and(|t| !t.is_empty());
    if own_tags {
        return None;
    }
    let wanted = format!("target:{name}");
    targets.values().find_map(|reader| {
        let reads = reader["contexts"]
            .as_object()?
            .values()
            .any(|v| v.as_str() == Some(wanted.as_str()));
        let first = reader["tags"].as_array()?.first()?.as_str()?;
        let image = crate::plan::reference::ImageRef::parse(first).ok()?;
        reads.then(|| format!("{}:context-{name}", image.repository_name()))
    })
}

fn build(w: &mut Writer, name: &str, t: &Map<String, Value>, context_tag: Option<&str>) {
    w.line(1, &format!("{}:", w.key(name)));
    let text = |key: &str| t.get(key).and_then(Value::as_str);
    let list = |key: &str| -> Vec<String> {
        t.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let map = |key: &str| -> Vec<(String, String)> {
        t.get(key)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(context) = text("context") {
        if context.contains("://") || context.starts_with("git@") {
            w.not_imported(
                2,
                name,
                &format!("context `{context}` (a remote context; plan builds from a folder)"),
            );
        } else {
            w.field(2, "context", context);
        }
    }
    if let Some(dockerfile) = text("dockerfile").filter(|d| *d != "Dockerfile") {
        w.field(2, "dockerfile", dockerfile);
    }
    if t.contains_key("dockerfile-inline") {
        w.not_imported(
            2,
            name,
            "dockerfile-inline (write it to a file and name it in `dockerfile`)",
        );
    }
    w.list(2, "platforms", &list("platforms"));
    if let Some(tag) = context_tag {
        w.comment(2, "read by other builds as a context: plan passes it by digest through a registry, so it is pushed here (bake kept it in the builder)");
        w.list(2, "tags", &[tag.to_owned()]);
    }
    w.list(2, "tags", &list("tags"));
    w.map(2, "args", &map("args"));
    w.map(2, "labels", &map("labels"));
    let annotations: Vec<(String, String)> = list("annotations")
        .iter()
        .filter_map(|a| a.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    w.map(2, "annotations", &annotations);
    if let Some(stage) = text("target") {
        w.field(2, "target", stage);
    }
    w.list(2, "cache_from", &list("cache-from"));
    w.list(2, "cache_to", &list("cache-to"));
    secrets(w, name, &list("secret"));
    ssh(w, &list("ssh"));
    attest(w, name, &list("attest"));
    contexts(w, name, &map("contexts"));
    push(
        w,
        name,
        &list("output"),
        context_tag.is_some() || !list("tags").is_empty(),
    );
    for (key, field) in [("pull", "pull"), ("no-cache", "no_cache")] {
        if t.get(key).and_then(Value::as_bool) == Some(true) {
            w.line(2, &format!("{field}: true"));
        }
    }
    if let Some(network) = text("network") {
        w.field(2, "network", network);
    }
    if let Some(size) = text("shm-size") {
        w.field(2, "shm_size", size);
    }
    let ulimits: Vec<(String, String)> = list("ulimits")
        .iter()
        .filter_map(|u| u.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    w.map(2, "ulimits", &ulimits);
    let hosts: Vec<(String, String)> = match t.get("extra-hosts") {
        Some(Value::Object(_)) => map("extra-hosts"),
        _ => list("extra-hosts")
            .iter()
            .filter_map(|h| {
                h.split_once([':', '='])
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect(),
    };
    w.map(2, "extra_hosts", &hosts);
    for (key, value) in t {
        let known = MAPPED.iter().any(|(k, _)| k == key)
            || matches!(key.as_str(), "dockerfile-inline" | "description");
        if !known {
            w.not_imported(2, name, &format!("{key} = {value}"));
        }
    }
}

/// `id=npm,src=.npmrc` / `id=tok,env=TOKEN` as `{id, src}` / `{id, env}`.
fn secrets(w: &mut Writer, name: &str, entries: &[String]) {
    if entries.is_empty() {
        return;
    }
    w.line(2, "secrets:");
    for entry in entries {
        let fields = key_values(entry);
        let get = |k: &str| value_of(&fields, k);
        match (get("id"), get("src").or(get("source")), get("env")) {
            (Some(id), Some(src), _) => {
                w.line(3, &format!("- {{id: {}, src: {}}}", w.q(id), w.q(src)))
            }
            (Some(id), None, Some(env)) => {
                w.line(3, &format!("- {{id: {}, env: {}}}", w.q(id), w.q(env)))
            }
            _ => w.not_imported(3, name, &format!("secret `{entry}`")),
        }
    }
}

/// `default`, or `ID=PATH[,PATH]`.
fn ssh(w: &mut Writer, entries: &[String]) {
    if entries.is_empty() {
        return;
    }
    w.line(2, "ssh:");
    for entry in entries {
        match entry.split_once('=') {
            None => w.line(3, &format!("- {}", w.q(entry))),
            Some((id, paths)) => {
                let paths: Vec<String> = paths.split(',').map(|p| w.q(p)).collect();
                w.line(
                    3,
                    &format!("- {{id: {}, paths: [{}]}}", w.q(id), paths.join(", ")),
                );
            }
        }
    }
}

/// `type=provenance,mode=max`, `type=sbom`, `…,disabled=true`.
fn attest(w: &mut Writer, name: &str, entries: &[String]) {
    let mut provenance = None;
    let mut sbom = None;
    for entry in entries {
        let fields = key_values(entry);
        let get = |k: &str| value_of(&fields, k);
        let disabled = get("disabled") == Some("true");
        match get("type") {
            Some("provenance") => {
                provenance = Some(if disabled {
                    "false".to_owned()
                } else {
                    get("mode").unwrap_or("min").to_owned()
                });
            }
            Some("sbom") => sbom = Some(!disabled),
            _ => w.not_imported(2, name, &format!("attest `{entry}`")),
        }
    }
    let mut parts = Vec::new();
    if let Some(p) = provenance {
        parts.push(format!("provenance: {p}"));
    }
    if let Some(s) = sbom {
        parts.push(format!("sbom: {s}"));
    }
    if !parts.is_empty() {
        w.line(2, &format!("attest: {{{}}}", parts.join(", ")));
    }
}

/// `target:NAME` is `build.NAME`; folders and images stay as written.
fn contexts(w: &mut Writer, name: &str, entries: &[(String, String)]) {
    let mut mapped = Vec::new();
    for (key, value) in entries {
        if let Some(target) = value.strip_prefix("target:") {
            mapped.push((key.clone(), format!("build.{target}")));
        } else if value.contains("://")
            && !value.starts_with("docker-image://")
            && !value.starts_with("oci-layout://")
        {
            w.not_imported(
                2,
                name,
                &format!("context `{key}` = `{value}` (a remote context)"),
            );
        } else {
            mapped.push((key.clone(), value.clone()));
        }
    }
    w.map(2, "contexts", &mapped);
}

/// bake pushes with `output = ["type=registry"]` (or `push=true`), or
/// when run with `--push`; any other output stays on the machine.
fn push(w: &mut Writer, name: &str, outputs: &[String], tagged: bool) {
    if outputs.is_empty() {
        if tagged {
            w.comment(2, "bake pushed these tags only when run with --push; plan pushes them (`push: false` to not)");
        }
        return;
    }
    let pushes = outputs.iter().any(|o| {
        let fields = key_values(o);
        fields
            .iter()
            .any(|(k, v)| (k == "type" && v == "registry") || (k == "push" && v == "true"))
    });
    if !pushes {
        w.line(2, "push: false");
        for output in outputs {
            w.not_imported(
                2,
                name,
                &format!("output `{output}` (plan pushes to a registry or builds only)"),
            );
        }
    }
}

/// The value of `key` among `key=value` pairs.
fn value_of<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `a=1,b=2` as pairs (a value without `=` is a key with an empty value).
fn key_values(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .map(|part| match part.split_once('=') {
            Some((k, v)) => (k.trim().to_owned(), v.trim().to_owned()),
            None => (part.trim().to_owned(), String::new()),
        })
        .collect()
}
