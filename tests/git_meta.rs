//! `git.*` in templates, against a real repository made in the test:
//! commits, a branch with a slash, a tag `v1.2.3`, with and without the
//! `GITHUB_*` variables of GitHub Actions; `slug` and `semver`;
//! `oci_labels: true`; `plan show` listing what the plan reads.

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_DATE", "2026-11-30T08:00:00+00:00")
        .output()
        .expect("git is installed (scripts/provision)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

const PLAN: &str = "version: 1
builds:
  app:
    tags:
      - r.example/app:{{ git.branch | slug }}-{{ git.short_sha }}
    labels:
      ref: \"{{ git.ref }}\"
      default: \"{{ 'yes' if git.is_default_branch else 'no' }}\"
      reads: \"{{ env.SHOP_REGION | default('eu') }}\"
    oci_labels: true
";

/// A repository with two commits on `main`, then `feature/login-page`.
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(
        dir.path(),
        &["remote", "add", "origin", "git@github.com:acme/shop.git"],
    );
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(dir.path().join("plan.yaml"), PLAN).unwrap();
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "one"]);
    std::fs::write(dir.path().join("README"), "two\n").unwrap();
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "two"]);
    git(dir.path(), &["checkout", "-q", "-b", "feature/login-page"]);
    dir
}

fn show(dir: &Path, env: &[(&str, &str)]) -> (i32, serde_json::Value, String) {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("plan"));
    cmd.current_dir(dir).arg("show").env("NO_COLOR", "1");
    for name in [
        "GITHUB_SHA",
        "GITHUB_REF",
        "GITHUB_HEAD_REF",
        "GITHUB_EVENT_PATH",
        "GITHUB_SERVER_URL",
        "GITHUB_REPOSITORY",
        "GITHUB_ACTIONS",
        "SHOP_REGION",
    ] {
        cmd.env_remove(name);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn git_metadata_from_the_repository() {
    let repo = repository();
    let sha = git(repo.path(), &["rev-parse", "HEAD"]);
    let (code, shown, stderr) = show(repo.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let build = &shown["builds"][0];
    assert_eq!(
        build["tags"][0],
        format!("r.example/app:feature-login-page-{}", &sha[..7])
    );
    assert_eq!(build["labels"]["ref"], "refs/heads/feature/login-page");
    assert_eq!(build["labels"]["default"], "no");
    assert_eq!(build["labels"]["org.opencontainers.image.revision"], sha);
    assert_eq!(
        build["labels"]["org.opencontainers.image.source"],
        "https://github.com/acme/shop"
    );
    assert_eq!(
        build["labels"]["org.opencontainers.image.version"],
        "feature-login-page"
    );
    assert_eq!(
        build["labels"]["org.opencontainers.image.created"],
        "2026-11-30T08:00:00Z"
    );
    assert_eq!(
        build["run"]["annotations"]["org.opencontainers.image.revision"],
        sha
    );
    // What the plan reads from outside itself, named.
    assert_eq!(shown["reads"]["env"], serde_json::json!(["SHOP_REGION"]));
    for field in ["branch", "ref", "short_sha", "is_default_branch", "sha"] {
        assert!(
            shown["reads"]["git"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == field),
            "{field}: {}",
            shown["reads"]
        );
    }

    // A tag build: detached at `v1.2.3`; `semver` reads its parts.
    git(repo.path(), &["tag", "v1.2.3"]);
    git(repo.path(), &["checkout", "-q", "--detach", "v1.2.3"]);
    let versioned = PLAN.replace(
        "ref: \"{{ git.ref }}\"",
        "ref: \"{{ git.ref }}\"\n      major: \"{{ (git.tag | semver).major }}.{{ (git.tag | semver).minor }}\"",
    )
    .replace("{{ git.branch | slug }}-{{ git.short_sha }}", "{{ git.tag }}");
    std::fs::write(repo.path().join("plan.yaml"), &versioned).unwrap();
    let (code, shown, stderr) = show(repo.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let build = &shown["builds"][0];
    assert_eq!(build["tags"][0], "r.example/app:v1.2.3");
    assert_eq!(build["labels"]["major"], "1.2");
    assert_eq!(build["labels"]["ref"], "refs/tags/v1.2.3");
    assert_eq!(
        build["labels"]["org.opencontainers.image.version"],
        "v1.2.3"
    );

    // On `main`, the default branch; `semver` of a branch is an error at its place.
    git(repo.path(), &["checkout", "-q", "main"]);
    std::fs::write(repo.path().join("README"), "three\n").unwrap();
    git(repo.path(), &["commit", "-q", "-am", "three"]);
    let (code, _, stderr) = show(repo.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is not a semantic version"), "{stderr}");
    assert!(stderr.contains("plan.yaml:8:"), "{stderr}");
}

#[test]
fn github_variables_win_and_a_pull_request_builds_its_head() {
    let repo = repository();
    let event = repo.path().join("event.json");
    let head = "c".repeat(40);
    std::fs::write(
        &event,
        format!("{{\"pull_request\":{{\"head\":{{\"sha\":\"{head}\"}}}},\"repository\":{{\"default_branch\":\"main\"}}}}"),
    )
    .unwrap();
    let event = event.display().to_string();
    let (code, shown, stderr) = show(
        repo.path(),
        &[
            ("GITHUB_SHA", &"b".repeat(40)),
            ("GITHUB_REF", "refs/pull/7/merge"),
            ("GITHUB_HEAD_REF", "fix/typo"),
            ("GITHUB_EVENT_PATH", &event),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/shop-fork"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let build = &shown["builds"][0];
    assert_eq!(build["tags"][0], "r.example/app:fix-typo-ccccccc");
    assert_eq!(build["labels"]["ref"], "refs/pull/7/merge");
    assert_eq!(build["labels"]["org.opencontainers.image.revision"], head);
    assert_eq!(
        build["labels"]["org.opencontainers.image.source"],
        "https://github.com/acme/shop-fork"
    );
    // A push to main under GitHub: the default branch.
    let (code, shown, stderr) = show(
        repo.path(),
        &[
            ("GITHUB_SHA", &"d".repeat(40)),
            ("GITHUB_REF", "refs/heads/main"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(shown["builds"][0]["labels"]["default"], "yes");
    assert_eq!(shown["builds"][0]["tags"][0], "r.example/app:main-ddddddd");
}

#[test]
fn outside_a_repository_git_is_a_clear_error_and_a_plan_without_it_never_runs_git() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(dir.path().join("plan.yaml"), PLAN).unwrap();
    let (code, _, stderr) = show(dir.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("plan::git-unreadable"), "{stderr}");
    assert!(stderr.contains("not in a git repository"), "{stderr}");
    assert!(stderr.contains("plan.yaml:5:"), "{stderr}");
    // No `git.*`: git is never run (a PATH without it changes nothing).
    std::fs::write(
        dir.path().join("plan.yaml"),
        "version: 1\nbuilds:\n  app:\n    tags: [r.example/app:1]\n",
    )
    .unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("plan"))
        .current_dir(dir.path())
        .arg("show")
        .env("PATH", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn git_is_read_once_per_run_however_many_templates_name_it() {
    let repo = repository();
    // Three builds, each naming git.* several times and with oci_labels.
    let mut plan = String::from("version: 1\nbuilds:\n");
    for name in ["a", "b", "c"] {
        plan.push_str(&format!(
            "  {name}:\n    tags: [\"r.example/{name}:{{{{ git.short_sha }}}}\"]\n    labels:\n      ref: \"{{{{ git.ref }}}} {{{{ git.sha }}}}\"\n    oci_labels: true\n"
        ));
    }
    std::fs::write(repo.path().join("plan.yaml"), plan).unwrap();
    // `git` on PATH counts its runs, then runs the real one.
    let bin = repo.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let log = repo.path().join("git.log");
    std::fs::write(
        bin.join("git"),
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\nexec {real} \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(bin.join("git"))
        .status()
        .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new(assert_cmd::cargo::cargo_bin("plan"))
        .current_dir(repo.path())
        .arg("show")
        .env("PATH", path)
        .env_remove("GITHUB_SHA")
        .env_remove("GITHUB_REF")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = std::fs::read_to_string(&log).unwrap();
    assert_eq!(runs.matches("rev-parse").count(), 1, "{runs}");
}

#[test]
fn an_event_payload_that_cannot_be_read_is_an_error_not_a_merge_commit() {
    let repo = repository();
    let event = repo.path().join("event.json");
    std::fs::write(&event, "{ not json").unwrap();
    let event = event.display().to_string();
    let (code, _, stderr) = show(
        repo.path(),
        &[
            ("GITHUB_SHA", &"b".repeat(40)),
            ("GITHUB_EVENT_PATH", &event),
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("plan::git-unreadable"), "{stderr}");
    assert!(stderr.contains("is not a GitHub event"), "{stderr}");
}
