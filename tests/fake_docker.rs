//! `plan apply` against a fake `docker` on the PATH, for what real engines
//! cannot show on cue: ordering, caps, every continue mode, retries, a node
//! that hangs, an interrupt, and the argument vectors themselves.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Fake {
    dir: tempfile::TempDir,
    /// What `docker info` says (see the fake's FAKE_DOCKER_ENGINE).
    engine: Option<&'static str>,
}

#[derive(Debug, serde::Deserialize)]
struct Call {
    argv: Vec<String>,
    start: f64,
    end: f64,
}

impl Fake {
    fn new(plan: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake-docker");
        std::os::unix::fs::symlink(fake, bin.join("docker")).unwrap();
        std::fs::create_dir(dir.path().join("ctx")).unwrap();
        std::fs::write(
            dir.path().join("ctx/Dockerfile"),
            "FROM scratch\nCOPY hello.txt /\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("plan.yaml"), plan).unwrap();
        Self { dir, engine: None }
    }

    /// Engines that can do what the build asks: cache export, attestations
    /// and named contexts need Docker 23+ with the containerd image store.
    fn on_containerd_store(mut self) -> Self {
        self.engine = Some("26.1.5 containerd");
        self
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn rules(&self, rules: serde_json::Value) {
        std::fs::write(self.path("rules.json"), rules.to_string()).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command_for("apply");
        if !args.contains(&"--progress") {
            cmd.args(["--progress", "plain"]);
        }
        cmd.args(args);
        cmd
    }

    /// `plan SUBCOMMAND` with the fake first on the PATH.
    fn command_for(&self, subcommand: &str) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("plan"));
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap()
        );
        cmd.current_dir(self.dir.path())
            .arg(subcommand)
            .env("PATH", path)
            .env("FAKE_DOCKER_LOG", self.path("calls.jsonl"))
            .env("FAKE_DOCKER_RULES", self.path("rules.json"))
            .env("FAKE_DOCKER_ENGINE", self.engine.unwrap_or("20.10.24"))
            .env_remove("GITHUB_ACTIONS")
            .env("NO_COLOR", "1");
        if !self.path("rules.json").exists() {
            std::fs::write(self.path("rules.json"), "[]").unwrap();
        }
        cmd
    }

    fn apply(&self, args: &[&str]) -> (i32, String) {
        let out: Output = self.command(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    fn calls(&self) -> Vec<Call> {
        std::fs::read_to_string(self.path("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Calls whose command line contains `needle`.
    fn calls_with(&self, needle: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.argv.join(" ").contains(needle))
            .collect()
    }
}

/// Most calls matching `needle` that ran at the same time.
fn max_overlap(calls: &[Call]) -> usize {
    calls
        .iter()
        .map(|a| {
            calls
                .iter()
                .filter(|b| b.start < a.end && a.start < b.end)
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn syncs(n: usize, extra: &str) -> String {
    let mut plan = String::from("version: 1\nsyncs:\n");
    for i in 0..n {
        plan.push_str(&format!("  s{i}:\n    via: imagetools\n    from: r.test/src:{i}\n    to: r.test/dst:{i}\n{extra}"));
    }
    plan
}

#[test]
fn parallelism_caps_running_jobs() {
    let fake = Fake::new(&syncs(6, ""));
    fake.rules(serde_json::json!([{ "match": "imagetools create", "sleep": 0.4 }]));
    let (code, out) = fake.apply(&["-j", "2"]);
    assert_eq!(code, 0, "{out}");
    let creates = fake.calls_with("imagetools create");
    assert_eq!(creates.len(), 6);
    assert_eq!(max_overlap(&creates), 2, "-j 2 runs two at once, no more");
    assert!(out.contains("Apply complete: 6 succeeded"), "{out}");
}

#[test]
fn node_max_parallel_caps_builds_on_that_node() {
    let mut plan = String::from(
        "version: 1\nbuilders:\n  b:\n    nodes:\n      - name: n1\n        endpoint: ssh://root@h1\n        platforms: [linux/amd64]\n        max_parallel: 1\nbuilds:\n",
    );
    for i in 0..3 {
        plan.push_str(&format!("  app{i}:\n    context: ctx\n    builder: b\n    platforms: [linux/amd64]\n    tags: [r.test/app{i}:1]\n"));
    }
    let fake = Fake::new(&plan);
    fake.rules(serde_json::json!([{ "match": "buildx build", "sleep": 0.3 }]));
    let (code, out) = fake.apply(&[]);
    assert_eq!(code, 0, "{out}");
    let builds = fake.calls_with("buildx build");
    assert_eq!(builds.len(), 3);
    assert_eq!(max_overlap(&builds), 1, "max_parallel: 1 on the node");
    // Each build waited for the builder to be created first.
    let created = fake.calls_with("--bootstrap")[0].end;
    assert!(builds.iter().all(|b| b.start >= created));
}

#[test]
fn a_job_reading_anothers_output_runs_after_it() {
    let plan = "version: 1\nsyncs:\n  b:\n    via: imagetools\n    from: r.test/a:1\n    to: r.test/b:1\n  a:\n    via: imagetools\n    from: r.test/src:1\n    to: r.test/a:1\n";
    let fake = Fake::new(plan);
    fake.rules(serde_json::json!([{ "match": "imagetools create", "sleep": 0.2 }]));
    let (code, out) = fake.apply(&[]);
    assert_eq!(code, 0, "{out}");
    let a = &fake.calls_with("--tag r.test/a:1")[0];
    let b = &fake.calls_with("--tag r.test/b:1")[0];
    assert!(b.start >= a.end, "sync.b started before sync.a finished");
}

fn failing_plan() -> Fake {
    // a fails; b reads a's output; c only `needs` a; d is independent.
    let plan = "version: 1\nsyncs:\n  a:\n    via: imagetools\n    from: r.test/src:1\n    to: r.test/a:1\n  b:\n    via: imagetools\n    from: r.test/a:1\n    to: r.test/b:1\n  c:\n    via: imagetools\n    from: r.test/src:2\n    to: r.test/c:1\n    needs: [sync.a]\n  d:\n    via: imagetools\n    from: r.test/src:3\n    to: r.test/d:1\n";
    let fake = Fake::new(plan);
    fake.rules(serde_json::json!([
        { "match": "--tag r.test/a:1", "exit": 1, "stderr": "ERROR: failed to push: unauthorized" },
        { "match": "--tag r.test/d:1", "sleep": 0.3 }
    ]));
    fake
}

fn state_of(summary: &serde_json::Value, address: &str) -> String {
    summary["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["address"] == address)
        .unwrap()["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn continue_never_starts_nothing_after_a_failure() {
    let fake = failing_plan();
    let (code, out) = fake.apply(&["-j", "1", "--summary-file", "summary.json"]);
    assert_eq!(code, 1, "{out}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fake.path("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["result"], "failed");
    assert_eq!(state_of(&summary, "sync.a"), "failed");
    assert_eq!(state_of(&summary, "sync.b"), "skipped");
    assert_eq!(state_of(&summary, "sync.c"), "skipped");
    assert_eq!(state_of(&summary, "sync.d"), "not-started");
    assert!(out.contains("unauthorized"), "the failure says why: {out}");
    // Failures are listed last in the summary.
    let table = out.split("Summary:").nth(1).unwrap();
    assert!(
        table.find("sync.a").unwrap() > table.find("sync.d").unwrap(),
        "{table}"
    );
}

#[test]
fn continue_dependencies_successful_skips_only_dependents() {
    let fake = failing_plan();
    let (code, _) = fake.apply(&[
        "-j",
        "1",
        "--continue",
        "dependencies-successful",
        "--summary-file",
        "s.json",
    ]);
    assert_eq!(code, 1);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fake.path("s.json")).unwrap()).unwrap();
    assert_eq!(state_of(&summary, "sync.b"), "skipped");
    assert_eq!(state_of(&summary, "sync.c"), "skipped");
    assert_eq!(state_of(&summary, "sync.d"), "succeeded");
}

#[test]
fn continue_always_runs_what_is_only_ordered_after_a_failure() {
    let fake = failing_plan();
    let (code, _) = fake.apply(&[
        "-j",
        "1",
        "--continue",
        "always",
        "--summary-file",
        "s.json",
    ]);
    assert_eq!(code, 1);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fake.path("s.json")).unwrap()).unwrap();
    assert_eq!(
        state_of(&summary, "sync.b"),
        "skipped",
        "b consumes a's image"
    );
    assert_eq!(
        state_of(&summary, "sync.c"),
        "succeeded",
        "c was only ordered after a"
    );
    assert_eq!(state_of(&summary, "sync.d"), "succeeded");
}

#[test]
fn transient_failures_are_retried() {
    let fake = Fake::new(&syncs(1, ""));
    fake.rules(serde_json::json!([
        { "match": "imagetools create", "times": 2, "exit": 1, "stderr": "ERROR: failed to push: 503 Service Unavailable" }
    ]));
    let (code, out) = fake.apply(&["--summary-file", "s.json"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(fake.calls_with("imagetools create").len(), 3);
    assert!(out.contains("retrying in"), "{out}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fake.path("s.json")).unwrap()).unwrap();
    assert_eq!(summary["jobs"][0]["attempts"], 3);
}

#[test]
fn a_permanent_failure_is_not_retried() {
    let fake = Fake::new(&syncs(1, ""));
    fake.rules(serde_json::json!([{ "match": "imagetools create", "exit": 1, "stderr": "ERROR: unauthorized: authentication required" }]));
    let (code, _) = fake.apply(&[]);
    assert_eq!(code, 1);
    assert_eq!(fake.calls_with("imagetools create").len(), 1);
}

fn fake_processes_with(marker: &str) -> usize {
    let out = Command::new("pgrep").args(["-f", marker]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn a_node_that_hangs_times_out_and_leaves_no_process() {
    let marker = format!("hang-{}", std::process::id());
    let plan = format!(
        "version: 1\nsyncs:\n  s:\n    via: imagetools\n    from: r.test/src:1\n    to: r.test/{marker}:1\n"
    );
    let fake = Fake::new(&plan);
    fake.rules(serde_json::json!([{ "match": marker.clone(), "sleep": 300 }]));
    let started = Instant::now();
    let (code, out) = fake.apply(&["--timeout", "1s"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("timed out after 1s"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        fake_processes_with(&marker),
        0,
        "the hung docker process was left behind"
    );
}

#[test]
fn interrupt_stops_everything_and_a_rerun_finishes() {
    let marker = format!("intr-{}", std::process::id());
    let mut plan = String::from("version: 1\nsyncs:\n");
    for i in 0..6 {
        plan.push_str(&format!(
            "  s{i}:\n    via: imagetools\n    from: r.test/src:{i}\n    to: r.test/{marker}:{i}\n"
        ));
    }
    let fake = Fake::new(&plan);
    fake.rules(serde_json::json!([{ "match": marker.clone(), "sleep": 30 }]));
    let child = fake
        .command(&["-j", "2", "--grace", "2s", "--summary-file", "s.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until two jobs are running, then Ctrl-C.
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake_processes_with(&marker) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(fake_processes_with(&marker), 2);
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{text}");
    assert!(text.contains("Apply interrupted"), "{text}");
    assert!(
        text.contains("cancelled") && text.contains("not started"),
        "{text}"
    );
    assert_eq!(
        fake_processes_with(&marker),
        0,
        "docker processes were left behind"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fake.path("s.json")).unwrap()).unwrap();
    assert_eq!(summary["result"], "interrupted");

    fake.rules(serde_json::json!([]));
    let (code, out) = fake.apply(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Apply complete: 6 succeeded"), "{out}");
}

#[test]
fn builder_nodes_are_created_then_appended_with_their_config() {
    let plan = "version: 1\nmirrors:\n  docker.io: [mirror.example.com]\nbuilders:\n  remotebuilder:\n    driver_opts: { image: moby/buildkit:v0.13.2 }\n    nodes:\n      - name: hk-amd64\n        endpoint: ssh://root@192.168.100.102\n        platforms: [linux/amd64]\n      - name: hk-arm64\n        endpoint: ssh://root@192.168.100.101\n        platforms: [linux/arm64]\n";
    let fake = Fake::new(plan);
    let (code, out) = fake.apply(&[]);
    assert_eq!(code, 0, "{out}");
    let creates = fake.calls_with("buildx create");
    assert_eq!(creates.len(), 2);
    let first = &creates[0].argv;
    assert_eq!(
        &first[..8],
        [
            "buildx",
            "create",
            "--name",
            "remotebuilder",
            "--driver",
            "docker-container",
            "--node",
            "hk-amd64"
        ]
    );
    assert!(first.windows(2).any(|w| w == ["--platform", "linux/amd64"]));
    assert!(
        first
            .windows(2)
            .any(|w| w[0] == "--buildkitd-config" && w[1].ends_with("hk-amd64.buildkitd.toml"))
    );
    assert!(
        first
            .windows(2)
            .any(|w| w == ["--driver-opt", "image=moby/buildkit:v0.13.2"])
    );
    // The endpoint is a positional argument after `--`: never an option.
    assert_eq!(
        &first[first.len() - 2..],
        ["--", "ssh://root@192.168.100.102"]
    );
    assert_eq!(&creates[1].argv[..3], ["buildx", "create", "--append"]);
    assert_eq!(
        creates[1].argv.last().unwrap(),
        "ssh://root@192.168.100.101"
    );
    assert_eq!(
        fake.calls_with("inspect --bootstrap -- remotebuilder")
            .len(),
        1
    );
}

#[test]
fn split_build_pushes_per_platform_then_moves_tags_once() {
    let plan = "version: 1\nbuilders:\n  amd:\n    driver: docker\n    endpoint: unix:///run/amd.sock\n    platforms: [linux/amd64]\n  arm:\n    driver: docker\n    endpoint: ssh://root@arm\n    platforms: [linux/arm64]\nbuilds:\n  app:\n    context: ctx\n    builder: { linux/amd64: amd, linux/arm64: arm }\n    tags: [r.test/app:1, r.test/app:latest]\n";
    let fake = Fake::new(plan);
    let (code, out) = fake.apply(&[]);
    assert_eq!(code, 0, "{out}");
    let builds = fake.calls_with("buildx build");
    assert_eq!(builds.len(), 2);
    for build in &builds {
        let argv = build.argv.join(" ");
        assert!(
            argv.contains("--tag r.test/app:buildplan-app-linux-"),
            "staging tag, not the final one: {argv}"
        );
        assert!(!argv.contains("r.test/app:1"), "{argv}");
    }
    assert!(
        builds
            .iter()
            .any(|b| b.argv[..2] == ["--host", "unix:///run/amd.sock"])
    );
    assert!(
        builds
            .iter()
            .any(|b| b.argv[..2] == ["--host", "ssh://root@arm"])
    );
    let create = &fake.calls_with("imagetools create")[0];
    assert!(
        create.start >= builds.iter().map(|b| b.end).fold(0.0, f64::max),
        "tags move after every platform is pushed"
    );
    let argv = create.argv.join(" ");
    assert!(
        argv.contains("--tag r.test/app:1 --tag r.test/app:latest"),
        "{argv}"
    );
    assert_eq!(argv.matches("docker.io/library/").count(), 0);
    assert_eq!(argv.matches("r.test/app@sha256:").count(), 2, "{argv}");
}

#[test]
fn a_failed_platform_moves_no_tag() {
    let plan = "version: 1\nbuilders:\n  amd:\n    driver: docker\n    endpoint: unix:///run/amd.sock\n  arm:\n    driver: docker\n    endpoint: ssh://root@arm\nbuilds:\n  app:\n    context: ctx\n    builder: { linux/amd64: amd, linux/arm64: arm }\n    tags: [r.test/app:1]\n";
    let fake = Fake::new(plan);
    fake.rules(serde_json::json!([{ "match": "--platform linux/arm64", "exit": 1, "stderr": "ERROR: failed to solve: no space left" }]));
    let (code, out) = fake.apply(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        fake.calls_with("imagetools create").is_empty(),
        "no tag may move"
    );
    assert!(out.contains("no space left"), "{out}");
}

#[test]
fn publish_at_end_refuses_a_build_that_reads_this_runs_output_before_anything_runs() {
    let plan = "version: 1\nbuilders:\n  amd:\n    driver: docker\n    endpoint: unix:///run/amd.sock\n    platforms: [linux/amd64]\nbuilds:\n  base:\n    context: ctx\n    builder: amd\n    tags: [r.test/base:1]\n  app:\n    context: app\n    builder: amd\n    tags: [r.test/app:1]\n";
    let fake = Fake::new(plan);
    std::fs::create_dir(fake.path("app")).unwrap();
    std::fs::write(fake.path("app/Dockerfile"), "FROM r.test/base:1\n").unwrap();
    let (code, out) = fake.apply(&["--publish", "at-end"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("--publish at-end cannot run build.app")
            && out.contains("use --publish immediate"),
        "{out}"
    );
    assert!(
        fake.calls_with("buildx build").is_empty(),
        "nothing may run: {out}"
    );
}

#[test]
fn missing_docker_or_buildx_is_said_before_anything_runs() {
    let fake = Fake::new(&syncs(1, ""));
    let out = Command::new(assert_cmd::cargo::cargo_bin("plan"))
        .current_dir(fake.dir.path())
        .args(["apply"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`docker` is not installed"));

    let out = fake
        .command(&[])
        .env("FAKE_BUILDX_VERSION", "missing")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("buildx plugin is not installed"));

    let out = fake
        .command(&[])
        .env("FAKE_BUILDX_VERSION", "github.com/docker/buildx v0.10.4 x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("buildx 0.10 is too old"));
    assert!(fake.calls_with("imagetools").is_empty());
}

#[test]
fn github_actions_groups_each_job_and_repeats_failures() {
    let fake = failing_plan();
    let out = fake
        .command(&["--continue", "dependencies-successful"])
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("::group::✓ sync.d succeeded"), "{text}");
    assert!(text.contains("::group::✗ sync.a failed"), "{text}");
    let repeat = text
        .find("::error title=sync.a::")
        .expect("failed job repeated");
    assert!(repeat > text.rfind("::endgroup::").unwrap());
}

#[test]
fn log_dir_keeps_each_jobs_output() {
    let fake = failing_plan();
    let (code, _) = fake.apply(&["--log-dir", "logs"]);
    assert_eq!(code, 1);
    let log = std::fs::read_to_string(fake.path("logs/sync.a.log")).unwrap();
    assert!(log.contains("$ docker buildx imagetools create"), "{log}");
    assert!(log.contains("unauthorized"), "{log}");
}

#[test]
fn native_copies_need_no_docker() {
    let fake = Fake::new("version: 1\n");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/demo/hello");
    let plan = format!(
        "version: 1\nsyncs:\n  s:\n    from: oci:{}:1\n    to: oci:out/hello:1\n",
        demo.display()
    );
    std::fs::write(fake.path("plan.yaml"), plan).unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("plan"))
        .current_dir(fake.dir.path())
        .args(["apply", "--progress", "plain"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fake.path("out/hello/index.json").is_file());
}

#[test]
fn target_runs_the_selection_and_what_it_needs() {
    let plan = "version: 1\nsyncs:\n  a:\n    via: imagetools\n    from: r.test/src:1\n    to: r.test/a:1\n  b:\n    via: imagetools\n    from: r.test/a:1\n    to: r.test/b:1\n  c:\n    via: imagetools\n    from: r.test/src:2\n    to: r.test/c:1\n";
    let fake = Fake::new(plan);
    let (code, out) = fake.apply(&["--target", "sync.b"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(partial: --target)"), "{out}");
    assert_eq!(fake.calls_with("imagetools create").len(), 2);
    assert!(fake.calls_with("r.test/c:1").is_empty());
    let (code, out) = fake.apply(&["--target", "sync.zzz*"]);
    assert_eq!(code, 1);
    assert!(out.contains("matches no job"), "{out}");
}

#[test]
fn a_terminal_gets_bars_and_a_line_per_finished_job() {
    let fake = Fake::new(&syncs(2, ""));
    fake.rules(serde_json::json!([{ "match": "imagetools create", "sleep": 0.3 }]));
    std::fs::write(
        fake.path("rules.json"),
        r#"[{"match": "imagetools create", "sleep": 0.3}]"#,
    )
    .unwrap();
    // `script` gives plan a pseudo-terminal, as an interactive shell would.
    let plan = assert_cmd::cargo::cargo_bin("plan");
    let out = Command::new("script")
        .args(["-qec", &format!("{} apply", plan.display()), "/dev/null"])
        .current_dir(fake.dir.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                fake.path("bin").display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .env("FAKE_DOCKER_LOG", fake.path("calls.jsonl"))
        .env("FAKE_DOCKER_RULES", fake.path("rules.json"))
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("jobs"), "the overall bar: {text}");
    assert!(text.contains("✓ sync.s0 succeeded"), "{text}");
    assert!(text.contains("copying"), "the running job's step: {text}");
    assert!(
        !text.contains("[sync.s0] $ docker"),
        "no plain log lines on a terminal: {text}"
    );
}

#[test]
fn json_progress_is_one_event_per_line() {
    let fake = Fake::new(&syncs(1, ""));
    let out = fake.command(&["--progress", "json"]).output().unwrap();
    assert!(out.status.success());
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .take_while(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["event"], "started");
    assert_eq!(events.first().unwrap()["address"], "sync.s0");
    let last = events.last().unwrap();
    assert_eq!(last["event"], "finished");
    assert_eq!(last["state"], "succeeded");
}

#[test]
fn sigterm_stops_the_run_like_ctrl_c() {
    let marker = format!("term-{}", std::process::id());
    let plan = format!(
        "version: 1\nsyncs:\n  s:\n    via: imagetools\n    from: r.test/src:1\n    to: r.test/{marker}:1\n"
    );
    let fake = Fake::new(&plan);
    fake.rules(serde_json::json!([{ "match": marker.clone(), "sleep": 30 }]));
    let child = fake
        .command(&["--grace", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake_processes_with(&marker) < 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(fake_processes_with(&marker), 0);
}

#[test]
fn publish_at_end_holds_buildx_tag_moves_until_every_job_succeeded() {
    let plan = "version: 1\nbuilders:\n  amd:\n    driver: docker\n    endpoint: unix:///run/amd.sock\nbuilds:\n  app:\n    context: ctx\n    builder: amd\n    platforms: [linux/amd64]\n    tags: [r.test/app:1]\nsyncs:\n  copy:\n    via: imagetools\n    from: r.test/app:1\n    to: r.test/copy:1\n  broken:\n    via: imagetools\n    from: r.test/src:1\n    to: r.test/broken:1\n";
    let fake = Fake::new(plan);
    fake.rules(serde_json::json!([{ "match": "--tag r.test/broken", "exit": 1, "stderr": "ERROR: failed" }]));
    let (code, out) = fake.apply(&["--publish", "at-end", "--continue", "always"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Nothing published"), "{out}");
    assert!(
        fake.calls_with("--tag r.test/app:1 ").is_empty()
            && fake.calls_with("--tag r.test/copy:1 ").is_empty(),
        "a final tag moved"
    );
    // The copy read the build's output at its staging tag, not at the unmoved tag.
    let copy = &fake.calls_with("r.test/copy:buildplan-copy-")[0];
    assert!(
        copy.argv.join(" ").contains("r.test/app:buildplan-app-"),
        "{:?}",
        copy.argv
    );

    fake.rules(serde_json::json!([]));
    let (code, out) = fake.apply(&["--publish", "at-end"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Published: every job succeeded, 3 tag moves done."),
        "{out}"
    );
    let finals: Vec<Call> = fake
        .calls()
        .into_iter()
        .filter(|c| {
            let line = c.argv.join(" ");
            line.contains("--tag r.test/app:1 ")
                || line.contains("--tag r.test/copy:1 ")
                || line.contains("--tag r.test/broken:1 ")
        })
        .collect();
    assert_eq!(finals.len(), 3, "one move per job at the end");
    let is_final = |c: &Call| {
        let line = c.argv.join(" ");
        line.contains("--tag r.test/app:1 ")
            || line.contains("--tag r.test/copy:1 ")
            || line.contains("--tag r.test/broken:1 ")
    };
    let last_work = fake
        .calls()
        .iter()
        .filter(|c| !is_final(c) && c.argv.join(" ").contains("buildplan-"))
        .map(|c| c.end)
        .fold(0.0, f64::max);
    assert!(
        finals.iter().all(|c| c.start >= last_work),
        "tags moved before every job was done"
    );
}

/// A build with secrets, ssh, a network and the cache switches, on a fake
/// `docker` (the real engines here have no image with a shell yet).
const RUN_SETTINGS_PLAN: &str = "version: 1\nbuilders:\n  amd:\n    driver: docker\n    endpoint: unix:///run/amd.sock\n    platforms: [linux/amd64]\nbuilds:\n  app:\n    context: ctx\n    builder: amd\n    tags: [r.test/app:1]\n    secrets:\n      - { id: npmrc, src: npmrc.txt }\n      - { id: token, env: PLAN_TEST_TOKEN }\n    ssh: [default, { id: deploy, paths: [deploy_key] }]\n    network: none\n    no_cache: true\n    pull: true\n    attest: { provenance: max, sbom: false }\n";

#[test]
fn secrets_ssh_and_switches_reach_buildx_by_reference_and_values_appear_nowhere() {
    let fake = Fake::new(RUN_SETTINGS_PLAN).on_containerd_store();
    std::fs::write(fake.path("npmrc.txt"), "FILE-SECRET-VALUE").unwrap();
    std::fs::write(fake.path("deploy_key"), "KEY-SECRET-VALUE").unwrap();
    let out = fake
        .command(&["--log-dir", "logs", "--summary-file", "summary.json"])
        .env("PLAN_TEST_TOKEN", "ENV-SECRET-VALUE")
        .env("SSH_AUTH_SOCK", "/tmp/agent.sock")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    let build = &fake.calls_with("buildx build")[0];
    let argv = build.argv.join(" ");
    // Paths as the plan's folder gives them (relative here: plan runs there).
    for expected in [
        "--secret id=npmrc,src=./npmrc.txt".to_owned(),
        "--secret id=token,env=PLAN_TEST_TOKEN".to_owned(),
        "--ssh default".to_owned(),
        "--ssh deploy=./deploy_key".to_owned(),
        "--network none".to_owned(),
        "--no-cache".to_owned(),
        "--pull".to_owned(),
        "--provenance mode=max".to_owned(),
        "--sbom false".to_owned(),
    ] {
        assert!(argv.contains(&expected), "{expected} missing: {argv}");
    }
    // plan never reads a secret: no value in its output, logs or summary.
    let mut everything = text.clone();
    for entry in std::fs::read_dir(fake.path("logs")).unwrap() {
        everything.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    everything.push_str(&std::fs::read_to_string(fake.path("summary.json")).unwrap());
    everything.push_str(&argv);
    for value in ["FILE-SECRET-VALUE", "ENV-SECRET-VALUE", "KEY-SECRET-VALUE"] {
        assert!(!everything.contains(value), "{value} leaked");
    }
}

#[test]
fn a_missing_secret_stops_diff_and_apply_before_anything_runs() {
    let fake = Fake::new(RUN_SETTINGS_PLAN);
    // No npmrc.txt, no deploy_key, no PLAN_TEST_TOKEN, no agent.
    for command in ["apply", "diff"] {
        let mut cmd = fake.command(&[]);
        if command == "diff" {
            cmd = Command::new(assert_cmd::cargo::cargo_bin("plan"));
            cmd.current_dir(fake.path("")).arg("diff");
        }
        let out = cmd
            .env_remove("PLAN_TEST_TOKEN")
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        for words in [
            "secret `npmrc` of build `app`: its file",
            "secret `token` of build `app`: the environment variable `PLAN_TEST_TOKEN` is not set",
            "ssh `default` of build `app`: no ssh agent",
            "ssh `deploy` of build `app`:",
            "plan.yaml:13:",
        ] {
            assert!(
                stderr.contains(words),
                "{command}: `{words}` missing: {stderr}"
            );
        }
    }
    assert!(
        fake.calls().is_empty(),
        "docker ran: {:?}",
        fake.calls().len()
    );
}

#[test]
fn a_split_build_gives_each_platform_its_own_cache_and_reads_its_siblings() {
    for (kind, own, sibling) in [
        (
            "registry",
            "--cache-to type=registry,ref=r.test/app:buildcache-app-linux-amd64,mode=max",
            "--cache-from type=registry,ref=r.test/app:buildcache-app-linux-arm64",
        ),
        (
            "gha",
            "--cache-to type=gha,scope=app-linux-amd64,mode=max",
            "--cache-from type=gha,scope=app-linux-arm64",
        ),
    ] {
        let plan = format!(
            "version: 1\nbuilders:\n  amd:\n    driver: docker\n    endpoint: unix:///run/amd.sock\n    platforms: [linux/amd64]\n  arm:\n    driver: docker\n    endpoint: ssh://root@arm\n    platforms: [linux/arm64]\nbuilds:\n  app:\n    context: ctx\n    builder: {{ linux/amd64: amd, linux/arm64: arm }}\n    tags: [r.test/app:1]\n    cache: {kind}\n    annotations: {{ org.opencontainers.image.description: \"The app\" }}\n    extra_hosts: {{ mirror.internal: 10.0.0.5 }}\n    shm_size: 2g\n    ulimits: {{ nofile: \"1024:2048\" }}\n"
        );
        let fake = Fake::new(&plan).on_containerd_store();
        let (code, out) = fake.apply(&[]);
        assert_eq!(code, 0, "{out}");
        let builds = fake.calls_with("buildx build");
        assert_eq!(builds.len(), 2);
        let amd = builds
            .iter()
            .map(|b| b.argv.join(" "))
            .find(|argv| argv.contains("--platform linux/amd64"))
            .unwrap();
        for expected in [
            own,
            sibling,
            "--annotation org.opencontainers.image.description=The app",
            "--add-host mirror.internal:10.0.0.5",
            "--shm-size 2g",
            "--ulimit nofile=1024:2048",
        ] {
            assert!(amd.contains(expected), "{kind}: {expected} missing: {amd}");
        }
        // The arm64 build writes its own, never the amd64 one's.
        let arm = builds
            .iter()
            .map(|b| b.argv.join(" "))
            .find(|argv| argv.contains("--platform linux/arm64"))
            .unwrap();
        assert!(!arm.contains(own), "{kind}: {arm}");
    }
}

#[test]
fn a_job_named_as_a_context_runs_first_and_is_passed_as_its_result() {
    let plan = "version: 1\nbuilders:\n  amd:\n    driver: docker\n    endpoint: unix:///run/amd.sock\n    platforms: [linux/amd64]\nbuilds:\n  app:\n    context: ctx\n    builder: amd\n    tags: [r.test/app:1]\n    contexts: { base: build.base, tools: \"docker-image://r.test/tools:2\", assets: ctx }\n  base:\n    context: ctx\n    builder: amd\n    tags: [r.test/base:1]\n";
    let fake = Fake::new(plan).on_containerd_store();
    // At the end, so the base's result is known without a registry (the
    // fake pushes nothing): the content its held tag will point at. (With
    // tags moved as jobs finish, it is `REPO@DIGEST`, read from the registry.)
    let (code, out) = fake.apply(&["--publish", "at-end"]);
    assert_eq!(code, 0, "{out}");
    let builds = fake.calls_with("buildx build");
    assert_eq!(builds.len(), 2, "{out}");
    let base = builds
        .iter()
        .find(|b| !b.argv.join(" ").contains("--build-context"))
        .unwrap();
    let app = builds
        .iter()
        .find(|b| b.argv.join(" ").contains("--build-context"))
        .unwrap();
    assert!(app.start >= base.end, "the base is built first");
    let argv = app.argv.join(" ");
    assert!(
        argv.contains("--build-context base=docker-image://r.test/base:buildplan-base-"),
        "{argv}"
    );
    assert!(
        argv.contains("--build-context tools=docker-image://r.test/tools:2"),
        "{argv}"
    );
    assert!(argv.contains("--build-context assets=./ctx"), "{argv}");
}

/// A build asking a `docker` builder for what its engine cannot do: the
/// engine is read first (`docker info`), and `diff` and `apply` both stop
/// with a diagnostic at the field before any build.
const DRIVER_LIMITS_PLAN: &str = "version: 1
builders:
  old:
    driver: docker
    endpoint: ssh://root@old-engine
    platforms: [linux/amd64, linux/arm64]
builds:
  base:
    context: ctx
    builder: old
    tags: [r.test/base:1]
  app:
    context: ctx
    builder: old
    platforms: [linux/amd64, linux/arm64]
    strategy: multi
    tags: [r.test/app:1]
    cache: registry
    cache_to: [\"type=local,dest=/tmp/cache\"]
    attest: { provenance: max }
    contexts: { base: build.base }
";

#[test]
fn what_an_engine_cannot_do_is_said_before_anything_runs() {
    let fake = Fake::new(DRIVER_LIMITS_PLAN);
    for command in ["diff", "apply"] {
        let out = fake.command_for(command).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        if command == "apply" {
            insta::assert_snapshot!("driver-limits", stderr);
        }
        assert!(
            fake.calls_with("buildx build").is_empty(),
            "{command} built"
        );
    }
    // On an engine with the containerd image store, the same plan is not
    // refused (it goes on to build).
    let fake = Fake::new(DRIVER_LIMITS_PLAN).on_containerd_store();
    let (_, out) = fake.apply(&[]);
    assert!(!out.contains("plan::driver-limit"), "{out}");
    assert!(!fake.calls_with("buildx build").is_empty(), "{out}");
}

/// Every secret and ssh source a build names must be on the machine before
/// anything is read or run: one diagnostic each, at the secret.
#[test]
fn missing_secrets_are_said_at_the_secret_before_anything_runs() {
    let fake = Fake::new(
        "version: 1
builds:
  app:
    context: ctx
    tags: [r.test/app:1]
    secrets:
      - { id: from_file, src: nowhere/token.txt }
      - { id: from_env, env: BUILDPLAN_TEST_NEVER_SET }
    ssh:
      - default
      - { id: deploy, paths: [nowhere/deploy_key] }
",
    );
    for command in ["diff", "apply"] {
        let out = fake
            .command_for(command)
            .env_remove("BUILDPLAN_TEST_NEVER_SET")
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr)
            .replace(&fake.dir.path().display().to_string(), "DIR");
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        if command == "apply" {
            insta::assert_snapshot!("missing-secrets", stderr);
        }
        assert!(fake.calls().is_empty(), "{command} ran docker");
    }
}

/// `BUILDKIT_PROGRESS` (buildx's own variable) picks the progress output
/// when `--progress` is not given; `--progress` wins over it.
#[test]
fn buildkit_progress_picks_the_default_progress() {
    let fake = Fake::new(&syncs(1, ""));
    let out = fake
        .command_for("apply")
        .env("BUILDKIT_PROGRESS", "rawjson")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first: serde_json::Value = serde_json::from_str(stderr.lines().next().unwrap()).unwrap();
    assert_eq!(first["event"], "started", "{stderr}");
    let out = fake
        .command(&["--progress", "plain"])
        .env("BUILDKIT_PROGRESS", "rawjson")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[sync.s0] started"), "{stderr}");
}
