//! What a `docker` builder's engine is: its version and its image store.
//! What the `docker` driver can do depends on both (BuildKit is built into
//! the engine): only an engine with the containerd image store exports
//! cache other than inline and stores attestations; named build contexts
//! need the BuildKit of Docker 23 or later.

/// Read with `docker info --format '{{.ServerVersion}}|{{json .DriverStatus}}'`.
pub const INFO_FORMAT: &str = "{{.ServerVersion}}|{{json .DriverStatus}}";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    /// As the engine says it (`26.1.5+dfsg1`).
    pub version: String,
    /// Its major number (`26`): what the engine can do is decided on it.
    pub major: u32,
    /// Images kept by containerd's snapshotters (`docker info` shows a
    /// `driver-type` of `io.containerd.snapshotter.v1`).
    pub containerd_store: bool,
}

impl EngineInfo {
    /// Parses the output of `docker info --format INFO_FORMAT`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (version, status) = text.split_once('|').ok_or_else(|| {
            format!(
                "unexpected `docker info` output: {}",
                crate::untrusted::excerpt(text, 200)
            )
        })?;
        // Not guessed: what the builder may do depends on it.
        let major = version
            .split(['.', '+', '-'])
            .next()
            .and_then(|major| major.parse().ok())
            .ok_or_else(|| {
                format!(
                    "`docker info` gave the server version {}, not a version number",
                    crate::untrusted::excerpt(version, 100)
                )
            })?;
        Ok(Self {
            version: version.to_owned(),
            major,
            containerd_store: status.contains("io.containerd.snapshotter"),
        })
    }

    /// Whether its BuildKit takes named build contexts (`--build-context`).
    pub fn named_contexts(&self) -> bool {
        self.major >= 23
    }

    /// How a person would name it in a message.
    pub fn describe(&self) -> String {
        let store = if self.containerd_store {
            "containerd image store"
        } else {
            "classic image store"
        };
        format!("Docker {}, {store}", self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_version_and_store() {
        let new = EngineInfo::parse(
            "26.1.5+dfsg1|[[\"driver-type\",\"io.containerd.snapshotter.v1\"]]\n",
        )
        .unwrap();
        assert!(new.containerd_store);
        assert_eq!(new.major, 26);
        assert!(new.named_contexts());
        let old = EngineInfo::parse("20.10.24+dfsg1|[[\"Root Dir\",\"/x/vfs\"]]").unwrap();
        assert!(!old.containerd_store);
        assert!(!old.named_contexts());
        assert_eq!(old.describe(), "Docker 20.10.24+dfsg1, classic image store");
        assert!(EngineInfo::parse("garbage").is_err());
        assert!(EngineInfo::parse("|null").is_err());
        assert!(EngineInfo::parse("dev|null").is_err());
    }
}
