//! The real engines, registry and ssh endpoint `scripts/services` starts,
//! for the tests that drive them; `skopeo` as the independent judge of what
//! landed. A missing service fails the test.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

pub struct Services {
    pub home: String,
    pub bin: String,
    /// Docker 20.10 on a unix socket.
    pub engine_a: String,
    /// Docker 20.10 over ssh.
    pub engine_b: String,
    /// Docker 26 with the containerd image store.
    pub engine_c: String,
    pub registry: String,
    /// busybox for linux/amd64 and linux/arm64: `FROM` it to `RUN` things.
    pub base_image: String,
}

pub fn services() -> Services {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: the end-to-end tests need the real services. Run the suite with \
                 `scripts/test`, or `scripts/services start DIR` and `source DIR/env` first."
            )
        })
    };
    Services {
        home: var("BUILDPLAN_TEST_HOME"),
        bin: var("BUILDPLAN_TEST_BIN"),
        engine_a: var("BUILDPLAN_TEST_ENGINE_A"),
        engine_b: var("BUILDPLAN_TEST_ENGINE_B"),
        engine_c: var("BUILDPLAN_TEST_ENGINE_C"),
        registry: var("BUILDPLAN_TEST_REGISTRY"),
        base_image: var("BUILDPLAN_TEST_BASE_IMAGE"),
    }
}

impl Services {
    pub fn path(&self) -> String {
        format!("{}:{}", self.bin, std::env::var("PATH").unwrap_or_default())
    }

    pub fn plan(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("plan"));
        cmd.current_dir(dir)
            .args(args)
            .env("HOME", &self.home)
            .env("PATH", self.path())
            .env_remove("GITHUB_ACTIONS")
            .env("NO_COLOR", "1");
        cmd
    }

    pub fn apply(&self, dir: &Path, args: &[&str]) -> (i32, String) {
        self.apply_with(dir, args, &[])
    }

    /// `apply` with these environment variables set too.
    pub fn apply_with(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
        let mut full = vec!["apply", "--progress", "plain"];
        full.extend_from_slice(args);
        let mut command = self.plan(dir, &full);
        command.envs(env.iter().copied());
        run(&mut command)
    }

    pub fn docker(&self, args: &[&str]) -> String {
        let out = Command::new("docker")
            .args(args)
            .env("HOME", &self.home)
            .env("PATH", self.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Services {
    /// A file of the image at `reference` for `platform`, read by running
    /// the image on engine C (arm64 under qemu).
    pub fn read_file(&self, reference: &str, platform: &str, path: &str) -> String {
        let out = Command::new("docker")
            .args([
                "-H",
                &self.engine_c,
                "run",
                "--rm",
                "--network",
                "none",
                "--pull",
                "always",
            ])
            .args(["--platform", platform, reference, "cat", path])
            .env("HOME", &self.home)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker run {reference} cat {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Runs a command to its end: its exit code, and all it printed (stdout,
/// then stderr).
pub fn run(command: &mut Command) -> (i32, String) {
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Whether anything is at `reference` (skopeo asked).
pub fn exists(reference: &str) -> bool {
    Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo is installed (scripts/provision)")
        .status
        .success()
}

/// What `skopeo inspect --raw` says is at `reference` (the independent check).
pub fn skopeo_raw(reference: &str) -> serde_json::Value {
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ])
        .output()
        .expect("skopeo is installed (scripts/provision)");
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn skopeo_config(reference: &str) -> serde_json::Value {
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--config",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect --config {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The index at `reference` has exactly these platforms, and each entry's
/// image config names the architecture the index claims.
pub fn assert_multi_arch(reference: &str, expected: &[&str]) {
    let index = skopeo_raw(reference);
    let manifests = index["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("{reference} is not an index: {index}"));
    let repository = &reference[..reference.rfind(':').unwrap()];
    let mut found: Vec<String> = Vec::new();
    for entry in manifests {
        let platform = &entry["platform"];
        if platform["os"] == "unknown" {
            continue; // attestations
        }
        let name = format!(
            "{}/{}",
            platform["os"].as_str().unwrap(),
            platform["architecture"].as_str().unwrap()
        );
        let config = skopeo_config(&format!(
            "{repository}@{}",
            entry["digest"].as_str().unwrap()
        ));
        assert_eq!(
            config["architecture"], platform["architecture"],
            "{reference}: config of {name}"
        );
        assert_eq!(config["os"], platform["os"]);
        found.push(name);
    }
    found.sort();
    let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    assert_eq!(found, expected, "{reference}");
}
