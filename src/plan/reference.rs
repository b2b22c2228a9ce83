//! Image references, parsed and normalized as Docker does, plus
//! `oci:PATH[:TAG]` for an OCI image layout on local disk.
//!
//! Two references name the same image exactly when their normalized forms
//! are equal; that is how the graph links a job's output to another's input.

use std::fmt;

use serde::Serialize;

pub const DEFAULT_REGISTRY: &str = "docker.io";
pub const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LENGTH: usize = 255;
const LAYOUT_PREFIX: &str = "oci:";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageRef {
    Registry(RegistryRef),
    Layout(LayoutRef),
}

/// `registry/repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryRef {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// An OCI image layout folder, and the tag (`org.opencontainers.image.ref.name`) in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayoutRef {
    pub path: String,
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReferenceError {
    pub message: String,
    pub help: String,
}

fn error(message: String, help: impl Into<String>) -> ReferenceError {
    ReferenceError {
        message,
        help: help.into(),
    }
}

impl ImageRef {
    /// The same image pinned: its repository at `digest` (a layout keeps
    /// its reference: it has no digest form).
    #[must_use]
    pub fn pinned(&self, digest: &str) -> Self {
        match self {
            Self::Registry(r) => Self::Registry(RegistryRef {
                tag: None,
                digest: Some(digest.to_owned()),
                ..r.clone()
            }),
            Self::Layout(_) => self.clone(),
        }
    }

    /// The same repository at another tag.
    #[must_use]
    pub fn with_tag(&self, tag: &str) -> Self {
        match self {
            Self::Registry(r) => Self::Registry(RegistryRef {
                tag: Some(tag.to_owned()),
                digest: None,
                ..r.clone()
            }),
            Self::Layout(l) => Self::Layout(LayoutRef {
                tag: Some(tag.to_owned()),
                ..l.clone()
            }),
        }
    }

    /// `registry/repository` (or `oci:PATH`), without tag or digest.
    pub fn repository_name(&self) -> String {
        match self {
            Self::Registry(r) => format!("{}/{}", r.registry, r.repository),
            Self::Layout(l) => format!("{LAYOUT_PREFIX}{}", l.path),
        }
    }

    /// Neither tag nor digest written: a repository (or, as Docker reads
    /// it, `:latest`).
    pub fn is_bare(&self) -> bool {
        match self {
            Self::Registry(r) => r.tag.is_none() && r.digest.is_none(),
            Self::Layout(l) => l.tag.is_none(),
        }
    }

    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        match text.strip_prefix(LAYOUT_PREFIX) {
            Some(rest) => LayoutRef::parse(text, rest).map(Self::Layout),
            None => RegistryRef::parse(text).map(Self::Registry),
        }
    }

    /// True when the reference pins content by digest.
    pub fn is_pinned(&self) -> bool {
        matches!(self, Self::Registry(r) if r.digest.is_some())
    }
}

impl LayoutRef {
    fn parse(text: &str, rest: &str) -> Result<Self, ReferenceError> {
        // A `:` after the last `/` starts the tag; earlier ones belong to the path.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (path, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if path.is_empty() {
            return Err(error(
                format!("`{text}` names no folder"),
                "write an OCI layout as `oci:PATH` or `oci:PATH:TAG`, e.g. `oci:images/alpine:3.12`",
            ));
        }
        if let Some(tag) = tag {
            check_tag(text, tag)?;
        }
        Ok(Self {
            path: path.to_owned(),
            tag: tag.map(str::to_owned),
        })
    }
}

impl RegistryRef {
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        let how = "write an image reference as `[registry/]repository[:tag][@digest]`, e.g. `alpine:3.12` or `ghcr.io/org/app:v1`";
        if text.is_empty() {
            return Err(error("the image reference is empty".into(), how));
        }
        if text.chars().any(char::is_whitespace) {
            return Err(error(
                format!("image reference `{text}` contains whitespace"),
                how,
            ));
        }
        let (name_and_tag, digest) = match text.split_once('@') {
            Some((name, digest)) => (name, Some(check_digest(text, digest)?)),
            None => (text, None),
        };
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_and_tag[..last_slash + i],
                Some(&name_and_tag[last_slash + i + 1..]),
            ),
            None => (name_and_tag, None),
        };
        if let Some(tag) = tag {
            check_tag(text, tag)?;
        }
        let (registry, path) = split_registry(name);
        check_registry(text, registry)?;
        if path.is_empty() {
            return Err(error(
                format!("image reference `{text}` has no repository"),
                how,
            ));
        }
        for component in path.split('/') {
            check_component(text, component)?;
        }
        let (registry, repository) = normalize(registry, path);
        if registry.len() + 1 + repository.len() > MAX_NAME_LENGTH {
            return Err(error(
                format!("image name in `{text}` is longer than {MAX_NAME_LENGTH} characters"),
                "shorten the repository name",
            ));
        }
        Ok(Self {
            registry,
            repository,
            tag: tag.map(str::to_owned),
            digest,
        })
    }
}

/// Docker's rule: the first component is a registry when it looks like a
/// host (has a `.` or `:`, is `localhost`, or has capitals).
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DEFAULT_REGISTRY, name),
    }
}

fn normalize(registry: &str, path: &str) -> (String, String) {
    let registry = match registry {
        "index.docker.io" | "registry-1.docker.io" => DEFAULT_REGISTRY,
        other => other,
    };
    let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_owned()
    };
    (registry.to_owned(), repository)
}

fn check_registry(text: &str, registry: &str) -> Result<(), ReferenceError> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || registry.starts_with('[') => {
            (host, Some(port))
        }
        _ => (registry, None),
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !inner.is_empty() && inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(error(
            format!("`{registry}` in `{text}` is not a valid registry host"),
            "a registry is `host` or `host:port`, e.g. `ghcr.io` or `127.0.0.1:5000`",
        ))
    }
}

/// A path component: lowercase letters and digits, joined by `.`, `_`, `__` or dashes.
fn check_component(text: &str, component: &str) -> Result<(), ReferenceError> {
    if component.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(error(
            format!("repository name in `{text}` must be lowercase"),
            format!("write `{}`", text.to_ascii_lowercase()),
        ));
    }
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut ok = !bytes.is_empty() && alnum(bytes[0]) && alnum(bytes[bytes.len() - 1]);
    let mut i = 0;
    while ok && i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
    }
    if ok {
        Ok(())
    } else {
        Err(error(
            format!("`{component}` in `{text}` is not a valid repository name component"),
            "use lowercase letters and digits, separated by `.`, `_`, `__` or `-`",
        ))
    }
}

/// A valid tag: up to 128 of `[A-Za-z0-9_.-]`, not starting with `.` or `-`.
pub fn is_valid_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    tag.len() <= 128
        && chars.next().is_some_and(word)
        && chars.all(|c| word(c) || c == '.' || c == '-')
}

fn check_tag(text: &str, tag: &str) -> Result<(), ReferenceError> {
    if is_valid_tag(tag) {
        Ok(())
    } else {
        Err(error(
            format!("`{tag}` in `{text}` is not a valid tag"),
            "a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
        ))
    }
}

fn check_digest(text: &str, digest: &str) -> Result<String, ReferenceError> {
    let help = "a digest is `sha256:` followed by 64 lowercase hex digits";
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(error(
            format!("`{digest}` in `{text}` is not a digest"),
            help,
        ));
    };
    let expected_len = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => {
            return Err(error(
                format!("unsupported digest algorithm `{algorithm}` in `{text}`"),
                help,
            ));
        }
    };
    if hex.len() != expected_len
        || !hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        return Err(error(
            format!("`{digest}` in `{text}` is not a valid {algorithm} digest"),
            help,
        ));
    }
    Ok(digest.to_owned())
}

impl fmt::Display for RegistryRef {
    /// The normalized form: `docker.io/library/alpine:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Piece by piece: `write!` costs more than the copying, and the
        // graph keys every image a plan makes by this text.
        for piece in [&self.registry, "/", &self.repository] {
            f.write_str(piece)?;
        }
        match (&self.tag, &self.digest) {
            (Some(tag), _) => {
                f.write_str(":")?;
                f.write_str(tag)?;
            }
            (None, None) => {
                f.write_str(":")?;
                f.write_str(DEFAULT_TAG)?;
            }
            (None, Some(_)) => {}
        }
        if let Some(digest) = &self.digest {
            f.write_str("@")?;
            f.write_str(digest)?;
        }
        Ok(())
    }
}

impl fmt::Display for LayoutRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{LAYOUT_PREFIX}{}", self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Registry(r) => r.fmt(f),
            Self::Layout(l) => l.fmt(f),
        }
    }
}

impl Serialize for ImageRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Whether a registry host (with or without its port) is this machine:
/// plain HTTP is allowed there without `insecure`.
pub fn is_loopback_host(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    name == "localhost" || name.starts_with("127.") || name == "[::1]" || host == "::1"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_with_and_without_ports() {
        for host in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "registry.example.com",
            "10.0.0.1:5000",
            "localhost.example.com",
            "docker.io",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    fn normal(text: &str) -> String {
        ImageRef::parse(text).unwrap().to_string()
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(normal("alpine"), "docker.io/library/alpine:latest");
        assert_eq!(normal("alpine:3.12"), "docker.io/library/alpine:3.12");
        assert_eq!(normal("tangx/alpine:3.12"), "docker.io/tangx/alpine:3.12");
        assert_eq!(
            normal("index.docker.io/tangx/alpine"),
            "docker.io/tangx/alpine:latest"
        );
        assert_eq!(
            normal("docker.io/alpine"),
            "docker.io/library/alpine:latest"
        );
        assert_eq!(normal("localhost/app"), "localhost/app:latest");
        assert_eq!(normal("127.0.0.1:5000/a/b:v1"), "127.0.0.1:5000/a/b:v1");
        assert_eq!(normal("ghcr.io/org/app"), "ghcr.io/org/app:latest");
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            normal(&format!("alpine@{digest}")),
            format!("docker.io/library/alpine@{digest}")
        );
        assert_eq!(
            normal(&format!("alpine:3@{digest}")),
            format!("docker.io/library/alpine:3@{digest}")
        );
        assert_eq!(
            normal("a__b/c-d--e.f_g:T_1.x-y"),
            "docker.io/a__b/c-d--e.f_g:T_1.x-y"
        );
    }

    #[test]
    fn parses_oci_layouts() {
        assert_eq!(normal("oci:images/alpine:3.12"), "oci:images/alpine:3.12");
        assert_eq!(normal("oci:./out"), "oci:./out");
        let ImageRef::Layout(layout) = ImageRef::parse("oci:/tmp/x:y/layout:v1").unwrap() else {
            panic!("not a layout")
        };
        assert_eq!(layout.path, "/tmp/x:y/layout");
        assert_eq!(layout.tag.as_deref(), Some("v1"));
        assert!(ImageRef::parse("oci:").is_err());
    }

    #[test]
    fn rejects_what_docker_rejects() {
        for bad in [
            "",
            "Alpine",
            "alpine:",
            "alpine:-x",
            "alpine@sha256:123",
            "alpine@md5:abc",
            "a b",
            "docker.io/",
            "-a/b",
            "a..b",
            "bad_host.example.com:port/x",
            "x:1:2",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad} should be rejected");
        }
        let long = format!("a/{}", "b".repeat(300));
        assert!(ImageRef::parse(&long).is_err());
    }
}
