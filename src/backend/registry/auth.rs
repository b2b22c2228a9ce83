//! Registry authentication: credentials from the Docker config and its
//! credential helpers, Basic auth, and the Bearer token flow. Credentials
//! and tokens live only here, are never logged, and appear in no error.

use std::collections::HashMap;

use docker_credential::DockerCredential;

/// What a request needs to be allowed: pull from a repository, push to it,
/// and pull from another (a cross-repository mount).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub repository: String,
    pub push: bool,
    /// Deleting tags and manifests (pruning): a scope of its own on
    /// registries with token auth.
    pub delete: bool,
    pub mount_from: Option<String>,
}

impl Scope {
    pub fn pull(repository: &str) -> Self {
        Self {
            repository: repository.to_owned(),
            push: false,
            delete: false,
            mount_from: None,
        }
    }

    pub fn push(repository: &str) -> Self {
        Self {
            push: true,
            ..Self::pull(repository)
        }
    }

    pub fn delete(repository: &str) -> Self {
        Self {
            delete: true,
            ..Self::push(repository)
        }
    }

    pub fn scopes(&self) -> Vec<String> {
        let action = match (self.push, self.delete) {
            (_, true) => "pull,push,delete",
            (true, false) => "pull,push",
            (false, false) => "pull",
        };
        let mut out = vec![format!("repository:{}:{action}", self.repository)];
        if let Some(from) = &self.mount_from {
            out.push(format!("repository:{from}:pull"));
        }
        out
    }
}

/// A `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    Some(Challenge::Bearer {
        realm: params.get("realm")?.clone(),
        service: params.get("service").cloned(),
    })
}

/// `key="value", key2="value, with comma"`.
fn parse_params(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_owned());
        rest = after.trim_start_matches([',', ' ']);
    }
    out
}

/// What a user has for a registry (`docker login`), if anything.
#[derive(Clone)]
pub enum Credential {
    None,
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken` in the Docker config).
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    /// Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "Credential::None",
            Self::Basic { .. } => "Credential::Basic(<redacted>)",
            Self::IdentityToken(_) => "Credential::IdentityToken(<redacted>)",
        })
    }
}

/// Looks up the Docker config (`$DOCKER_CONFIG` or `~/.docker/config.json`)
/// and the credential helpers for `host`.
pub fn credential_for(host: &str) -> Credential {
    let server = if host == "docker.io" || host == "registry-1.docker.io" {
        "https://index.docker.io/v1/".to_owned()
    } else {
        host.to_owned()
    };
    match docker_credential::get_credential(&server) {
        Ok(DockerCredential::UsernamePassword(username, password)) => {
            Credential::Basic { username, password }
        }
        Ok(DockerCredential::IdentityToken(token)) => Credential::IdentityToken(token),
        Err(_) => Credential::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(parse_challenge("Basic realm=\"r\""), Some(Challenge::Basic));
        assert_eq!(
            parse_challenge(
                "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/alpine:pull\""
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            })
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let credential = Credential::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{credential:?}").contains("hunter2"));
    }
}
