//! The native copy engine against real `docker-registry` instances on
//! 127.0.0.1 (each test starts its own), with `skopeo` as the independent
//! judge of what landed: digests kept, mounts within a registry, platform
//! filters, combines checked against image configs, htpasswd over TLS,
//! pull-through mirrors, faults, a killed run, and no password anywhere.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/run.rs"]
mod run;
#[path = "support/registry.rs"]
mod support;

use run::{Run, run_plan};

use support::{TestRegistry, docker_config, make_tls, root, seed, skopeo_raw, test_image};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

fn platforms(index: &[u8]) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_slice(index).unwrap();
    let mut out: Vec<String> = value["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

fn apply(dir: &Path, plan: &str, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut full = vec!["apply", "--progress", "plain"];
    full.extend_from_slice(args);
    run_plan(dir, plan, &full, env)
}

/// A plan with one sync, `img`, from `from` to `to`.
fn one_sync(from: &str, to: &str) -> String {
    format!("version: 1\nsyncs:\n  img:\n    from: {from}\n    to: {to}\n")
}

/// `copy` holds exactly the bytes of `original` (so the same digest), as
/// skopeo, an independent reader, sees them.
fn assert_same_image(copy: &str, original: &str) {
    let copied = skopeo_raw(copy, &[]);
    assert!(copied.is_some(), "nothing at {copy}");
    assert_eq!(
        copied,
        skopeo_raw(original, &[]),
        "{copy} differs from {original}"
    );
}

/// A job's `transfer` in the summary file `summary.json` in `dir`.
fn transfer_of(dir: &Path, address: &str) -> serde_json::Value {
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    summary["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["address"] == address)
        .unwrap_or_else(|| panic!("no {address} in the summary"))["outcome"]["transfer"]
        .clone()
}

#[test]
fn syncs_keep_the_digest_and_mount_within_a_registry() {
    let a = TestRegistry::start("");
    let b = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let layout = test_image(work.path(), "256K,256K", "128K", 1);
    seed(&layout, "1", &a.image());
    let source = skopeo_raw(&a.image(), &[]).unwrap();
    let plan = format!(
        "version: 1\nsyncs:\n  cross:\n    from: {a}/src/img:1\n    to: {b}/dst/img:1\n  same:\n    from: {a}/src/img:1\n    to: {a}/other/img:1\n",
        a = a.host(),
        b = b.host()
    );
    let run = apply(work.path(), &plan, &[], &["--summary-file", "summary.json"]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(
        skopeo_raw(&format!("{}/dst/img:1", b.host()), &[]).unwrap(),
        source,
        "cross-registry: same bytes"
    );
    assert_eq!(
        skopeo_raw(&format!("{}/other/img:1", a.host()), &[]).unwrap(),
        source,
        "same registry: same bytes"
    );
    // Within one registry every blob was mounted; no byte went through plan.
    let log = a.log();
    assert!(
        log.contains("POST /v2/other/img/blobs/uploads/?mount="),
        "{log}"
    );
    assert!(
        !log.contains("PUT /v2/other/img/blobs/uploads/"),
        "a blob was uploaded instead of mounted"
    );
    let same = transfer_of(work.path(), "sync.same");
    assert_eq!(same["bytes_copied"], 0);
    assert_eq!(
        same["blobs_mounted"], 6,
        "2 shared layers, 1 own layer per platform, 2 configs"
    );

    // Again: everything is there; nothing is pushed.
    let before = b.log().matches("PUT ").count();
    let run = apply(work.path(), &plan, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert!(run.output.contains("unchanged"), "{}", run.output);
    assert_eq!(
        b.log().matches("PUT ").count(),
        before,
        "an up-to-date sync pushed something"
    );
}

#[test]
fn a_blob_two_jobs_need_is_written_once_and_each_job_accounts_for_every_blob() {
    let a = TestRegistry::start("");
    let b = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let layout = test_image(work.path(), "256K,256K", "128K", 8);
    seed(&layout, "1", &a.image());
    let plan = format!(
        "version: 1\nsyncs:\n  one:\n    from: {a}/src/img:1\n    to: {b}/dst/img:1\n  two:\n    from: {a}/src/img:1\n    to: {b}/dst/img:2\n",
        a = a.host(),
        b = b.host()
    );
    let run = apply(
        work.path(),
        &plan,
        &[],
        &["-j", "2", "--summary-file", "summary.json"],
    );
    assert_eq!(run.code, 0, "{}", run.output);
    let transfer = |address: &str| {
        let t = transfer_of(work.path(), address);
        let n = |key: &str| t[key].as_u64().unwrap();
        (n("blobs_copied"), n("blobs_present"))
    };
    let (one_copied, one_present) = transfer("sync.one");
    let (two_copied, two_present) = transfer("sync.two");
    // 2 shared layers, 1 own layer per platform, 2 configs: 6 blobs.
    assert_eq!(one_copied + one_present, 6, "sync.one");
    assert_eq!(two_copied + two_present, 6, "sync.two");
    assert_eq!(one_copied + two_copied, 6, "each blob is written once");
    assert_eq!(
        b.log().matches("PUT /v2/dst/img/blobs/uploads/").count(),
        6,
        "one upload per blob"
    );
}

#[test]
fn a_platform_filter_makes_a_new_index_that_names_its_source() {
    let a = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let layout = test_image(work.path(), "64K", "64K", 2);
    seed(&layout, "1", &a.image());
    let source = skopeo_raw(&a.image(), &[]).unwrap();
    let plan = format!(
        "version: 1\nsyncs:\n  arm:\n    from: {h}/src/img:1\n    to: {h}/arm/img:1\n    platforms: [linux/arm64]\n",
        h = a.host()
    );
    let run = apply(work.path(), &plan, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.output);
    let index = skopeo_raw(&format!("{}/arm/img:1", a.host()), &[]).unwrap();
    assert_eq!(platforms(&index), ["linux/arm64"]);
    let value: serde_json::Value = serde_json::from_slice(&index).unwrap();
    assert_eq!(
        value["annotations"]["dev.buildplan.source.digest"],
        digest(&source)
    );
    // Its one image is there, complete: skopeo can read its config.
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--config",
            "--tls-verify=false",
            "--override-arch",
            "arm64",
        ])
        .arg(format!("docker://{}/arm/img:1", a.host()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_combine_checks_each_platform_against_the_image_config() {
    let a = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let layout = test_image(work.path(), "64K", "64K", 3);
    seed(&layout, "amd64", &format!("{}/src/img:amd64", a.host()));
    seed(&layout, "arm64", &format!("{}/src/img:arm64", a.host()));
    let plan = format!(
        "version: 1\ncombines:\n  img:\n    to: {h}/combined/img:1\n    from:\n      linux/arm64: {h}/src/img:arm64\n      linux/amd64: {h}/src/img:amd64\n",
        h = a.host()
    );
    let run = apply(work.path(), &plan, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.output);
    let index = skopeo_raw(&format!("{}/combined/img:1", a.host()), &[]).unwrap();
    assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64"]);
    for arch in ["amd64", "arm64"] {
        let out = Command::new("skopeo")
            .args([
                "inspect",
                "--config",
                "--tls-verify=false",
                "--override-arch",
                arch,
            ])
            .arg(format!("docker://{}/combined/img:1", a.host()))
            .output()
            .unwrap();
        let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(config["architecture"], arch);
    }
    // Unchanged: the index is computed locally and nothing is pushed.
    let puts = a.log().matches("PUT /v2/combined").count();
    let run = apply(work.path(), &plan, &[], &[]);
    assert!(run.output.contains("unchanged"), "{}", run.output);
    assert_eq!(a.log().matches("PUT /v2/combined").count(), puts);

    // A source whose config says another platform is refused, naming it.
    let wrong = format!(
        "version: 1\ncombines:\n  img:\n    to: {h}/combined/wrong:1\n    from:\n      linux/arm64: {h}/src/img:amd64\n      linux/amd64: {h}/src/img:amd64\n",
        h = a.host()
    );
    let run = apply(work.path(), &wrong, &[], &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.output
            .contains("is a linux/amd64 image, but the plan lists it for linux/arm64"),
        "{}",
        run.output
    );
    assert!(
        skopeo_raw(&format!("{}/combined/wrong:1", a.host()), &[]).is_none(),
        "nothing was published"
    );
}

#[test]
fn htpasswd_over_tls_with_a_private_ca_and_secrets_stay_secret() {
    let work = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_tls(work.path());
    let password = format!("s3cret-{}-pw", std::process::id());
    let hash = bcrypt::hash(&password, 5).unwrap();
    std::fs::write(work.path().join("htpasswd"), format!("tester:{hash}\n")).unwrap();
    let registry = TestRegistry::start_with(
        &format!(
            "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
            work.path().join("htpasswd").display()
        ),
        Some((&cert, &key)),
    );
    let host = registry.host();
    let plan = format!(
        "version: 1\nregistries:\n  \"{host}\":\n    ca_file: {ca}\nsyncs:\n  demo:\n    from: oci:{demo}:1\n    to: {host}/demo/hello:1\n",
        ca = ca.display(),
        demo = root().join("plans/demo/hello").display()
    );
    let good = docker_config(work.path(), &host, "tester", &password);
    let run = apply(
        work.path(),
        &plan,
        &[("DOCKER_CONFIG", good.to_str().unwrap())],
        &["--summary-file", "summary.json", "--log-dir", "logs"],
    );
    assert_eq!(run.code, 0, "{}", run.output);
    let landed = skopeo_raw(
        &format!("{host}/demo/hello:1"),
        &["--creds", &format!("tester:{password}")],
    )
    .expect("pushed over TLS with auth");
    assert_eq!(landed, std::fs::read(root().join("plans/demo/hello/blobs/sha256/86d35ff0b8551aa1a9c53b95b0ce344df0cd7746c8417d25b5e813e86cd8f3c6")).unwrap());
    // The password is in no output, log or summary.
    assert!(!run.output.contains(&password));
    assert!(
        !std::fs::read_to_string(work.path().join("summary.json"))
            .unwrap()
            .contains(&password)
    );
    for entry in std::fs::read_dir(work.path().join("logs")).unwrap() {
        assert!(
            !std::fs::read_to_string(entry.unwrap().path())
                .unwrap()
                .contains(&password)
        );
    }

    // A wrong password fails at once, naming the registry, with no retry storm.
    let wrong_password = format!("wrong-{}-pw", std::process::id());
    let bad = docker_config(&work.path().join("bad"), &host, "tester", &wrong_password);
    let before =
        registry.log().matches("\"PUT ").count() + registry.log().matches("\"POST ").count();
    let started = Instant::now();
    let plan2 = plan.replace(
        &format!("{host}/demo/hello:1"),
        &format!("{host}/demo/other:1"),
    );
    let run = apply(
        work.path(),
        &plan2,
        &[("DOCKER_CONFIG", bad.to_str().unwrap())],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        run.output.contains(&host) && run.output.contains("docker login"),
        "{}",
        run.output
    );
    assert!(!run.output.contains(&wrong_password));
    assert!(!run.output.contains("retrying"), "{}", run.output);
    let after =
        registry.log().matches("\"PUT ").count() + registry.log().matches("\"POST ").count();
    assert_eq!(before, after, "nothing was written with the wrong password");

    // Without the CA, TLS is verified and fails.
    let no_ca = plan.replace(
        &format!("    ca_file: {}\n", ca.display()),
        "    max_concurrency: 2\n",
    );
    let run = apply(
        work.path(),
        &no_ca,
        &[("DOCKER_CONFIG", good.to_str().unwrap())],
        &["--attempts", "1"],
    );
    assert_eq!(run.code, 1, "{}", run.output);
}

#[test]
fn pulls_go_through_the_mirror_first() {
    let upstream = TestRegistry::start("");
    let mirror = TestRegistry::start(&format!(
        "proxy:\n  remoteurl: http://{}\n",
        upstream.host()
    ));
    let target = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let layout = test_image(work.path(), "64K", "64K", 4);
    seed(&layout, "1", &upstream.image());
    let plan = format!(
        "version: 1\nmirrors:\n  \"{u}\": [\"{m}\"]\nsyncs:\n  img:\n    from: {u}/src/img:1\n    to: {t}/dst/img:1\n",
        u = upstream.host(),
        m = mirror.host(),
        t = target.host()
    );
    let run = apply(work.path(), &plan, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert!(
        mirror.log().contains("GET /v2/src/img/manifests/1"),
        "the mirror was not asked"
    );
    assert!(
        mirror.log().contains("GET /v2/src/img/blobs/sha256:"),
        "blobs did not come from the mirror"
    );
    assert_same_image(&format!("{}/dst/img:1", target.host()), &upstream.image());
}

/// A sync of a test image from a source registry to a target registry
/// behind a fault proxy, run once.
struct ProxiedCopy {
    source: TestRegistry,
    target: TestRegistry,
    proxy: fault_proxy::Proxy,
    work: tempfile::TempDir,
    run: Run,
}

impl ProxiedCopy {
    /// The image: `shared` and `per_platform` layer sizes, as
    /// `scripts/make-test-image` takes them.
    fn run(
        (shared, per_platform, seed_number): (&str, &str, u32),
        behaviour: fault_proxy::Behaviour,
        args: &[&str],
    ) -> Self {
        let source = TestRegistry::start("");
        let target = TestRegistry::start("");
        let work = tempfile::tempdir().unwrap();
        let layout = test_image(work.path(), shared, per_platform, seed_number);
        seed(&layout, "1", &source.image());
        let proxy = fault_proxy::start(target.port, behaviour);
        let plan = one_sync(
            &source.image(),
            &format!("127.0.0.1:{}/dst/img:1", proxy.port),
        );
        let run = apply(work.path(), &plan, &[], args);
        Self {
            source,
            target,
            proxy,
            work,
            run,
        }
    }

    fn faults(&self) -> usize {
        self.proxy
            .counters
            .faults
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    fn assert_copied(&self) {
        assert_eq!(self.run.code, 0, "{}", self.run.output);
        assert_same_image(
            &format!("{}/dst/img:1", self.target.host()),
            &self.source.image(),
        );
    }
}

#[test]
fn faults_are_retried_until_the_copy_completes() {
    let copy = ProxiedCopy::run(
        ("128K,128K", "64K", 5),
        fault_proxy::Behaviour {
            fault_every: 3,
            ..Default::default()
        },
        &["--summary-file", "summary.json"],
    );
    copy.assert_copied();
    assert!(copy.faults() >= 3, "no faults were injected");
    // Bytes of failed attempts are not counted: the job reports what the
    // same copy reports without faults.
    let faulty = transfer_of(copy.work.path(), "sync.img")["bytes_copied"].clone();
    let clean_target = TestRegistry::start("");
    let clean = tempfile::tempdir().unwrap();
    let plan_clean = one_sync(
        &copy.source.image(),
        &format!("{}/dst/img:1", clean_target.host()),
    );
    let run = apply(
        clean.path(),
        &plan_clean,
        &[],
        &["--summary-file", "summary.json"],
    );
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(
        faulty,
        transfer_of(clean.path(), "sync.img")["bytes_copied"]
    );
}

#[test]
fn a_registry_that_refuses_large_bodies_gets_the_blobs_in_chunks() {
    let copy = ProxiedCopy::run(
        ("300K,300K", "200K", 9),
        fault_proxy::Behaviour {
            max_body: Some(100 * 1024),
            ..Default::default()
        },
        &[],
    );
    copy.assert_copied();
    assert!(
        copy.run.output.contains("sending it in chunks"),
        "{}",
        copy.run.output
    );
    assert!(
        copy.target
            .log()
            .contains("PATCH /v2/dst/img/blobs/uploads/"),
        "no chunks sent"
    );
    // Four blobs are over the limit. Each is refused at most once whole and
    // twice in chunks (300 KiB, then 150 KiB, then 75 KiB passes), and what
    // was learned serves the blobs after it.
    let refused = copy.faults();
    assert!(refused <= 12, "{refused} refusals: {}", copy.run.output);
}

#[test]
fn a_spent_pull_quota_fails_at_once_and_says_what_to_do() {
    let source = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let proxy = fault_proxy::start(
        source.port,
        fault_proxy::Behaviour {
            quota_spent: true,
            ..Default::default()
        },
    );
    let target = TestRegistry::start("");
    let plan = one_sync(
        &format!("127.0.0.1:{}/src/img:1", proxy.port),
        &format!("{}/dst/img:1", target.host()),
    );
    let run = apply(work.path(), &plan, &[], &[]);
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(
        run.output.contains("pull limit reached")
            && run.output.contains(&format!("127.0.0.1:{}", proxy.port))
            && run.output.contains("docker login"),
        "{}",
        run.output
    );
    // No retry storm: the diff's one look and the job's one look.
    let requests = proxy
        .counters
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(requests <= 2, "{requests} requests");
}

#[test]
fn a_registry_that_is_down_is_given_up_on_once_per_run() {
    let upstream = TestRegistry::start("");
    let proxy = fault_proxy::start(
        upstream.port,
        fault_proxy::Behaviour {
            reset_all: true,
            ..Default::default()
        },
    );
    let target = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let plan = format!(
        "version: 1\nsyncs:\n  \"s{{{{ i }}}}\":\n    matrix:\n      i: [\"1\", \"2\", \"3\"]\n    from: 127.0.0.1:{p}/src/img:{{{{ i }}}}\n    to: {t}/dst/img:{{{{ i }}}}\n",
        p = proxy.port,
        t = target.host()
    );
    let run = apply(
        work.path(),
        &plan,
        &[],
        &["--continue", "always", "-j", "1"],
    );
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(
        run.output.contains("gave up after 6 attempts"),
        "{}",
        run.output
    );
    // The three observations run at once, six attempts each; once the host
    // is given up on, the three jobs fail at once instead of trying six
    // times again (which would make 36).
    let requests = proxy
        .counters
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(requests <= 18, "{requests} requests: {}", run.output);
    assert!(
        run.output.contains("(earlier in this run)"),
        "{}",
        run.output
    );
}

/// A sync of `source`'s test image to `target` through a proxy that slows
/// every 64 KiB by 40 ms (about 2 s for a 5 MiB image), so a run can be
/// stopped in the middle of its uploads; the plan is written to `dir`.
fn throttled_sync(
    source: &TestRegistry,
    target: &TestRegistry,
    dir: &Path,
) -> (fault_proxy::Proxy, String) {
    let proxy = fault_proxy::start(
        target.port,
        fault_proxy::Behaviour {
            throttle: Some(Duration::from_millis(40)),
            ..Default::default()
        },
    );
    let plan = one_sync(
        &source.image(),
        &format!("127.0.0.1:{}/dst/img:1", proxy.port),
    );
    std::fs::write(dir.join("plan.yaml"), &plan).unwrap();
    (proxy, plan)
}

#[test]
fn a_killed_run_leaves_the_tag_untouched_and_a_rerun_completes() {
    let source = TestRegistry::start("");
    let target = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let old = test_image(work.path(), "16K", "16K", 6);
    let new = test_image(work.path(), "2M,2M", "1M", 7);
    seed(&old, "1", &format!("{}/dst/img:1", target.host()));
    seed(&new, "1", &source.image());
    let old_bytes = skopeo_raw(&format!("{}/dst/img:1", target.host()), &[]).unwrap();
    // Slow uploads, so the run can be killed in the middle of them.
    let (proxy, plan) = throttled_sync(&source, &target, work.path());
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("plan"))
        .current_dir(work.path())
        .args(["apply", "--progress", "plain"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    proxy.wait_for_an_upload();
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    assert_eq!(
        skopeo_raw(&format!("{}/dst/img:1", target.host()), &[]).unwrap(),
        old_bytes,
        "the tag moved during a killed run"
    );

    let run = apply(work.path(), &plan, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert_same_image(&format!("{}/dst/img:1", target.host()), &source.image());
}

/// Ctrl-C (SIGINT) in the middle of a native copy's uploads, once or twice:
/// the run ends with 130 and a summary, the tag has not moved, and a second
/// run finishes the work.
fn interrupt_a_native_sync(signals: usize) {
    let source = TestRegistry::start("");
    let target = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let image = test_image(work.path(), "2M,2M", "1M", 11 + signals as u32);
    seed(&image, "1", &source.image());
    // Slow uploads, so the signal lands in the middle of them.
    let (proxy, plan) = throttled_sync(&source, &target, work.path());
    let (code, output) = fault_proxy::interrupted_apply(work.path(), &proxy, signals);
    assert_eq!(code, Some(130), "{output}");
    assert!(output.contains("Summary:"), "{output}");
    assert!(output.contains("interrupted"), "{output}");
    assert_eq!(
        skopeo_raw(&format!("{}/dst/img:1", target.host()), &[]),
        None,
        "a tag was published after the signal: {output}"
    );
    let run = apply(work.path(), &plan, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert_same_image(&format!("{}/dst/img:1", target.host()), &source.image());
}

#[test]
fn ctrl_c_stops_a_native_copy_before_its_tag_moves_and_a_rerun_completes() {
    interrupt_a_native_sync(1);
}

#[test]
fn a_second_ctrl_c_ends_the_run_at_once() {
    interrupt_a_native_sync(2);
}

#[test]
fn a_missing_source_is_a_clear_immediate_error() {
    let a = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let plan = one_sync(
        &format!("{}/nope/img:1", a.host()),
        &format!("{}/dst/img:1", a.host()),
    );
    let started = Instant::now();
    let run = apply(work.path(), &plan, &[], &[]);
    assert_eq!(run.code, 1);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        run.output.contains(&format!("{}/nope/img:1", a.host()))
            && run.output.contains("not found"),
        "{}",
        run.output
    );
}

#[test]
fn publish_at_end_moves_no_tag_unless_every_job_succeeded() {
    let r = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let image = test_image(work.path(), "32K", "16K", 31);
    seed(&image, "1", &r.image());
    let plan = |broken: bool| {
        let missing = if broken { "nope" } else { "src" };
        format!(
            "version: 1\nsyncs:\n  a:\n    from: {h}/src/img:1\n    to: {h}/mid/img:1\n  b:\n    from: {h}/mid/img:1\n    to: {h}/dst/img:1\n  c:\n    from: {h}/{missing}/img:1\n    to: {h}/other/img:1\n",
            h = r.host()
        )
    };
    let run = apply(
        work.path(),
        &plan(true),
        &[],
        &[
            "--publish",
            "at-end",
            "--continue",
            "dependencies-successful",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("Nothing published"), "{}", run.output);
    // b read a's output where it already was, by digest, although a's tag had not moved.
    assert!(
        run.output.contains("is held back in this run: reading"),
        "{}",
        run.output
    );
    for tag in ["mid/img:1", "dst/img:1", "other/img:1"] {
        assert!(
            skopeo_raw(&format!("{}/{tag}", r.host()), &[]).is_none(),
            "{tag} was published by a failed run"
        );
    }

    let run = apply(work.path(), &plan(false), &[], &["--publish", "at-end"]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert!(
        run.output
            .contains("Published: every job succeeded, 3 tag moves done."),
        "{}",
        run.output
    );
    let source = skopeo_raw(&r.image(), &[]).unwrap();
    for tag in ["mid/img:1", "dst/img:1", "other/img:1"] {
        assert_eq!(
            skopeo_raw(&format!("{}/{tag}", r.host()), &[]).unwrap(),
            source,
            "{tag}"
        );
    }
}
