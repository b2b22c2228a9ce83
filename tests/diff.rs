//! `plan diff` and the apply that follows it, against real registries (and,
//! for builds and builders, the real engines and buildx of
//! `scripts/services`): what diff says is what apply does, and after an
//! apply diff has nothing left to say.

#[path = "support/registry.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use support::{TestRegistry, seed, test_image};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn plan(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("plan"));
    cmd.current_dir(dir)
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn line_for<'a>(text: &'a str, address: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(address))
        .unwrap_or_else(|| panic!("no line for {address} in:\n{text}"))
}

/// The diff line of `address` starts with `symbol` (`+`, `~`, `=`, `-/+`, …).
fn assert_symbol(text: &str, address: &str, symbol: &str) {
    let line = line_for(text, address).trim_start();
    assert!(
        line.split_whitespace().next() == Some(symbol),
        "{address}: expected `{symbol}` in:\n{text}"
    );
}

/// Requests (method and path) the registry logged since `from`.
fn requests_since(registry: &TestRegistry, from: usize) -> Vec<(String, String)> {
    registry.log()[from..]
        .lines()
        .filter_map(|l| {
            let mut request = l.split('"').nth(1)?.split_whitespace();
            Some((request.next()?.to_owned(), request.next()?.to_owned()))
        })
        .filter(|(_, path)| path.starts_with("/v2/"))
        .collect()
}

/// Requests the registry logged since `from` (its access log lines).
fn methods_since(registry: &TestRegistry, from: usize) -> Vec<String> {
    registry.log()[from..]
        .lines()
        .filter_map(|l| {
            l.split("\"")
                .nth(1)
                .map(|req| req.split_whitespace().next().unwrap_or("").to_owned())
        })
        .filter(|m| ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"].contains(&m.as_str()))
        .collect()
}

#[test]
fn diff_then_apply_then_nothing_left_and_a_moved_source_shows_with_its_dependents() {
    let r = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let v1 = test_image(work.path(), "64K", "32K", 11);
    let other = test_image(work.path(), "64K", "32K", 12);
    seed(&v1, "1", &r.image());
    seed(&other, "arm64", &format!("{}/other/img:arm64", r.host()));
    seed(&other, "1", &format!("{}/unrelated/img:1", r.host()));
    let text = format!(
        "version: 1
syncs:
  a:
    from: {h}/src/img:1
    to: {h}/mid/img:1
  b:
    from: {h}/unrelated/img:1
    to: {h}/dst/unrelated:1
combines:
  c:
    to: {h}/comb/img:1
    from:
      linux/amd64: {h}/mid/img:1
      linux/arm64: {h}/other/img:arm64
",
        h = r.host()
    );
    std::fs::write(work.path().join("plan.yaml"), text).unwrap();

    // Fresh: everything is to create, and diff changes nothing.
    let before = r.log().len();
    let diff = plan(work.path(), &["diff", "--detailed-exitcode"], &[]);
    assert_eq!(diff.code, 2, "{}{}", diff.stdout, diff.stderr);
    assert_symbol(&diff.stdout, "sync.a", "+");
    assert_symbol(&diff.stdout, "sync.b", "+");
    assert!(diff.stdout.contains("Plan: 2 to create"), "{}", diff.stdout);
    assert!(
        methods_since(&r, before)
            .iter()
            .all(|m| m == "GET" || m == "HEAD"),
        "diff wrote to the registry"
    );

    let apply = plan(work.path(), &["apply", "--progress", "plain"], &[]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);

    let diff = plan(work.path(), &["diff", "--detailed-exitcode"], &[]);
    assert_eq!(diff.code, 0, "{}", diff.stdout);
    assert!(
        diff.stdout.contains("Plan: 3 unchanged."),
        "{}",
        diff.stdout
    );

    // Applying an up-to-date plan reads, and writes nothing.
    let before = r.log().len();
    let apply = plan(work.path(), &["apply", "--progress", "plain"], &[]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert!(
        apply.stderr.contains("Apply complete: 3 unchanged"),
        "{}",
        apply.stderr
    );
    let methods = methods_since(&r, before);
    assert!(
        !methods.is_empty() && methods.iter().all(|m| m == "GET" || m == "HEAD"),
        "{methods:?}"
    );

    // A new image at a sync's source: that sync, and the combine reading its output.
    let v2 = test_image(work.path(), "64K", "32K", 13);
    seed(&v2, "1", &r.image());
    let diff = plan(work.path(), &["diff", "--detailed-exitcode", "--json"], &[]);
    assert_eq!(diff.code, 2);
    let doc: serde_json::Value = serde_json::from_str(&diff.stdout).unwrap();
    assert_eq!(doc["format_version"], 1);
    let action = |address: &str| {
        doc["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["address"] == address)
            .unwrap()["action"]
            .clone()
    };
    assert_eq!(action("sync.a"), "update");
    assert_eq!(action("combine.c"), "update");
    assert_eq!(action("sync.b"), "unchanged");
    let text = plan(work.path(), &["diff"], &[]).stdout;
    let a = line_for(&text, "sync.a");
    assert!(a.contains(" -> "), "old -> new digest: {a}");
    assert!(
        line_for(&text, "combine.c").contains("its input changes in this run (sync.a)"),
        "{text}"
    );

    assert_eq!(
        plan(work.path(), &["apply", "--progress", "plain"], &[]).code,
        0
    );
    assert_eq!(
        plan(work.path(), &["diff", "--detailed-exitcode"], &[]).code,
        0
    );

    // --force redoes a job that is unchanged.
    let forced = plan(
        work.path(),
        &["apply", "--progress", "plain", "--force", "sync.b"],
        &[],
    );
    assert!(
        forced
            .stderr
            .contains("Apply complete: 1 succeeded, 2 unchanged"),
        "{}",
        forced.stderr
    );
}

/// The check of an up-to-date plan reads nothing: whole syncs and combines
/// of single-image tags are told unchanged from `HEAD`s alone (on Docker
/// Hub, `HEAD` is not counted against the pull limit; skopeo's `GET`s are).
/// A combine whose source moved is still read in full, and checked.
#[test]
fn an_up_to_date_check_sends_only_head_requests() {
    let r = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let image = test_image(work.path(), "64K", "32K", 21);
    seed(&image, "1", &r.image());
    seed(&image, "amd64", &format!("{}/src/img:amd64", r.host()));
    seed(&image, "arm64", &format!("{}/src/img:arm64", r.host()));
    let plan_with = |more_syncs: &str| {
        format!(
            "version: 1
syncs:
  whole:
    from: {h}/src/img:1
    to: {h}/dst/img:1
{more_syncs}combines:
  both:
    to: {h}/dst/combined:1
    from:
      linux/amd64: {h}/src/img:amd64
      linux/arm64: {h}/src/img:arm64
",
            h = r.host()
        )
    };
    std::fs::write(work.path().join("plan.yaml"), plan_with("")).unwrap();
    let apply = plan(work.path(), &["apply", "--progress", "plain"], &[]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);

    let before = r.log().len();
    let diff = plan(work.path(), &["diff", "--detailed-exitcode"], &[]);
    assert_eq!(diff.code, 0, "{}{}", diff.stdout, diff.stderr);
    let again = plan(work.path(), &["apply", "--progress", "plain"], &[]);
    assert!(
        again.stderr.contains("Apply complete: 2 unchanged"),
        "{}",
        again.stderr
    );
    // HEADs only; besides them, one question per run (diff, apply) for the
    // referrers API, which this registry lacks (a 404, remembered): no
    // manifest or blob is read.
    let requests = requests_since(&r, before);
    let (heads, others): (Vec<_>, Vec<_>) = requests.iter().partition(|(m, _)| m == "HEAD");
    assert!(!heads.is_empty(), "{requests:?}");
    assert!(
        others.len() <= 2
            && others
                .iter()
                .all(|(m, path)| m == "GET" && path.contains("/referrers/sha256:")),
        "{others:?}"
    );

    // A platform-filtered sync that is done is told from its target's index
    // (which names the source digest it was made from): the source gets a
    // HEAD, never a GET.
    let arm = format!(
        "  arm:\n    from: {h}/src/img:1\n    to: {h}/dst/arm:1\n    platforms: [linux/arm64]\n",
        h = r.host()
    );
    std::fs::write(work.path().join("plan.yaml"), plan_with(&arm)).unwrap();
    let apply = plan(work.path(), &["apply", "--progress", "plain"], &[]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let before = r.log().len();
    let diff = plan(work.path(), &["diff", "--detailed-exitcode"], &[]);
    assert_eq!(diff.code, 0, "{}{}", diff.stdout, diff.stderr);
    let source_reads: Vec<(String, String)> = requests_since(&r, before)
        .into_iter()
        // (the whole-image sync's referrers question aside: not a read)
        .filter(|(method, path)| {
            method != "HEAD" && path.starts_with("/v2/src/") && !path.contains("/referrers/")
        })
        .collect();
    assert!(source_reads.is_empty(), "{source_reads:?}");
    // A new image at the source: the filtered sync is read again, and updates.
    let newer = test_image(work.path(), "64K", "32K", 22);
    seed(&newer, "1", &r.image());
    let diff = plan(work.path(), &["diff"], &[]);
    assert_symbol(&diff.stdout, "sync.arm", "~");

    // The arm64 tag now holds the amd64 image: the combine is read, and refused.
    seed(&image, "amd64", &format!("{}/src/img:arm64", r.host()));
    let diff = plan(work.path(), &["diff"], &[]);
    assert!(
        line_for(&diff.stdout, "combine.both").contains("is a linux/amd64 image"),
        "{}{}",
        diff.stdout,
        diff.stderr
    );
}

#[test]
fn markdown_for_a_pull_request() {
    let r = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let image = test_image(work.path(), "16K", "16K", 14);
    seed(&image, "1", &r.image());
    std::fs::write(
        work.path().join("plan.yaml"),
        format!(
            "version: 1\nsyncs:\n  a:\n    from: {h}/src/img:1\n    to: {h}/dst/img:1\n",
            h = r.host()
        ),
    )
    .unwrap();
    let md = plan(work.path(), &["diff", "--format", "markdown"], &[]);
    assert_eq!(md.code, 0);
    assert!(
        md.stdout
            .starts_with("### plan diff\n\n**Plan: 1 to create.**"),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("<details><summary>1 jobs</summary>"));
    assert!(md.stdout.contains("| `+` | `sync.a` |"), "{}", md.stdout);
}

fn services() -> Option<(String, String, String, String)> {
    let var = |n: &str| std::env::var(n).ok();
    Some((
        var("BUILDPLAN_TEST_HOME")?,
        var("BUILDPLAN_TEST_BIN")?,
        var("BUILDPLAN_TEST_ENGINE_A")?,
        var("BUILDPLAN_TEST_REGISTRY")?,
    ))
}

fn require_services() -> (String, String, String, String) {
    services().expect("the engine tests need scripts/services (run the suite with scripts/test)")
}

#[test]
fn a_build_is_rebuilt_only_when_its_inputs_change() {
    let (home, bin, engine, registry) = require_services();
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap());
    let env = [("HOME", home.as_str()), ("PATH", path.as_str())];
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("ctx")).unwrap();
    std::fs::write(
        work.path().join("ctx/Dockerfile"),
        "FROM scratch\nCOPY hello.txt /\n",
    )
    .unwrap();
    std::fs::write(work.path().join("ctx/hello.txt"), "one\n").unwrap();
    std::fs::write(work.path().join("ctx/notes.md"), "ignored\n").unwrap();
    std::fs::write(work.path().join("ctx/.dockerignore"), "*.md\n").unwrap();
    let repo = format!("{registry}/diff-build-{}", std::process::id());
    std::fs::write(
        work.path().join("plan.yaml"),
        format!("version: 1\nbuilders:\n  amd:\n    driver: docker\n    endpoint: {engine}\n    platforms: [linux/amd64]\nbuilds:\n  hello:\n    context: ctx\n    builder: amd\n    platforms: [linux/amd64]\n    tags: [\"{repo}:1\"]\n"),
    )
    .unwrap();
    let diff = plan(work.path(), &["diff"], &env);
    assert!(
        line_for(&diff.stdout, "build.hello").contains("new image"),
        "{}",
        diff.stdout
    );
    assert!(
        line_for(&diff.stdout, "builder.amd").contains("engine reachable"),
        "{}",
        diff.stdout
    );
    assert_eq!(
        plan(work.path(), &["apply", "--progress", "plain"], &env).code,
        0
    );

    let diff = plan(work.path(), &["diff", "--detailed-exitcode"], &env);
    assert_eq!(diff.code, 0, "{}", diff.stdout);
    assert!(line_for(&diff.stdout, "build.hello").contains("up to date"));

    // An ignored file changes: nothing to do.
    std::fs::write(work.path().join("ctx/notes.md"), "still ignored\n").unwrap();
    assert_eq!(
        plan(work.path(), &["diff", "--detailed-exitcode"], &env).code,
        0
    );

    // A file in the context changes: the build, naming the file.
    std::fs::write(work.path().join("ctx/hello.txt"), "two\n").unwrap();
    let diff = plan(work.path(), &["diff", "--detailed-exitcode"], &env);
    assert_eq!(diff.code, 2);
    let line = line_for(&diff.stdout, "build.hello");
    assert!(
        line.contains("inputs changed (hello.txt)") && line.contains("digest known after apply"),
        "{line}"
    );
    let apply = plan(work.path(), &["apply", "--progress", "plain"], &env);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert!(apply.stderr.contains("buildx build"), "it built");
    let again = plan(work.path(), &["apply", "--progress", "plain"], &env);
    assert!(
        !again.stderr.contains("buildx build"),
        "an unchanged build ran: {}",
        again.stderr
    );
}

#[test]
fn a_builders_mirrors_changed_means_replace() {
    let (home, bin, engine, _) = require_services();
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap());
    let env = [("HOME", home.as_str()), ("PATH", path.as_str())];
    let work = tempfile::tempdir().unwrap();
    let name = format!("diff-builder-{}", std::process::id());
    let plan_with = |mirror: &str, settings: &str| {
        format!(
            "version: 1\nmirrors:\n  docker.io: [{mirror}]\nbuilders:\n  {name}:\n{settings}    nodes:\n      - name: n1\n        endpoint: {engine}\n        platforms: [linux/amd64]\n"
        )
    };
    let plan_text = |mirror: &str| plan_with(mirror, "");
    std::fs::write(
        work.path().join("plan.yaml"),
        plan_text("mirror-one.example.com"),
    )
    .unwrap();
    let diff = plan(work.path(), &["diff"], &env);
    assert_symbol(&diff.stdout, &format!("builder.{name}"), "+");
    // It is created (booting fails here: moby/buildkit cannot be pulled).
    let _ = plan(work.path(), &["apply", "--progress", "plain"], &env);
    let diff = plan(work.path(), &["diff"], &env);
    assert_symbol(&diff.stdout, &format!("builder.{name}"), "=");

    std::fs::write(
        work.path().join("plan.yaml"),
        plan_text("mirror-two.example.com"),
    )
    .unwrap();
    let diff = plan(work.path(), &["diff", "--detailed-exitcode"], &env);
    assert_eq!(diff.code, 2);
    let line = line_for(&diff.stdout, &format!("builder.{name}"));
    assert!(line.trim_start().starts_with("-/+"), "{line}");
    assert!(line.contains("buildkitd.toml changed"), "{line}");

    // Flags and driver options are compared too; the entitlement buildx adds
    // to every node by itself is not a difference.
    std::fs::write(
        work.path().join("plan.yaml"),
        plan_with(
            "mirror-one.example.com",
            "    buildkitd_flags: --debug --allow-insecure-entitlement security.insecure\n    driver_opts: {network: host}\n",
        ),
    )
    .unwrap();
    let diff = plan(work.path(), &["diff", "--format", "json"], &env);
    assert!(
        diff.stdout.contains(
            "buildkitd flags (none) -> --debug --allow-insecure-entitlement security.insecure"
        ),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout
            .contains("driver options (none) -> network=host"),
        "{}",
        diff.stdout
    );
    let _ = plan(work.path(), &["apply", "--progress", "plain"], &env);
    let diff = plan(work.path(), &["diff"], &env);
    assert_symbol(&diff.stdout, &format!("builder.{name}"), "=");
    let _ = Command::new("docker")
        .args(["buildx", "rm", &name])
        .env("HOME", &home)
        .env("PATH", &path)
        .output();
}

#[test]
fn a_saved_plan_is_refused_when_the_live_state_moved() {
    let r = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let v1 = test_image(work.path(), "16K", "16K", 21);
    seed(&v1, "1", &r.image());
    std::fs::write(
        work.path().join("plan.yaml"),
        format!("version: 1\nsyncs:\n  a:\n    from: {h}/src/img:1\n    to: {h}/dst/img:1\n  b:\n    from: {h}/src/img:1\n    to: {h}/dst/other:1\n", h = r.host()),
    )
    .unwrap();
    let diff = plan(work.path(), &["diff", "--out", "saved.json"], &[]);
    assert_eq!(diff.code, 0, "{}", diff.stderr);
    // Nothing moved: the saved plan applies.
    let apply = plan(
        work.path(),
        &["apply", "saved.json", "--progress", "plain"],
        &[],
    );
    assert_eq!(apply.code, 0, "{}", apply.stderr);

    // The source moves after the diff: refused, naming the jobs, exit 3.
    assert_eq!(
        plan(work.path(), &["diff", "--out", "saved.json"], &[]).code,
        0
    );
    let v2 = test_image(work.path(), "16K", "16K", 22);
    seed(&v2, "1", &r.image());
    let before = r.log().len();
    let stale = plan(
        work.path(),
        &["apply", "saved.json", "--progress", "plain"],
        &[],
    );
    assert_eq!(stale.code, 3, "{}", stale.stderr);
    assert!(
        stale.stderr.contains("sync.a:") && stale.stderr.contains("sync.b:"),
        "{}",
        stale.stderr
    );
    assert!(
        methods_since(&r, before)
            .iter()
            .all(|m| m == "GET" || m == "HEAD"),
        "a stale plan wrote something"
    );

    // The plan file changes after the diff: refused too.
    assert_eq!(
        plan(work.path(), &["diff", "--out", "saved.json"], &[]).code,
        0
    );
    let text = std::fs::read_to_string(work.path().join("plan.yaml")).unwrap();
    std::fs::write(
        work.path().join("plan.yaml"),
        text.replace("dst/other:1", "dst/other:2"),
    )
    .unwrap();
    let stale = plan(work.path(), &["apply", "saved.json"], &[]);
    assert_eq!(stale.code, 3);
    assert!(
        stale.stderr.contains("plan.yaml changed"),
        "{}",
        stale.stderr
    );
}
