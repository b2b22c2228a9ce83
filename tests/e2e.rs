//! `plan apply` against the real things: two Docker engines (one reached
//! over ssh through a real sshd), buildx, and a registry, all on 127.0.0.1,
//! started by `scripts/services` (which `scripts/test` runs). `skopeo` is
//! the independent judge of what landed. A missing service fails the test.

use std::path::Path;
use std::process::{Command, Stdio};

#[path = "support/engines.rs"]
mod engines;
use engines::{Services, assert_multi_arch, services, skopeo_raw};
use std::time::{Duration, Instant};

/// A context built the way users' are: `FROM` an image with a shell (the
/// test registry's busybox), a file per platform, and a `RUN` step (under
/// qemu for arm64) that records what it saw. The engines have no network
/// bridge, so builds say `network: none`.
fn workspace(s: &Services, plan: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for arch in ["amd64", "arm64"] {
        std::fs::create_dir_all(dir.path().join("ctx").join(arch)).unwrap();
        std::fs::write(
            dir.path().join("ctx").join(arch).join("hello.txt"),
            format!("hello {} from {arch}\n", std::process::id()),
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("ctx/Dockerfile"),
        format!(
            "FROM {}\nARG TARGETARCH\nCOPY ${{TARGETARCH}}/hello.txt /\nRUN cat /hello.txt > /seen && uname -m >> /seen\n",
            s.base_image
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("plan.yaml"), plan).unwrap();
    dir
}

fn engines_plan(s: &Services) -> String {
    format!(
        "version: 1\nbuilders:\n  amd:\n    driver: docker\n    endpoint: {}\n    platforms: [linux/amd64]\n  arm:\n    driver: docker\n    endpoint: {}\n    platforms: [linux/arm64]\n",
        s.engine_a, s.engine_b
    )
}

#[test]
fn a_build_split_over_two_engines_is_one_multi_arch_tag() {
    let s = services();
    let repo = format!("{}/e2e-split-{}", s.registry, std::process::id());
    let plan = format!(
        "{}builds:\n  hello:\n    context: ctx\n    network: none\n    builder:\n      linux/amd64: amd\n      linux/arm64: arm\n    tags: [\"{repo}:1\", \"{repo}:latest\"]\n",
        engines_plan(&s)
    );
    let dir = workspace(&s, &plan);
    let (code, out) = s.apply(dir.path(), &["--summary-file", "summary.json"]);
    assert_eq!(code, 0, "{out}");
    assert_multi_arch(&format!("{repo}:1"), &["linux/amd64", "linux/arm64"]);
    assert_eq!(
        skopeo_raw(&format!("{repo}:1")),
        skopeo_raw(&format!("{repo}:latest"))
    );
    // The RUN step ran on each platform's own architecture (arm64 under
    // emulation), on the file of that platform.
    let seen = s.read_file(&format!("{repo}:1"), "linux/arm64", "/seen");
    assert!(
        seen.contains("from arm64") && seen.contains("aarch64"),
        "{seen}"
    );
    let seen = s.read_file(&format!("{repo}:1"), "linux/amd64", "/seen");
    assert!(
        seen.contains("from amd64") && seen.contains("x86_64"),
        "{seen}"
    );
    // The arm64 half really went through ssh to engine B.
    assert!(
        out.contains("--host ssh://root@127.0.0.1 buildx build"),
        "{out}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["result"], "succeeded");
}

#[test]
fn syncs_and_combines_via_builder_and_via_imagetools() {
    let s = services();
    let repo = format!("{}/e2e-copy-{}", s.registry, std::process::id());
    let plan = format!(
        "{engines}builds:
  app-amd64:
    context: ctx
    network: none
    builder: amd
    platforms: [linux/amd64]
    tags: [\"{repo}/app:1-amd64\"]
  app-arm64:
    context: ctx
    network: none
    builder: arm
    platforms: [linux/arm64]
    tags: [\"{repo}/app:1-arm64\"]
combines:
  imagetools:
    via: imagetools
    to: \"{repo}/combined-imagetools:1\"
    from:
      linux/amd64: \"{repo}/app:1-amd64\"
      linux/arm64: \"{repo}/app:1-arm64\"
  builder:
    via: builder
    builder: arm
    to: \"{repo}/combined-builder:1\"
    from:
      linux/amd64: \"{repo}/app:1-amd64\"
      linux/arm64: \"{repo}/app:1-arm64\"
syncs:
  imagetools:
    via: imagetools
    from: \"{repo}/combined-imagetools:1\"
    to: \"{repo}/synced-imagetools:1\"
  builder:
    via: builder
    builder: amd
    from: \"{repo}/combined-builder:1\"
    to: \"{repo}/synced-builder:1\"
  arm-only:
    via: imagetools
    from: \"{repo}/combined-imagetools:1\"
    to: \"{repo}/synced-arm:1\"
    platforms: [linux/arm64]
",
        engines = engines_plan(&s)
    );
    let dir = workspace(&s, &plan);
    let (code, out) = s.apply(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    for name in [
        "combined-imagetools",
        "combined-builder",
        "synced-imagetools",
        "synced-builder",
    ] {
        assert_multi_arch(&format!("{repo}/{name}:1"), &["linux/amd64", "linux/arm64"]);
    }
    assert_multi_arch(&format!("{repo}/synced-arm:1"), &["linux/arm64"]);
    // The imagetools sync copied the index byte for byte.
    assert_eq!(
        skopeo_raw(&format!("{repo}/combined-imagetools:1")),
        skopeo_raw(&format!("{repo}/synced-imagetools:1"))
    );

    // Every job knows it is done: a second diff has nothing to do.
    let changed = |dir: &Path| -> (i32, Vec<String>, String) {
        let out = s
            .plan(dir, &["diff", "--json", "--detailed-exitcode"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let document: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{text}{}", String::from_utf8_lossy(&out.stderr)));
        let mut moved: Vec<String> = document["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["action"] != "unchanged")
            .map(|c| c["address"].as_str().unwrap().to_owned())
            .collect();
        moved.sort();
        (out.status.code().unwrap_or(-1), moved, text)
    };
    let (code, moved, text) = changed(dir.path());
    assert_eq!((code, moved.is_empty()), (0, true), "{text}");

    // An upstream change shows exactly the jobs that read it: the builder
    // combine's tag now holds what the imagetools combine made (the same
    // sources, another job), so it and the sync that reads it move.
    let copied = Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .arg(format!("docker://{repo}/combined-imagetools:1"))
        .arg(format!("docker://{repo}/combined-builder:1"))
        .output()
        .unwrap();
    assert!(copied.status.success(), "{copied:?}");
    let (code, moved, text) = changed(dir.path());
    assert_eq!(code, 2, "{text}");
    assert_eq!(moved, ["combine.builder", "sync.builder"], "{text}");
    let (code, out) = s.apply(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    let (code, moved, text) = changed(dir.path());
    assert_eq!((code, moved.is_empty()), (0, true), "{text}");
}

#[test]
fn a_two_node_container_builder_gets_the_mirrors_on_every_node() {
    let s = services();
    let name = format!("e2e-mirrors-{}", std::process::id());
    let plan = format!(
        "version: 1
mirrors:
  docker.io: [wlzfs4t4.mirror.aliyuncs.com]
  ghcr.io: [{{host: \"127.0.0.1:5999\", insecure: true}}]
builders:
  {name}:
    driver: docker-container
    nodes:
      - name: hk-amd64
        endpoint: {}
        platforms: [linux/amd64]
      - name: hk-arm64
        endpoint: {}
        platforms: [linux/arm64]
",
        s.engine_a, s.engine_b
    );
    let dir = workspace(&s, &plan);
    let (code, out) = s.apply(dir.path(), &[]);
    // Booting needs the moby/buildkit image, which cannot be pulled here.
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("builder `{name}` failed to boot on")),
        "the error names the builder: {out}"
    );
    assert!(
        out.contains("`hk-amd64`") || out.contains("`hk-arm64`"),
        "the error names the node: {out}"
    );
    assert!(
        out.contains("registry-1.docker.io") || out.contains("moby/buildkit"),
        "the error says why: {out}"
    );

    let listed = s.docker(&["buildx", "ls", "--format", "json"]);
    let builder: serde_json::Value = listed
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|b| b["Name"] == name.as_str())
        .unwrap_or_else(|| panic!("builder {name} not in `buildx ls`: {listed}"));
    let nodes = builder["Nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    for (node, platform, endpoint) in [
        ("hk-amd64", "linux/amd64", &s.engine_a),
        ("hk-arm64", "linux/arm64", &s.engine_b),
    ] {
        let entry = nodes
            .iter()
            .find(|n| n["Name"] == node)
            .unwrap_or_else(|| panic!("no node {node}"));
        assert_eq!(entry["Platforms"][0], platform);
        assert_eq!(entry["Endpoint"], endpoint.as_str());
        use base64::Engine as _;
        let encoded = entry["Files"]["buildkitd.toml"]
            .as_str()
            .unwrap_or_else(|| panic!("{node} has no buildkitd.toml: {entry}"));
        let toml = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap(),
        )
        .unwrap();
        assert!(
            toml.contains("[registry.\"docker.io\"]")
                && toml.contains("wlzfs4t4.mirror.aliyuncs.com"),
            "{node}: {toml}"
        );
        assert!(
            toml.contains("[registry.\"127.0.0.1:5999\"]") && toml.contains("http = true"),
            "{node}: {toml}"
        );
    }
    s.docker(&["buildx", "rm", &name]);
}

fn processes_with(marker: &str) -> usize {
    let out = Command::new("pgrep").args(["-f", marker]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn an_interrupted_run_leaves_nothing_behind_and_a_rerun_finishes() {
    let s = services();
    let marker = format!("e2e-interrupt-{}", std::process::id());
    let repo = format!("{}/{marker}", s.registry);
    let plan = format!(
        "version: 1\nbuilders:\n  amd:\n    driver: docker\n    endpoint: {}\n    platforms: [linux/amd64]\nbuilds:\n  big:\n    context: ctx\n    network: none\n    builder: amd\n    platforms: [linux/amd64]\n    tags: [\"{repo}:1\"]\n",
        s.engine_a
    );
    let dir = workspace(&s, &plan);
    // A large layer keeps the build busy long enough to interrupt it.
    let status = Command::new("dd")
        .args([
            "if=/dev/urandom",
            &format!("of={}", dir.path().join("ctx/big.bin").display()),
            "bs=1M",
            "count=200",
            "status=none",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(
        dir.path().join("ctx/Dockerfile"),
        "FROM scratch\nCOPY big.bin /\n",
    )
    .unwrap();
    let child = s
        .plan(
            dir.path(),
            &[
                "apply",
                "--progress",
                "plain",
                "--grace",
                "5s",
                "--summary-file",
                "summary.json",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while processes_with(&marker) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(processes_with(&marker) > 0, "the build never started");
    std::thread::sleep(Duration::from_millis(300));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{text}");
    assert!(
        text.contains("Apply interrupted"),
        "the summary is printed: {text}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        processes_with(&marker),
        0,
        "a docker process was left behind"
    );
    // No tag points at a half-pushed image.
    let tag = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{repo}:1"),
        ])
        .output()
        .unwrap();
    assert!(
        !tag.status.success(),
        "the final tag must not exist after an interrupted build"
    );

    let (code, out) = s.apply(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert_multi_arch(&format!("{repo}:1"), &["linux/amd64"]);
}
