//! `plan import bake` on bake definitions shaped after public projects'
//! (`tests/fixtures/import/bake/`, each naming its model): the imported plan
//! validates, and its builds are bake's targets — platforms, tags, args and
//! contexts as `docker buildx bake --print` gives them (the round trip:
//! import, then `plan show`, against `bake --print`).

use std::path::Path;
use std::process::Command;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import/bake")
        .join(name)
}

/// A folder with the bake file and the Dockerfiles its targets build.
fn workspace(file: &str, dockerfiles: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture(file), dir.path().join(file)).unwrap();
    for (path, text) in dockerfiles {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn run(dir: &Path, program: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(program)
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|err| {
            panic!("{program}: {err} (scripts/provision installs docker and buildx)")
        });
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn plan(dir: &Path, args: &[&str]) -> (i32, String, String) {
    run(
        dir,
        assert_cmd::cargo::cargo_bin("plan").to_str().unwrap(),
        args,
    )
}

/// `linux/arm64/v8` is `linux/arm64`, as plan (and Docker) normalize it.
fn platform(text: &str) -> String {
    text.replace("linux/arm64/v8", "linux/arm64")
        .replace("x86_64", "amd64")
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// Imports `file`, checks the plan validates, and that each build equals
/// its bake target.
fn round_trip(dir: &Path, file: &str, targets: &[&str]) -> String {
    let mut import = vec!["import", "bake", file, "-o", "imported.yaml"];
    for target in targets {
        import.extend(["--target", target]);
    }
    let (code, _, stderr) = plan(dir, &import);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = plan(dir, &["validate", "-f", "imported.yaml"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, shown, stderr) = plan(dir, &["show", "-f", "imported.yaml"]);
    assert_eq!(code, 0, "{stderr}");
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let mut print = vec!["buildx", "bake", "--print", "-f", file];
    print.extend(targets);
    let (code, printed, stderr) = run(dir, "docker", &print);
    assert_eq!(code, 0, "{stderr}");
    let printed: serde_json::Value = serde_json::from_str(&printed).unwrap();
    let targets = printed["target"].as_object().unwrap();
    let builds = shown["builds"].as_array().unwrap();
    assert_eq!(builds.len(), targets.len(), "one build per target");
    for (name, target) in targets {
        let build = builds
            .iter()
            .find(|b| b["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no build {name}"));
        let platforms: Vec<String> = strings(&target["platforms"])
            .iter()
            .map(|p| platform(p))
            .collect();
        assert_eq!(strings(&build["platforms"]), platforms, "{name}: platforms");
        let tags = strings(&target["tags"]);
        if !tags.is_empty() {
            // Normalized as Docker does (`docker.io/library/…`).
            let shown_tags = strings(&build["tags"]);
            assert_eq!(shown_tags.len(), tags.len(), "{name}: tags");
            for (shown, written) in shown_tags.iter().zip(&tags) {
                assert!(
                    shown.ends_with(written.rsplit('/').next().unwrap()),
                    "{name}: {shown} vs {written}"
                );
            }
        }
        let args = target["args"].as_object().cloned().unwrap_or_default();
        assert_eq!(
            build["args"].as_object().cloned().unwrap_or_default(),
            args,
            "{name}: args"
        );
        for (context, value) in target["contexts"].as_object().cloned().unwrap_or_default() {
            let value = value.as_str().unwrap();
            let named = build["contexts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == context.as_str())
                .unwrap_or_else(|| panic!("{name}: no context {context}"));
            match value.strip_prefix("target:") {
                Some(target) => assert_eq!(named["source"]["job"], format!("build.{target}")),
                None => panic!("{name}: context {context} = {value} not checked"),
            }
        }
    }
    std::fs::read_to_string(dir.join("imported.yaml")).unwrap()
}

#[test]
fn a_monorepo_with_groups_inherits_a_matrix_and_target_contexts() {
    let dir = workspace(
        "monorepo.hcl",
        &[
            ("base/Dockerfile", "FROM scratch\n"),
            ("api/Dockerfile", "FROM base\n"),
            ("api/netrc", "machine example.com\n"),
            ("worker/Dockerfile", "FROM scratch\n"),
            ("tools/tools.Dockerfile", "FROM scratch AS release\n"),
        ],
    );
    let text = round_trip(dir.path(), "monorepo.hcl", &[]);
    for words in [
        "# bake group `default`: api, worker, tools",
        "secrets:\n      - {id: \"netrc\", src: \"api/netrc\"}",
        "attest: {provenance: max, sbom: true}",
        "cache_to: [\"type=registry,ref=ghcr.io/acme/api:cache,mode=max\"]",
        "\"base\": \"build.base\"",
        "tags: [\"ghcr.io/acme/api:context-base\"]",
        "push: false\n    # not imported: output `type=docker`",
    ] {
        assert!(text.contains(words), "{words}:\n{text}");
    }
    // What did not map is said on stderr too.
    let (_, _, stderr) = plan(dir.path(), &["import", "bake", "monorepo.hcl"]);
    assert!(
        stderr.contains("warning: tools: not imported: output `type=docker`"),
        "{stderr}"
    );
}

#[test]
fn the_metadata_action_pattern() {
    let dir = workspace("metadata-action.hcl", &[("Dockerfile", "FROM scratch\n")]);
    // As bake-action runs it: the target named.
    let text = round_trip(dir.path(), "metadata-action.hcl", &["build"]);
    assert!(text.contains("  build:\n"), "{text}");
}

#[test]
fn a_compose_file() {
    let dir = workspace(
        "compose.yaml",
        &[
            ("web/Dockerfile", "FROM scratch\n"),
            ("migrate/Dockerfile.migrate", "FROM scratch AS run\n"),
        ],
    );
    let text = round_trip(dir.path(), "compose.yaml", &[]);
    assert!(text.contains("target: \"run\""), "{text}");
}

#[test]
fn a_bake_error_is_said_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-bake.hcl"),
        "target \"x\" {\n  nope = \n",
    )
    .unwrap();
    let (code, stdout, stderr) = plan(dir.path(), &["import", "bake", "-o", "out.yaml"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("`docker buildx bake --print` failed"),
        "{stderr}"
    );
    assert!(stdout.is_empty());
    assert!(!dir.path().join("out.yaml").exists());
}

fn import_and_show(args: &[&str]) -> (serde_json::Value, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut full = vec!["import"];
    full.extend_from_slice(args);
    full.extend(["-o", "imported.yaml"]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (code, _, stderr) = plan(
        root,
        &[&full[..], &["-C", dir.path().to_str().unwrap()]].concat(),
    );
    assert_eq!(code, 1, "a relative FILE is read from -C: {stderr}");
    // Run from the repository, writing into the temp folder.
    let out = dir.path().join("imported.yaml");
    let out = out.to_str().unwrap();
    let mut full = vec!["import"];
    full.extend_from_slice(args);
    full.extend(["-o", out]);
    let (code, _, stderr) = plan(root, &full);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, validate) = plan(root, &["validate", "-f", out]);
    assert_eq!(code, 0, "{validate}");
    let (code, shown, show_err) = plan(root, &["show", "-f", out]);
    assert_eq!(code, 0, "{show_err}");
    (
        serde_json::from_str(&shown).unwrap(),
        std::fs::read_to_string(out).unwrap(),
        stderr,
    )
}

fn sync<'a>(shown: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    shown["syncs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no sync {name} in {shown}"))
}

#[test]
fn a_regsync_configuration() {
    let (shown, text, stderr) =
        import_and_show(&["regsync", "tests/fixtures/import/regsync/regsync.yml"]);
    let busybox = sync(&shown, "busybox");
    assert_eq!(busybox["from"], "docker.io/library/busybox:latest");
    assert_eq!(busybox["to"][0], "registry:5000/library/busybox:latest");
    let alpine = sync(&shown, "alpine");
    assert_eq!(alpine["from"], "docker.io/library/alpine");
    assert_eq!(alpine["to"][0], "registry:5000/library/alpine");
    assert_eq!(
        alpine["repository"]["tags"]["include"],
        serde_json::json!(["^(?:latest)$", "^(?:3)$", "^(?:3\\.\\d+)$"])
    );
    let golang = sync(&shown, "golang");
    assert_eq!(golang["platforms"], serde_json::json!(["linux/amd64"]));
    assert_eq!(
        golang["repository"]["tags"]["exclude"][0],
        "^(?:.*-rc\\d*)$"
    );
    assert_eq!(shown["registries"]["registry:5000"]["insecure"], true);
    // Credentials are never copied; the rest that did not map is said.
    assert!(
        !text.contains("HUB_USER") && !text.contains("hub_token"),
        "{text}"
    );
    assert!(
        stderr.contains("warning: defaults: not imported"),
        "{stderr}"
    );
}

#[test]
fn a_skopeo_sync_file() {
    let (shown, text, stderr) = import_and_show(&[
        "skopeo-sync",
        "tests/fixtures/import/skopeo-sync/sync.yml",
        "--to",
        "registry.example.com/mirror",
    ]);
    let busybox = sync(&shown, "busybox");
    assert_eq!(busybox["from"], "docker.io/library/busybox");
    assert_eq!(busybox["to"][0], "registry.example.com/mirror/busybox");
    assert_eq!(
        sync(&shown, "redis")["repository"]["tags"]["include"],
        serde_json::json!(["^6\\.2$", "^7\\.0$"])
    );
    assert_eq!(
        sync(&shown, "alpine")["repository"]["tags"]["semver"],
        ">=3.18.0"
    );
    assert_eq!(sync(&shown, "etcd")["from"], "quay.io/coreos/etcd");
    assert_eq!(shown["registries"]["quay.io"]["insecure"], true);
    assert!(!text.contains("this is a secret"), "{text}");
    assert!(stderr.contains("redis@sha256:"), "{stderr}");
    assert!(text.contains("# not imported: redis@sha256:"), "{text}");
}
