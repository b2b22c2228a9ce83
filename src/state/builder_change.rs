//! How a live buildx builder differs from the plan's: driver, nodes,
//! endpoints, platforms, buildkitd flags, driver options and each node's
//! buildkitd.toml, as one change (create, append/leave, replace, unchanged).

use std::collections::BTreeMap;

use indexmap::IndexMap;

use super::change::{Action, Change};
use super::observe::{LiveBuilder, LiveNode};
use crate::backend::buildkitd;
use crate::plan::resolved::{Builder, Endpoint, Mirror, Node};

/// buildx stores the file re-serialized: compare what it says, not its bytes.
fn same_toml(a: &str, b: &str) -> bool {
    match (a.parse::<toml::Table>(), b.parse::<toml::Table>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.trim() == b.trim(),
    }
}

fn endpoint_text(endpoint: &Endpoint) -> &str {
    match endpoint {
        Endpoint::Host(h) | Endpoint::Context(h) => h,
        Endpoint::Environment => "",
    }
}

/// The entitlement buildx adds to every docker-container node it creates
/// when it is not given flags that say otherwise; not a difference.
const BUILDX_DEFAULT_FLAG: &str = "--allow-insecure-entitlement=network.host";

/// How a node's buildkitd flags differ from the plan's (`None`: they do
/// not). buildx stores the flags split as a shell would split them.
fn flags_changed(wanted: Option<&str>, live: &[String]) -> Option<String> {
    let wanted: Vec<String> = wanted
        .map(|flags| shlex::split(flags).unwrap_or_else(|| vec![flags.to_owned()]))
        .unwrap_or_default();
    let live: Vec<&String> = live
        .iter()
        .filter(|flag| wanted.contains(flag) || flag.as_str() != BUILDX_DEFAULT_FLAG)
        .collect();
    if live.iter().copied().eq(wanted.iter()) {
        return None;
    }
    let show = |flags: Vec<&String>| {
        if flags.is_empty() {
            "(none)".to_owned()
        } else {
            flags
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    Some(format!(
        "{} -> {}",
        show(live),
        show(wanted.iter().collect())
    ))
}

/// How a node's driver options differ from the plan's (`None`: they do not).
fn driver_opts_changed(
    wanted: &IndexMap<String, String>,
    live: &BTreeMap<String, String>,
) -> Option<String> {
    let wanted: BTreeMap<&String, &String> = wanted.iter().collect();
    let live_view: BTreeMap<&String, &String> = live.iter().collect();
    if wanted == live_view {
        return None;
    }
    let show = |opts: &BTreeMap<&String, &String>| {
        if opts.is_empty() {
            "(none)".to_owned()
        } else {
            opts.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    Some(format!("{} -> {}", show(&live_view), show(&wanted)))
}

pub fn builder(
    builder: &Builder,
    live: Option<&LiveBuilder>,
    mirrors: &IndexMap<String, Vec<Mirror>>,
) -> Change {
    let placeholder =
        crate::plan::address::Address::new(crate::plan::address::JobKind::Builder, "");
    let describe: Vec<String> = builder
        .nodes
        .iter()
        .map(|n| {
            format!(
                "{} {}",
                n.name.value,
                n.platforms
                    .iter()
                    .map(|p| p.value.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        })
        .collect();
    // `validate` already refused a `buildkitd_config` that is not TOML; a
    // render that still fails is reported, never compared as empty text.
    let rendered = match buildkitd::render(builder, mirrors) {
        Ok(rendered) => rendered,
        Err(why) => return Change::new(placeholder, Action::Error, why),
    };
    let Some(live) = live else {
        let mut change = Change::new(
            placeholder,
            Action::Create,
            format!(
                "create ({} node{}: {})",
                builder.nodes.len(),
                if builder.nodes.len() == 1 { "" } else { "s" },
                describe.join(", ")
            ),
        );
        change.observed = "absent".into();
        return change;
    };
    let mut replace = Vec::new();
    let mut update = Vec::new();
    let mut append = Vec::new();
    let mut leave = Vec::new();
    let driver = builder.driver.name();
    if !live.driver.is_empty() && live.driver != driver {
        replace.push(format!("driver {} -> {driver}", live.driver));
    }
    for node in &builder.nodes {
        let Some(found) = live.nodes.iter().find(|n| n.name == node.name.value) else {
            update.push(format!("append node {}", node.name.value));
            append.push(node.name.value.clone());
            continue;
        };
        match node_differences(builder, node, found, &rendered) {
            Ok(differences) => replace.extend(differences),
            Err(why) => {
                return Change::new(
                    placeholder,
                    Action::Error,
                    format!("{why}; the builder is left as it is"),
                );
            }
        }
    }
    for node in &live.nodes {
        if !builder.nodes.iter().any(|n| n.name.value == node.name) {
            update.push(format!("leave node {}", node.name));
            leave.push(node.name.clone());
        }
    }
    let observed = super::decide::stable_key(live);
    let mut change = if !replace.is_empty() {
        let mut change = Change::new(
            placeholder,
            Action::Replace,
            format!("replace: {}", replace[0]),
        );
        change.details = replace;
        change.details.extend(update);
        change
    } else if !update.is_empty() {
        let mut change = Change::new(placeholder, Action::Update, update.join(", "));
        change.details = update;
        change.append = append;
        change.leave = leave;
        change
    } else {
        Change::new(
            placeholder,
            Action::Unchanged,
            format!("up to date ({} nodes)", builder.nodes.len()),
        )
    };
    change.observed = observed;
    change
}

/// What makes a live node differ from the plan's, each a reason to replace
/// the builder; an error when the node's state cannot be read (never a
/// replace on a guess).
fn node_differences(
    builder: &Builder,
    node: &Node,
    found: &LiveNode,
    rendered: &str,
) -> Result<Vec<String>, String> {
    let mut replace = Vec::new();
    let name = &node.name.value;
    if found.endpoint != endpoint_text(&node.endpoint.value) {
        replace.push(format!(
            "node {name}: endpoint {} -> {}",
            found.endpoint,
            endpoint_text(&node.endpoint.value)
        ));
    }
    let wanted: Vec<String> = node.platforms.iter().map(|p| p.value.to_string()).collect();
    let mut have: Vec<String> = found
        .platforms
        .iter()
        // buildx marks platforms it detected with `*`; anything else it
        // prints that is not a platform names none the plan could want.
        .filter_map(|p| crate::plan::platform::Platform::parse(p).ok())
        .map(|p| p.to_string())
        .collect();
    have.truncate(wanted.len().max(have.len()));
    if !wanted.is_empty() && !wanted.iter().all(|w| have.contains(w)) {
        replace.push(format!(
            "node {name}: platforms {} -> {}",
            have.join(","),
            wanted.join(",")
        ));
    }
    if let Some(what) = flags_changed(builder.buildkitd_flags.as_deref(), &found.flags) {
        replace.push(format!("node {name}: buildkitd flags {what}"));
    }
    if let Some(what) = driver_opts_changed(&node.driver_opts, &found.driver_opts) {
        replace.push(format!("node {name}: driver options {what}"));
    }
    let live_toml = found.buildkitd_toml()?.unwrap_or_default();
    if !same_toml(&live_toml, rendered) {
        replace.push(format!(
            "node {name}: buildkitd.toml changed (mirrors or buildkitd_config); a docker-container node only reads it when its container is recreated"
        ));
    }
    Ok(replace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(flags: &[&str]) -> Vec<String> {
        flags.iter().map(|f| (*f).to_owned()).collect()
    }

    #[test]
    fn flags_compare_as_buildx_stores_them() {
        // buildx splits like a shell and appends its default entitlement.
        assert_eq!(flags_changed(None, &live(&[BUILDX_DEFAULT_FLAG])), None);
        assert_eq!(
            flags_changed(
                Some("--debug --oci-worker-gc-keepstorage '10 GB'"),
                &live(&[
                    "--debug",
                    "--oci-worker-gc-keepstorage",
                    "10 GB",
                    BUILDX_DEFAULT_FLAG
                ])
            ),
            None
        );
        assert_eq!(
            flags_changed(Some("--debug"), &live(&[BUILDX_DEFAULT_FLAG])).as_deref(),
            Some("(none) -> --debug")
        );
        assert_eq!(
            flags_changed(None, &live(&["--debug"])).as_deref(),
            Some("--debug -> (none)")
        );
    }

    #[test]
    fn driver_options_compare_as_maps() {
        let mut wanted = IndexMap::new();
        wanted.insert("network".to_owned(), "host".to_owned());
        let mut have = BTreeMap::new();
        assert_eq!(
            driver_opts_changed(&wanted, &have).as_deref(),
            Some("(none) -> network=host")
        );
        have.insert("network".to_owned(), "host".to_owned());
        assert_eq!(driver_opts_changed(&wanted, &have), None);
    }
}
