//! The repository's facts for `git.*` templates, read with `git` (as
//! argument vectors, in the plan's folder), and GitHub Actions' own
//! account of the run from its `GITHUB_*` variables and event payload.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::plan::git_meta::{GitMeta, GithubFacts, RepoFacts};

/// Largest GitHub event payload read (a push event is a few KiB; a pull
/// request with a long body some tens).
const MAX_EVENT_BYTES: u64 = 4 * 1024 * 1024;

/// `git.*` for a run in `dir`, with `env` as the run's environment.
pub fn read(dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<GitMeta, String> {
    let github = github_facts(env)?;
    let repo = match repo_facts(dir) {
        Ok(repo) => repo,
        // In CI, GitHub's variables are enough for everything but the
        // commit time (then left out of the OCI labels, as documented);
        // outside it the repository is needed.
        Err(why) if github.sha.is_none() => return Err(why),
        Err(_) => RepoFacts::default(),
    };
    Ok(GitMeta::of(&repo, &github))
}

/// What `git ARGS` printed; `None` when it says "no such thing" by failing
/// (no branch on a detached head, no `origin`): the caller decides whether
/// that is an answer or an error.
fn git(dir: &Path, args: &[&str]) -> Result<Option<String>, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("cannot run git: {err}"))?;
    Ok(output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned()))
}

fn repo_facts(dir: &Path) -> Result<RepoFacts, String> {
    let sha = git(dir, &["rev-parse", "--verify", "HEAD"])?
        .ok_or_else(|| format!("{} is not in a git repository with a commit", dir.display()))?;
    // With a commit there, these answer; a failure is a broken repository,
    // not "no tags" or "no time".
    let failed = |what: &str| format!("`git {what}` failed in {}", dir.display());
    let mut tags: Vec<String> = git(dir, &["tag", "--points-at", "HEAD"])?
        .ok_or_else(|| failed("tag --points-at HEAD"))?
        .lines()
        .map(str::to_owned)
        .collect();
    tags.sort();
    let commit_time = git(dir, &["log", "-1", "--format=%cI"])?.ok_or_else(|| failed("log -1"))?;
    Ok(RepoFacts {
        sha,
        // None on a detached head (a tag build): no branch, as documented.
        branch: git(dir, &["symbolic-ref", "--quiet", "--short", "HEAD"])?,
        tags,
        commit_time,
        // None when the clone does not know `origin/HEAD`: `main` is assumed.
        default_branch: git(
            dir,
            &[
                "symbolic-ref",
                "--quiet",
                "--short",
                "refs/remotes/origin/HEAD",
            ],
        )?
        .map(|b| b.strip_prefix("origin/").unwrap_or(&b).to_owned()),
        // None without an `origin`: `git.source` is then empty.
        remote_url: git(dir, &["remote", "get-url", "origin"])?,
    })
}

/// GitHub's account of the run. An event payload that is named but cannot
/// be read is an error: without it a pull request would be taken for its
/// merge commit, and images tagged with the wrong one.
fn github_facts(env: &dyn Fn(&str) -> Option<String>) -> Result<GithubFacts, String> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let event: serde_json::Value = match set("GITHUB_EVENT_PATH") {
        None => serde_json::Value::Null,
        Some(path) => {
            let bytes = crate::local_file::read(Path::new(&path), MAX_EVENT_BYTES)
                .map_err(|err| format!("cannot read GITHUB_EVENT_PATH {path}: {err}"))?;
            serde_json::from_slice(&bytes).map_err(|err| {
                format!("GITHUB_EVENT_PATH {path} is not a GitHub event payload: {err}")
            })?
        }
    };
    let text = |value: &serde_json::Value| value.as_str().map(str::to_owned);
    Ok(GithubFacts {
        sha: set("GITHUB_SHA"),
        git_ref: set("GITHUB_REF"),
        head_ref: set("GITHUB_HEAD_REF"),
        server_url: set("GITHUB_SERVER_URL"),
        repository: set("GITHUB_REPOSITORY"),
        pull_request_head_sha: text(&event["pull_request"]["head"]["sha"]),
        default_branch: text(&event["repository"]["default_branch"]),
    })
}
