//! `git.*` in templates: what `docker/metadata-action` computes, from the
//! repository's facts and, under GitHub Actions, the `GITHUB_*` variables
//! (which win: a pull request builds its head commit). Pure: the facts are
//! read elsewhere (`backend::git`) and handed in, once per run, only when a
//! template names `git`.

use std::collections::BTreeMap;

use serde::Serialize;

/// What the repository says (`git` run in the plan's folder).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoFacts {
    pub sha: String,
    /// The checked-out branch; `None` on a detached head.
    pub branch: Option<String>,
    /// Tags pointing at the commit, sorted.
    pub tags: Vec<String>,
    /// The commit's time, RFC 3339.
    pub commit_time: String,
    /// `origin/HEAD`'s branch, when the clone knows it.
    pub default_branch: Option<String>,
    /// The `origin` remote's URL.
    pub remote_url: Option<String>,
}

/// What GitHub Actions says of the run (absent outside it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GithubFacts {
    pub sha: Option<String>,
    pub git_ref: Option<String>,
    pub head_ref: Option<String>,
    pub server_url: Option<String>,
    pub repository: Option<String>,
    /// From the event payload (`GITHUB_EVENT_PATH`): a pull request's head
    /// commit and the repository's default branch.
    pub pull_request_head_sha: Option<String>,
    pub default_branch: Option<String>,
}

/// `git.*`, as templates read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GitMeta {
    pub sha: String,
    pub short_sha: String,
    pub branch: String,
    pub tag: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub is_default_branch: bool,
    pub commit_time: String,
    /// The repository's web address (for `org.opencontainers.image.source`).
    pub source: String,
}

impl GitMeta {
    pub fn of(repo: &RepoFacts, github: &GithubFacts) -> Self {
        let sha = github
            .pull_request_head_sha
            .clone()
            .or_else(|| github.sha.clone())
            .unwrap_or_else(|| repo.sha.clone());
        let git_ref =
            github
                .git_ref
                .clone()
                .unwrap_or_else(|| match (&repo.branch, repo.tags.first()) {
                    (Some(branch), _) => format!("refs/heads/{branch}"),
                    (None, Some(tag)) => format!("refs/tags/{tag}"),
                    (None, None) => String::new(),
                });
        let branch = github
            .head_ref
            .clone()
            .filter(|b| !b.is_empty())
            .or_else(|| git_ref.strip_prefix("refs/heads/").map(str::to_owned))
            .unwrap_or_default();
        let tag = git_ref
            .strip_prefix("refs/tags/")
            .map(str::to_owned)
            .or_else(|| {
                // Locally, a tag on the commit counts (a CI tag build checks it out detached).
                github
                    .git_ref
                    .is_none()
                    .then(|| repo.tags.first().cloned())
                    .flatten()
            })
            .unwrap_or_default();
        let default_branch = github
            .default_branch
            .clone()
            .or_else(|| repo.default_branch.clone())
            .unwrap_or_else(|| "main".to_owned());
        let source = match (&github.server_url, &github.repository) {
            (Some(server), Some(repository)) => {
                format!("{}/{repository}", server.trim_end_matches('/'))
            }
            _ => repo.remote_url.as_deref().map(web_url).unwrap_or_default(),
        };
        Self {
            short_sha: sha.chars().take(7).collect(),
            sha,
            is_default_branch: !branch.is_empty()
                && branch == default_branch
                && github.head_ref.as_deref().is_none_or(str::is_empty),
            branch,
            tag,
            git_ref,
            commit_time: repo.commit_time.clone(),
            source,
        }
    }

    pub fn fields(&self) -> BTreeMap<&'static str, minijinja::Value> {
        use minijinja::Value;
        BTreeMap::from([
            ("sha", Value::from(self.sha.clone())),
            ("short_sha", Value::from(self.short_sha.clone())),
            ("branch", Value::from(self.branch.clone())),
            ("tag", Value::from(self.tag.clone())),
            ("ref", Value::from(self.git_ref.clone())),
            ("is_default_branch", Value::from(self.is_default_branch)),
            ("commit_time", Value::from(self.commit_time.clone())),
            ("source", Value::from(self.source.clone())),
        ])
    }

    /// `org.opencontainers.image.*` for `oci_labels: true`: where the
    /// source is, which commit, when, and which version (the tag, else the
    /// branch as a tag).
    pub fn oci_labels(&self) -> Vec<(String, String)> {
        let version = if self.tag.is_empty() {
            slug(&self.branch).unwrap_or_default()
        } else {
            self.tag.clone()
        };
        [
            ("source", self.source.clone()),
            ("revision", self.sha.clone()),
            ("created", self.commit_time.clone()),
            ("version", version),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| (format!("org.opencontainers.image.{key}"), value))
        .collect()
    }
}

/// A remote URL as a web address: `git@github.com:a/b.git` and
/// `https://github.com/a/b.git` are `https://github.com/a/b`; credentials in
/// a URL are dropped, never shown.
pub fn web_url(remote: &str) -> String {
    let trimmed = remote.trim().trim_end_matches(".git");
    if let Some(rest) = trimmed.strip_prefix("git@")
        && let Some((host, path)) = rest.split_once(':')
    {
        return format!("https://{host}/{path}");
    }
    for scheme in ["https://", "http://", "ssh://", "git://"] {
        if let Some(rest) = trimmed.strip_prefix(scheme) {
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            let rest = rest.strip_prefix("git@").unwrap_or(rest);
            return format!(
                "https://{}",
                rest.replacen(':', "/", usize::from(scheme == "ssh://"))
            );
        }
    }
    String::new()
}

/// `slug`: any text (a branch name) as a valid tag: runs of characters a
/// tag cannot hold become `-`, no leading `.` or `-`, at most 128.
pub fn slug(text: &str) -> Result<String, String> {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out
        .trim_start_matches(['.', '-'])
        .trim_end_matches('-')
        .chars()
        .take(128)
        .collect();
    if out.is_empty() {
        Err(format!("`{text}` has nothing a tag can hold"))
    } else {
        Ok(out)
    }
}

/// `semver`: a tag read as a version (`v1.2.3`, `1.2.3-rc.1`), as its
/// parts; an error when it is not one.
pub fn semver_parts(text: &str) -> Result<BTreeMap<&'static str, minijinja::Value>, String> {
    use minijinja::Value;
    let version = semver::Version::parse(text.strip_prefix('v').unwrap_or(text))
        .map_err(|err| format!("`{text}` is not a semantic version ({err})"))?;
    Ok(BTreeMap::from([
        ("major", Value::from(version.major)),
        ("minor", Value::from(version.minor)),
        ("patch", Value::from(version.patch)),
        ("prerelease", Value::from(version.pre.to_string())),
        ("version", Value::from(version.to_string())),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoFacts {
        RepoFacts {
            sha: "a".repeat(40),
            branch: Some("feature/login-page".into()),
            tags: vec![],
            commit_time: "2026-11-30T08:00:00+00:00".into(),
            default_branch: Some("main".into()),
            remote_url: Some("git@github.com:acme/shop.git".into()),
        }
    }

    #[test]
    fn from_the_repository_alone() {
        let meta = GitMeta::of(&repo(), &GithubFacts::default());
        assert_eq!(meta.branch, "feature/login-page");
        assert_eq!(meta.git_ref, "refs/heads/feature/login-page");
        assert_eq!(meta.short_sha, "aaaaaaa");
        assert!(!meta.is_default_branch);
        assert_eq!(meta.source, "https://github.com/acme/shop");
        assert_eq!(slug(&meta.branch).unwrap(), "feature-login-page");
    }

    #[test]
    fn github_variables_win_and_a_pull_request_uses_its_head() {
        let github = GithubFacts {
            sha: Some("b".repeat(40)),
            git_ref: Some("refs/pull/7/merge".into()),
            head_ref: Some("fix/x".into()),
            server_url: Some("https://github.com".into()),
            repository: Some("acme/shop".into()),
            pull_request_head_sha: Some("c".repeat(40)),
            default_branch: Some("main".into()),
        };
        let meta = GitMeta::of(&repo(), &github);
        assert_eq!(meta.sha, "c".repeat(40));
        assert_eq!(meta.branch, "fix/x");
        assert_eq!(meta.tag, "");
        assert!(!meta.is_default_branch);
        let tag_build = GithubFacts {
            sha: Some("d".repeat(40)),
            git_ref: Some("refs/tags/v1.2.3".into()),
            ..GithubFacts::default()
        };
        let meta = GitMeta::of(&repo(), &tag_build);
        assert_eq!((meta.tag.as_str(), meta.branch.as_str()), ("v1.2.3", ""));
        assert_eq!(
            semver_parts(&meta.tag).unwrap()["minor"],
            minijinja::Value::from(2)
        );
        assert!(semver_parts("main").is_err());
    }

    #[test]
    fn remote_urls_become_web_addresses_without_credentials() {
        assert_eq!(
            web_url("https://user:token@github.com/a/b.git"),
            "https://github.com/a/b"
        );
        assert_eq!(
            web_url("ssh://git@example.com/a/b"),
            "https://example.com/a/b"
        );
        assert_eq!(slug("--Weird//branch!!"), Ok("Weird-branch".to_owned()));
        assert!(slug("///").is_err());
    }
}
