//! A node's `buildkitd.toml`: the plan's mirrors merged into the builder's
//! own `buildkitd_config`, rendered by a TOML serializer (never by pasting
//! strings), so every node of every builder gets the same mirrors.

use indexmap::IndexMap;
use toml::{Table, Value};

use crate::plan::resolved::{Builder, Mirror};

/// The TOML text for the builder's nodes; an error if `buildkitd_config` is not TOML.
pub fn render(
    builder: &Builder,
    mirrors: &IndexMap<String, Vec<Mirror>>,
) -> Result<String, String> {
    let mut table: Table = match &builder.buildkitd_config {
        Some(text) => text.parse().map_err(|err| {
            format!(
                "`buildkitd_config` of builder `{}` is not valid TOML: {err}",
                builder.name.value
            )
        })?,
        None => Table::new(),
    };
    if builder.mirrors && !mirrors.is_empty() {
        let registries = table
            .entry("registry")
            .or_insert_with(|| Value::Table(Table::new()))
            .as_table_mut()
            .ok_or_else(|| {
                format!(
                    "`registry` in the `buildkitd_config` of builder `{}` must be a table",
                    builder.name.value
                )
            })?;
        for (upstream, list) in mirrors {
            let entry = registries
                .entry(upstream.clone())
                .or_insert_with(|| Value::Table(Table::new()));
            if let Some(entry) = entry.as_table_mut() {
                // The plan's mirrors first, then any the config already had.
                let mut hosts: Vec<Value> =
                    list.iter().map(|m| Value::String(m.host.clone())).collect();
                if let Some(Value::Array(existing)) = entry.get("mirrors") {
                    for host in existing {
                        if !hosts.contains(host) {
                            hosts.push(host.clone());
                        }
                    }
                }
                entry.insert("mirrors".into(), Value::Array(hosts));
            }
            for mirror in list.iter().filter(|m| m.insecure) {
                let entry = registries
                    .entry(mirror.host.clone())
                    .or_insert_with(|| Value::Table(Table::new()));
                if let Some(entry) = entry.as_table_mut() {
                    entry.insert("http".into(), Value::Boolean(true));
                    entry.insert("insecure".into(), Value::Boolean(true));
                }
            }
        }
    }
    toml::to_string(&table).map_err(|err| format!("rendering buildkitd.toml: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::resolved::{At, Driver};
    use crate::plan::source::{FileId, Origin, Span};

    fn builder(config: Option<&str>, mirrors: bool) -> Builder {
        Builder {
            name: At::new("b".into(), Origin::new(FileId(0), Span::default())),
            driver: Driver::DockerContainer,
            mirrors,
            buildkitd_config: config.map(str::to_owned),
            buildkitd_flags: None,
            nodes: Vec::new(),
        }
    }

    fn mirrors() -> IndexMap<String, Vec<Mirror>> {
        IndexMap::from([
            (
                "docker.io".to_owned(),
                vec![Mirror {
                    host: "wlzfs4t4.mirror.aliyuncs.com".into(),
                    insecure: false,
                }],
            ),
            (
                "ghcr.io".to_owned(),
                vec![Mirror {
                    host: "mirror.internal:5000".into(),
                    insecure: true,
                }],
            ),
        ])
    }

    #[test]
    fn renders_the_seed_mirror() {
        let text = render(&builder(None, true), &mirrors()).unwrap();
        let parsed: Table = text.parse().unwrap();
        assert_eq!(
            parsed["registry"]["docker.io"]["mirrors"][0].as_str(),
            Some("wlzfs4t4.mirror.aliyuncs.com")
        );
        assert_eq!(
            parsed["registry"]["ghcr.io"]["mirrors"][0].as_str(),
            Some("mirror.internal:5000")
        );
        assert_eq!(
            parsed["registry"]["mirror.internal:5000"]["http"].as_bool(),
            Some(true)
        );
    }

    #[test]
    fn merges_with_the_builders_own_config() {
        let config = "[worker.oci]\nmax-parallelism = 4\n[registry.\"docker.io\"]\nmirrors = [\"other.example\"]\n";
        let parsed: Table = render(&builder(Some(config), true), &mirrors())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            parsed["worker"]["oci"]["max-parallelism"].as_integer(),
            Some(4)
        );
        let list: Vec<&str> = parsed["registry"]["docker.io"]["mirrors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(list, ["wlzfs4t4.mirror.aliyuncs.com", "other.example"]);
    }

    #[test]
    fn mirrors_false_keeps_only_the_config() {
        let text = render(&builder(Some("debug = true\n"), false), &mirrors()).unwrap();
        assert_eq!(text, "debug = true\n");
        assert!(render(&builder(Some("not toml ["), true), &mirrors()).is_err());
    }
}
