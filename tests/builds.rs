//! What real builds use, on the real engines `scripts/services` starts:
//! secrets and ssh reaching `RUN` steps (and their values nowhere else),
//! attestations in the pushed index, registry cache written on one engine
//! and read on another over ssh, named contexts from another build pinned by
//! digest, arm64 `RUN` steps under emulation. skopeo and `docker run` on the
//! images are the judges. A missing service fails the test.

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

#[path = "support/engines.rs"]
mod engines;
use engines::{Services, exists, run, services, skopeo_config, skopeo_raw};

/// A folder with `plan.yaml` and a context `ctx/` holding `Dockerfile`.
fn workspace(plan: &str, dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ctx")).unwrap();
    std::fs::write(dir.path().join("ctx/Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.path().join("plan.yaml"), plan).unwrap();
    dir
}

/// Builders on each engine: `c` (Docker 26, containerd store) for both
/// platforms, `a` (20.10) and `b` (20.10 over ssh) for linux/amd64.
fn builders(s: &Services) -> String {
    format!(
        "version: 1
builders:
  c:
    driver: docker
    endpoint: {}
    platforms: [linux/amd64, linux/arm64]
  a:
    driver: docker
    endpoint: {}
    platforms: [linux/amd64]
  b:
    driver: docker
    endpoint: {}
    platforms: [linux/amd64]
",
        s.engine_c, s.engine_a, s.engine_b
    )
}

fn unique(s: &Services, what: &str) -> String {
    format!("{}/builds-{what}-{}", s.registry, std::process::id())
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Every file under `dir`, read as text (for "appears nowhere" checks).
fn all_text_under(dir: &Path) -> String {
    let mut text = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return text;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            text.push_str(&all_text_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

#[test]
fn secrets_reach_run_steps_and_appear_nowhere_else() {
    let s = services();
    let repo = unique(&s, "secrets");
    let file_secret = format!("file-secret-{}-abc", std::process::id());
    let env_secret = format!("env-secret-{}-xyz", std::process::id());
    let plan = format!(
        "{}builds:
  app:
    context: ctx
    builder: a
    platforms: [linux/amd64]
    network: none
    tags: [\"{repo}:1\"]
    secrets:
      - {{ id: from_file, src: token.txt }}
      - {{ id: from_env, env: BUILD_TOKEN }}
",
        builders(&s)
    );
    // Secret values are not part of BuildKit's cache key: the run's own
    // number in the step keeps an earlier run's cached step from answering.
    let dockerfile = format!(
        "FROM {}\nRUN --mount=type=secret,id=from_file --mount=type=secret,id=from_env \\\n    echo run {} && cat /run/secrets/from_file | sha256sum > /file.sha && cat /run/secrets/from_env | sha256sum > /env.sha\n",
        s.base_image,
        std::process::id()
    );
    let dir = workspace(&plan, &dockerfile);
    std::fs::write(dir.path().join("token.txt"), &file_secret).unwrap();

    let plan_run = |args: &[&str]| run(s.plan(dir.path(), args).env("BUILD_TOKEN", &env_secret));
    let (code, diff_before) = plan_run(&["diff", "--out", "saved.plan"]);
    assert_eq!(code, 0, "{diff_before}");
    let (code, applied) = plan_run(&[
        "apply",
        "--progress",
        "plain",
        "--log-dir",
        "logs",
        "--summary-file",
        "summary.json",
        "--metadata-file",
        "metadata.json",
    ]);
    assert_eq!(code, 0, "{applied}");
    let (code, diff_after) = plan_run(&["diff", "--json"]);
    assert_eq!(code, 0, "{diff_after}");

    let image = format!("{repo}:1");
    let file_sha = s.read_file(&image, "linux/amd64", "/file.sha");
    assert!(
        file_sha.starts_with(&sha256_hex(file_secret.as_bytes())),
        "{file_sha}"
    );
    let env_sha = s.read_file(&image, "linux/amd64", "/env.sha");
    assert!(
        env_sha.starts_with(&sha256_hex(env_secret.as_bytes())),
        "{env_sha}"
    );

    let everywhere = format!(
        "{diff_before}{applied}{diff_after}{}{}{}{}",
        all_text_under(&dir.path().join("logs")),
        std::fs::read_to_string(dir.path().join("summary.json")).unwrap(),
        std::fs::read_to_string(dir.path().join("metadata.json")).unwrap(),
        String::from_utf8_lossy(&std::fs::read(dir.path().join("saved.plan")).unwrap()),
    );
    assert!(!everywhere.is_empty());
    for secret in [&file_secret, &env_secret] {
        assert!(!everywhere.contains(secret.as_str()), "{secret} leaked");
    }
}

#[test]
fn a_missing_secret_stops_the_run_before_anything_is_built() {
    let s = services();
    let repo = unique(&s, "missing-secret");
    let plan = format!(
        "{}builds:
  app:
    context: ctx
    builder: a
    platforms: [linux/amd64]
    network: none
    tags: [\"{repo}:1\"]
    secrets: [{{ id: tok, env: BUILDPLAN_TEST_UNSET_TOKEN }}]
",
        builders(&s)
    );
    let dir = workspace(&plan, &format!("FROM {}\nRUN true\n", s.base_image));
    let out = s
        .plan(dir.path(), &["apply", "--progress", "plain"])
        .env_remove("BUILDPLAN_TEST_UNSET_TOKEN")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("plan::missing-secret"), "{text}");
    assert!(!text.contains("buildx build"), "{text}");
    assert!(!exists(&format!("{repo}:1")), "nothing was pushed");
}

#[test]
fn ssh_mounts_see_the_agent() {
    let s = services();
    let repo = unique(&s, "ssh");
    let agent = tempfile::tempdir().unwrap();
    let socket = agent.path().join("agent.sock");
    let mut ssh_agent = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent is installed (openssh)");
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let plan = format!(
        "{}builds:
  app:
    context: ctx
    builder: a
    platforms: [linux/amd64]
    network: none
    tags: [\"{repo}:1\"]
    ssh: [default]
",
        builders(&s)
    );
    let dockerfile = format!(
        "FROM {}\nRUN --mount=type=ssh echo run {} && test -S \"$SSH_AUTH_SOCK\" && echo agent-seen > /ssh.txt\n",
        s.base_image,
        std::process::id()
    );
    let dir = workspace(&plan, &dockerfile);
    let (code, text) = s.apply_with(
        dir.path(),
        &[],
        &[("SSH_AUTH_SOCK", socket.to_str().unwrap())],
    );
    let _ = ssh_agent.kill();
    let _ = ssh_agent.wait();
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("--ssh default"), "{text}");
    assert_eq!(
        s.read_file(&format!("{repo}:1"), "linux/amd64", "/ssh.txt"),
        "agent-seen\n"
    );
}

#[test]
fn provenance_lands_in_the_index_and_arm64_runs_under_emulation() {
    let s = services();
    let repo = unique(&s, "attest");
    let plan = format!(
        "{}builds:
  app:
    context: ctx
    builder: c
    platforms: [linux/arm64]
    network: none
    tags: [\"{repo}:1\"]
    attest: {{ provenance: max }}
",
        builders(&s)
    );
    let dir = workspace(
        &plan,
        &format!("FROM {}\nRUN uname -m > /arch\n", s.base_image),
    );
    let (code, out) = s.apply(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    let index = skopeo_raw(&format!("{repo}:1"));
    let manifests = index["manifests"].as_array().expect("an index");
    let image = manifests
        .iter()
        .find(|m| m["platform"]["architecture"] == "arm64")
        .expect("the arm64 image");
    let attestation = manifests
        .iter()
        .find(|m| m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest")
        .unwrap_or_else(|| panic!("no attestation manifest in {index}"));
    assert_eq!(
        attestation["annotations"]["vnd.docker.reference.digest"],
        image["digest"]
    );
    let config = skopeo_config(&format!("{repo}@{}", image["digest"].as_str().unwrap()));
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(
        s.read_file(&format!("{repo}:1"), "linux/arm64", "/arch"),
        "aarch64\n"
    );
}

/// Cache keys of `RUN` steps differ between BuildKit versions, so a cache is
/// read across engines of one generation: engine A (20.10) exports inline
/// cache with its image, engine B (20.10, over ssh) builds the same
/// Dockerfile under another tag and takes its `RUN` step from that cache.
/// Engine C (26, containerd store) exports registry cache, scoped by the
/// `registry` shorthand to the job and platform.
#[test]
fn cache_written_on_one_engine_is_read_on_another_over_ssh() {
    let s = services();
    let repo = unique(&s, "cache");
    let dockerfile = format!(
        "FROM {}\nCOPY input.txt /\nRUN sha256sum /input.txt > /sum && sleep 1\n",
        s.base_image
    );
    let job = |builder: &str, tag: &str, cache: &str| {
        format!(
            "{}builds:
  app:
    context: ctx
    builder: {builder}
    platforms: [linux/amd64]
    network: none
    tags: [\"{repo}:{tag}\"]
    {cache}
",
            builders(&s)
        )
    };
    let dir = workspace(&job("c", "c", "cache: registry"), &dockerfile);
    std::fs::write(
        dir.path().join("ctx/input.txt"),
        format!("cached {}\n", std::process::id()),
    )
    .unwrap();
    let (code, out) = s.apply(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    let scoped = format!("{repo}:buildcache-app-linux-amd64");
    assert!(
        out.contains(&format!("--cache-to type=registry,ref={scoped},mode=max")),
        "{out}"
    );
    let cache = skopeo_raw(&scoped);
    assert!(
        cache["manifests"].is_array() || cache["layers"].is_array(),
        "{cache}"
    );

    std::fs::write(dir.path().join("plan.yaml"), job("a", "a", "cache: inline")).unwrap();
    let (code, out) = s.apply(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("--cache-to type=inline"), "{out}");

    let reader = job(
        "b",
        "b",
        &format!("cache_from: [\"type=registry,ref={repo}:a\"]"),
    );
    std::fs::write(dir.path().join("plan.yaml"), reader).unwrap();
    let (code, out) = s.apply(dir.path(), &["--log-dir", "logs"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("--host ssh://root@127.0.0.1 buildx build"),
        "{out}"
    );
    let log = all_text_under(&dir.path().join("logs"));
    assert!(
        log.lines()
            .any(|l| l.contains("CACHED") && l.contains("RUN sha256sum")),
        "the RUN step was not taken from the cache:\n{log}"
    );
}

#[test]
fn a_base_built_once_is_passed_to_its_consumers_by_digest() {
    let s = services();
    let repo = unique(&s, "contexts");
    let plan = format!(
        "{}builds:
  base:
    context: base
    builder: c
    platforms: [linux/amd64]
    network: none
    tags: [\"{repo}/base:1\"]
  one:
    context: ctx
    builder: c
    platforms: [linux/amd64]
    network: none
    tags: [\"{repo}/one:1\"]
    contexts: {{ base: build.base }}
  two:
    context: ctx
    builder: c
    platforms: [linux/amd64]
    network: none
    tags: [\"{repo}/two:1\"]
    contexts: {{ base: build.base }}
  other:
    context: other
    builder: c
    platforms: [linux/amd64]
    network: none
    tags: [\"{repo}/other:1\"]
",
        builders(&s)
    );
    let dir = workspace(&plan, "FROM base\nRUN cat /base.txt > /from-base\n");
    for (folder, dockerfile) in [
        ("base", format!("FROM {}\nCOPY base.txt /\n", s.base_image)),
        (
            "other",
            format!("FROM {}\nRUN echo other > /other\n", s.base_image),
        ),
    ] {
        std::fs::create_dir_all(dir.path().join(folder)).unwrap();
        std::fs::write(dir.path().join(folder).join("Dockerfile"), dockerfile).unwrap();
    }
    std::fs::write(dir.path().join("base/base.txt"), "base v1\n").unwrap();

    let (code, out) = s.apply(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    // The consumers got the base by digest, after it was built.
    let base_digest = skopeo_raw_digest(&format!("{repo}/base:1"));
    assert!(
        out.contains(&format!("base=docker-image://{repo}/base@{base_digest}")),
        "{out}"
    );
    for consumer in ["one", "two"] {
        assert_eq!(
            s.read_file(&format!("{repo}/{consumer}:1"), "linux/amd64", "/from-base"),
            "base v1\n"
        );
    }
    let (code, diff) = diff_text(&s, dir.path());
    assert_eq!(code, 0, "nothing changes after apply: {diff}");

    // A change to the base changes exactly the base and its consumers.
    std::fs::write(dir.path().join("base/base.txt"), "base v2\n").unwrap();
    let (code, diff) = diff_text(&s, dir.path());
    assert_eq!(code, 2, "{diff}");
    for changed in ["build.base", "build.one", "build.two"] {
        assert!(
            diff.lines()
                .any(|l| l.contains(changed) && !l.trim_start().starts_with('=')),
            "{changed} should change:\n{diff}"
        );
    }
    assert!(
        diff.lines()
            .any(|l| l.contains("build.other") && l.trim_start().starts_with('=')),
        "{diff}"
    );
    let (code, out) = s.apply(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("other:1 --"),
        "build.other was not rebuilt: {out}"
    );
    assert_eq!(
        s.read_file(&format!("{repo}/two:1"), "linux/amd64", "/from-base"),
        "base v2\n"
    );
}

fn skopeo_raw_digest(reference: &str) -> String {
    let out = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `plan diff --detailed-exitcode`: its exit code and what it printed.
fn diff_text(s: &Services, dir: &Path) -> (i32, String) {
    run(&mut s.plan(dir, &["diff", "--detailed-exitcode"]))
}

/// The plan that gets attestations on engine C asks engine A (Docker 20.10,
/// classic image store) for them: read from the engine itself, said before
/// anything runs, by `diff` as by `apply`.
#[test]
fn attestations_on_an_engine_that_cannot_store_them_are_refused_first() {
    let s = services();
    let repo = unique(&s, "attest-old");
    let plan = format!(
        "{}builds:
  app:
    context: ctx
    builder: a
    platforms: [linux/amd64]
    network: none
    tags: [\"{repo}:1\"]
    attest: {{ provenance: max }}
",
        builders(&s)
    );
    let dir = workspace(&plan, &format!("FROM {}\nRUN true\n", s.base_image));
    for command in ["diff", "apply"] {
        let out = s.plan(dir.path(), &[command]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {text}");
        assert!(text.contains("plan::driver-limit"), "{text}");
        assert!(text.contains("asks for attestations"), "{text}");
        assert!(!text.contains("buildx build"), "{text}");
    }
    assert!(!exists(&format!("{repo}:1")), "nothing was pushed");
}

/// The step after reads what was published: bake's metadata format with
/// `--metadata-file`; under GitHub Actions `changed` and `digests` in
/// `$GITHUB_OUTPUT` and the summary in `$GITHUB_STEP_SUMMARY` — written
/// when set, not when unset.
#[test]
fn outputs_for_the_step_after() {
    let s = services();
    let repo = unique(&s, "outputs");
    let plan = format!(
        "{}builds:
  app:
    context: ctx
    builder: c
    platforms: [linux/amd64, linux/arm64]
    network: none
    tags: [\"{repo}/app:1\", \"{repo}/app:latest\"]
syncs:
  mirror:
    from: \"{repo}/app:1\"
    to: \"{repo}/mirror:1\"
",
        builders(&s)
    );
    let dir = workspace(
        &plan,
        &format!(
            "FROM {}\nRUN echo {} > /id\n",
            s.base_image,
            std::process::id()
        ),
    );
    let github = dir.path().join("github");
    std::fs::create_dir(&github).unwrap();
    let run = |github_actions: bool| {
        let mut cmd = s.plan(
            dir.path(),
            &[
                "apply",
                "--progress",
                "plain",
                "--metadata-file",
                "metadata.json",
            ],
        );
        if github_actions {
            cmd.env("GITHUB_ACTIONS", "true")
                .env("GITHUB_OUTPUT", github.join("output"))
                .env("GITHUB_STEP_SUMMARY", github.join("summary.md"));
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(false);
    assert!(
        std::fs::read_dir(&github).unwrap().next().is_none(),
        "nothing written outside GitHub Actions"
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("metadata.json")).unwrap()).unwrap();
    let digest = skopeo_raw_digest(&format!("{repo}/app:1"));
    assert_eq!(
        metadata["app"]["containerimage.digest"],
        digest.as_str(),
        "{metadata}"
    );
    assert_eq!(
        metadata["app"]["containerimage.descriptor"]["digest"],
        digest.as_str()
    );
    assert!(
        metadata["app"]["containerimage.descriptor"]["size"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(
        metadata["app"]["image.name"],
        format!("{repo}/app:1,{repo}/app:latest")
    );
    assert_eq!(metadata["mirror"]["containerimage.digest"], digest.as_str());

    // Again under GitHub Actions: nothing to do, and it says so.
    run(true);
    let output = std::fs::read_to_string(github.join("output")).unwrap();
    assert!(output.contains("changed=false\n"), "{output}");
    let digests_line = output.lines().find(|l| l.starts_with("digests=")).unwrap();
    let digests: serde_json::Value =
        serde_json::from_str(&digests_line["digests=".len()..]).unwrap();
    assert_eq!(digests["build.app"], digest.as_str());
    assert_eq!(digests["sync.mirror"], digest.as_str());
    let summary = std::fs::read_to_string(github.join("summary.md")).unwrap();
    assert!(
        summary.contains("### plan apply") && summary.contains("| `build.app` | unchanged |"),
        "{summary}"
    );
}

/// A plan that tags every commit rebuilds only when an input changed: a new
/// tag on an unchanged build is the existing image copied through the
/// registry (no `buildx build`), and one changed file builds again.
#[test]
fn a_new_tag_on_unchanged_inputs_is_a_retag_not_a_rebuild() {
    let s = services();
    let repo = unique(&s, "retag");
    let plan = |tags: &str| {
        format!(
            "{}builds:
  app:
    context: ctx
    builder: c
    platforms: [linux/amd64, linux/arm64]
    network: none
    tags: [{tags}]
",
            builders(&s)
        )
    };
    let dir = workspace(
        &plan(&format!("\"{repo}:main\"")),
        &format!(
            "FROM {}\nCOPY app.txt /\nRUN cat /app.txt > /seen && sleep 1\n",
            s.base_image
        ),
    );
    std::fs::write(dir.path().join("ctx/app.txt"), "v1\n").unwrap();
    let (code, out) = s.apply(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    let main = skopeo_raw_digest(&format!("{repo}:main"));

    // Commit 1f2e3d: same inputs, one more tag.
    std::fs::write(
        dir.path().join("plan.yaml"),
        plan(&format!("\"{repo}:sha-1f2e3d\", \"{repo}:main\"")),
    )
    .unwrap();
    let (code, diff) = diff_text(&s, dir.path());
    assert_eq!(code, 2, "{diff}");
    let line = diff.lines().find(|l| l.contains("build.app")).unwrap();
    assert!(line.trim_start().starts_with('~'), "{diff}");
    assert!(
        line.contains(&format!(
            "add tag {repo}:sha-1f2e3d (same inputs as {repo}:main)"
        )),
        "{diff}"
    );
    let (code, out) = s.apply(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("buildx build"),
        "a retag runs no build: {out}"
    );
    assert_eq!(skopeo_raw_digest(&format!("{repo}:sha-1f2e3d")), main);
    let (code, diff) = diff_text(&s, dir.path());
    assert_eq!(code, 0, "{diff}");

    // Commit 4a5b6c changes a file: built again, both tags move.
    std::fs::write(dir.path().join("ctx/app.txt"), "v2\n").unwrap();
    std::fs::write(
        dir.path().join("plan.yaml"),
        plan(&format!("\"{repo}:sha-4a5b6c\", \"{repo}:main\"")),
    )
    .unwrap();
    let (code, out) = s.apply(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("buildx build"), "{out}");
    let rebuilt = skopeo_raw_digest(&format!("{repo}:main"));
    assert_ne!(rebuilt, main);
    assert_eq!(skopeo_raw_digest(&format!("{repo}:sha-4a5b6c")), rebuilt);
    assert_eq!(
        skopeo_raw_digest(&format!("{repo}:sha-1f2e3d")),
        main,
        "an old commit's tag stays"
    );
    assert_eq!(
        s.read_file(&format!("{repo}:main"), "linux/arm64", "/seen"),
        "v2\n"
    );
}

/// Per-commit tags on a base and the build that reads it by a named
/// context: a new commit with the same inputs retags both (the reader's
/// input is the image the base's retag gives, the same as before), and
/// nothing is built.
#[test]
fn a_new_commit_retags_a_base_and_its_readers_alike() {
    let s = services();
    let repo = unique(&s, "retag-chain");
    let plan = format!(
        "{}vars: {{ commit: c0 }}
builds:
  base:
    context: base
    builder: c
    platforms: [linux/amd64]
    network: none
    tags: [\"{repo}/base:{{{{ commit }}}}\", \"{repo}/base:main\"]
  app:
    context: ctx
    builder: c
    platforms: [linux/amd64]
    network: none
    contexts: {{ base: build.base }}
    tags: [\"{repo}/app:{{{{ commit }}}}\", \"{repo}/app:main\"]
",
        builders(&s)
    );
    let dir = workspace(&plan, "FROM base\nRUN cat /base.txt > /from-base\n");
    std::fs::create_dir_all(dir.path().join("base")).unwrap();
    std::fs::write(
        dir.path().join("base/Dockerfile"),
        format!("FROM {}\nCOPY base.txt /\n", s.base_image),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("base/base.txt"),
        format!("{}\n", std::process::id()),
    )
    .unwrap();
    let (code, out) = s.apply(dir.path(), &["--var", "commit=c1"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = s.apply(dir.path(), &["--var", "commit=c2"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("buildx build"), "nothing is built: {out}");
    for image in ["base", "app"] {
        assert_eq!(
            skopeo_raw_digest(&format!("{repo}/{image}:c2")),
            skopeo_raw_digest(&format!("{repo}/{image}:c1")),
            "{image}"
        );
    }
}

/// The attestation manifests of the images a combine takes, and of the
/// platforms a filtered sync keeps, travel with them, pointing at the right
/// image — and are really there in the target repository.
#[test]
fn attestations_survive_a_combine_and_a_filtered_sync() {
    let s = services();
    let repo = unique(&s, "attest-copy");
    let plan = format!(
        "{}builds:
  amd:
    context: ctx
    builder: c
    platforms: [linux/amd64]
    network: none
    tags: [\"{repo}/app:amd64\"]
    attest: {{ provenance: max }}
  arm:
    context: ctx
    builder: c
    platforms: [linux/arm64]
    network: none
    tags: [\"{repo}/app:arm64\"]
    attest: {{ provenance: max }}
combines:
  app:
    from:
      linux/amd64: \"{repo}/app:amd64\"
      linux/arm64: \"{repo}/app:arm64\"
    to: \"{repo}/app:1\"
syncs:
  arm-only:
    from: \"{repo}/app:1\"
    to: \"{repo}/mirror:1\"
    platforms: [linux/arm64]
",
        builders(&s)
    );
    let dir = workspace(
        &plan,
        &format!(
            "FROM {}\nRUN echo {} > /id\n",
            s.base_image,
            std::process::id()
        ),
    );
    let (code, out) = s.apply(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");

    /// Pairs: (architecture, digest) of each image, and (attestation
    /// digest, digest it is about) of each attestation.
    type Pairs = Vec<(String, String)>;
    fn read(reference: &str) -> (Pairs, Pairs) {
        let index = skopeo_raw(reference);
        let mut images = Vec::new();
        let mut attestations = Vec::new();
        for entry in index["manifests"].as_array().unwrap() {
            let digest = entry["digest"].as_str().unwrap().to_owned();
            match entry["annotations"]["vnd.docker.reference.digest"].as_str() {
                Some(about) => attestations.push((digest, about.to_owned())),
                None => images.push((
                    entry["platform"]["architecture"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    digest,
                )),
            }
        }
        (images, attestations)
    }
    let (images, attestations) = read(&format!("{repo}/app:1"));
    assert_eq!(images.len(), 2, "{images:?}");
    assert_eq!(attestations.len(), 2, "{attestations:?}");
    for (_, digest) in &images {
        let (attestation, _) = attestations
            .iter()
            .find(|(_, about)| about == digest)
            .unwrap_or_else(|| panic!("no attestation about {digest}"));
        // The attestation manifest itself was copied into the repository.
        skopeo_raw(&format!("{repo}/app@{attestation}"));
    }
    let (kept, kept_attestations) = read(&format!("{repo}/mirror:1"));
    let arm = images.iter().find(|(arch, _)| arch == "arm64").unwrap();
    assert_eq!(kept, vec![arm.clone()]);
    assert_eq!(kept_attestations.len(), 1);
    assert_eq!(kept_attestations[0].1, arm.1);
    skopeo_raw(&format!("{repo}/mirror@{}", kept_attestations[0].0));
    // Nothing left to do.
    let (code, diff) = diff_text(&s, dir.path());
    assert_eq!(code, 0, "{diff}");
}

/// A build split per platform (a `docker` builder builds one platform at a
/// time) with provenance: each platform's attestation manifest reaches the
/// final index, about that platform's image.
#[test]
fn a_split_builds_attestations_reach_its_final_index() {
    let s = services();
    let repo = unique(&s, "attest-split");
    let plan = format!(
        "{}builds:
  app:
    context: ctx
    builder: c
    platforms: [linux/amd64, linux/arm64]
    network: none
    tags: [\"{repo}:1\"]
    attest: {{ provenance: max }}
",
        builders(&s)
    );
    let dir = workspace(
        &plan,
        &format!(
            "FROM {}\nRUN echo {} > /id\n",
            s.base_image,
            std::process::id()
        ),
    );
    let (code, out) = s.apply(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    let index = skopeo_raw(&format!("{repo}:1"));
    let entries = index["manifests"].as_array().unwrap();
    let images: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["annotations"]["vnd.docker.reference.digest"].is_null())
        .collect();
    assert_eq!(images.len(), 2, "{index}");
    for image in images {
        assert!(
            entries
                .iter()
                .any(|e| e["annotations"]["vnd.docker.reference.digest"] == image["digest"]),
            "no attestation about {} in {index}",
            image["digest"]
        );
    }
    // The staging tags each platform was pushed to are gone; the images
    // they held stay, named by the index.
    let listed = std::process::Command::new("skopeo")
        .args([
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{repo}"),
        ])
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["Tags"], serde_json::json!(["1"]), "{listed}");
    for entry in entries {
        let child = format!("{repo}@{}", entry["digest"].as_str().unwrap());
        assert!(exists(&child), "{child} went with its staging tag");
    }
    assert!(out.contains("staging tag removed"), "{out}");
}

/// A `docker` builder that names no endpoint builds on the engine `docker`
/// finds by itself: here `DOCKER_HOST`.
#[test]
fn a_docker_builder_without_an_endpoint_uses_docker_host() {
    let s = services();
    let repo = unique(&s, "docker-host");
    let plan = format!(
        "version: 1
builders:
  here:
    driver: docker
builds:
  app:
    context: ctx
    builder: here
    platforms: [linux/amd64]
    network: none
    tags: [\"{repo}:1\"]
"
    );
    let dir = workspace(
        &plan,
        &format!("FROM {}\nRUN echo here > /here\n", s.base_image),
    );
    let out = s
        .plan(dir.path(), &["apply", "--progress", "plain"])
        .env("DOCKER_HOST", &s.engine_c)
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("engine reachable (Docker 26"), "{text}");
    assert!(
        !text.contains("--host"),
        "the engine comes from DOCKER_HOST: {text}"
    );
    assert_eq!(
        s.read_file(&format!("{repo}:1"), "linux/amd64", "/here"),
        "here\n"
    );
}

/// `strategy: multi` on a `docker` builder: an engine with the containerd
/// image store builds both platforms in one invocation (arm64 under qemu),
/// attestations and all.
#[test]
fn an_engine_with_the_containerd_store_builds_several_platforms_at_once() {
    let s = services();
    let repo = unique(&s, "multi");
    let plan = format!(
        "{}builds:
  app:
    context: ctx
    builder: c
    platforms: [linux/amd64, linux/arm64]
    strategy: multi
    network: none
    tags: [\"{repo}:1\"]
    attest: {{ provenance: min }}
",
        builders(&s)
    );
    let dir = workspace(
        &plan,
        &format!(
            "FROM {}\nRUN uname -m > /arch && echo {} > /id\n",
            s.base_image,
            std::process::id()
        ),
    );
    let (code, out) = s.apply(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    let builds: Vec<&str> = out.lines().filter(|l| l.contains("buildx build")).collect();
    assert_eq!(builds.len(), 1, "{out}");
    assert!(
        builds[0].contains("--platform linux/amd64,linux/arm64"),
        "{out}"
    );
    assert_eq!(
        s.read_file(&format!("{repo}:1"), "linux/arm64", "/arch"),
        "aarch64\n"
    );
    assert_eq!(
        s.read_file(&format!("{repo}:1"), "linux/amd64", "/arch"),
        "x86_64\n"
    );
    let index = skopeo_raw(&format!("{repo}:1"));
    let attestations = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest")
        .count();
    assert_eq!(attestations, 2, "{index}");
}
