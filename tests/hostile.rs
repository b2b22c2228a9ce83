//! `plan` against a registry that means harm (`tests/support/hostile.rs`):
//! credentials sent on to another host, content under the wrong digest, a
//! manifest of gigabytes, a registry that never answers, and escape
//! sequences in error bodies. Each test runs the real `plan` binary.

#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/run.rs"]
mod run;
#[path = "support/registry.rs"]
mod support;

use run::{Run, run_plan};

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hostile::{Reply, Request};
use support::{docker_config, make_tls, root, test_image};

const SECRET: &str = "s3cret-password";

/// Runs `plan ARGS` in `dir` with `plan.yaml` holding `plan`, the Docker
/// config in `dir/docker-config`.
fn plan(dir: &Path, plan: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let config = dir.join("docker-config").display().to_string();
    let mut env = env.to_vec();
    env.insert(0, ("DOCKER_CONFIG", config.as_str()));
    run_plan(dir, plan, args, &env)
}

fn sync_plan(from: &str, to: &str) -> String {
    format!("version: 1\nsyncs:\n  img:\n    from: {from}\n    to: {to}\n")
}

fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// A registry that wants Basic credentials and sends every blob upload to
/// `upload_host` (another origin).
fn registry_sending_uploads_to(upload_host: String) -> hostile::Hostile {
    hostile::start(move |req: &Request| {
        if req.header("authorization").is_none() {
            return Reply::with(401, &[("WWW-Authenticate", "Basic realm=\"r\"")], b"");
        }
        match req.method.as_str() {
            "POST" if req.path.contains("/blobs/uploads/") => Reply::with(
                202,
                &[(
                    "Location",
                    &format!("http://{upload_host}/upload/session-1?_state=x"),
                )],
                b"",
            ),
            "PUT" => Reply::status(201),
            _ => Reply::status(404),
        }
    })
}

#[test]
fn credentials_never_go_to_another_origin() {
    let work = tempfile::tempdir().unwrap();
    let layout = test_image(work.path(), "16K", "8K", 7);
    // The upload host accepts anything; it must never see the password.
    let elsewhere = hostile::start(|req: &Request| match req.method.as_str() {
        "PUT" => Reply::status(201),
        _ => Reply::status(202),
    });
    let registry = registry_sending_uploads_to(elsewhere.host());
    docker_config(work.path(), &registry.host(), "user", SECRET);
    let run = plan(
        work.path(),
        &sync_plan(
            &format!("oci:{}:1", layout.display()),
            &format!("{}/dst/img:1", registry.host()),
        ),
        &["apply", "--progress", "plain"],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.output);
    let uploads = elsewhere.requests();
    assert!(
        uploads.iter().filter(|r| r.method == "PUT").count() >= 3,
        "the blobs went to the upload host: {uploads:?}"
    );
    assert!(
        uploads.iter().all(|r| r.header("authorization").is_none()),
        "credentials leaked to another origin: {uploads:?}"
    );
    assert!(
        registry
            .requests()
            .iter()
            .any(|r| r.header("authorization").is_some()),
        "the registry itself did get its credentials"
    );
    assert!(!run.output.contains(SECRET));
}

#[test]
fn another_origin_that_asks_for_credentials_gets_none_and_the_run_says_why() {
    let work = tempfile::tempdir().unwrap();
    let layout = test_image(work.path(), "16K", "8K", 8);
    let elsewhere = hostile::start(|_: &Request| {
        Reply::with(401, &[("WWW-Authenticate", "Basic realm=\"give\"")], b"")
    });
    let registry = registry_sending_uploads_to(elsewhere.host());
    docker_config(work.path(), &registry.host(), "user", SECRET);
    let run = plan(
        work.path(),
        &sync_plan(
            &format!("oci:{}:1", layout.display()),
            &format!("{}/dst/img:1", registry.host()),
        ),
        &["apply", "--progress", "plain"],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(
        run.output.contains("which asks for credentials"),
        "{}",
        run.output
    );
    assert!(
        elsewhere
            .requests()
            .iter()
            .all(|r| r.header("authorization").is_none())
    );
    assert!(!run.output.contains(SECRET));
}

/// A registry whose manifests at `src/img` are `served`, declared (by
/// `HEAD` and `GET`) to have `claimed` as their digest.
fn lying_registry(served: Vec<u8>, claimed: String) -> hostile::Hostile {
    hostile::start(move |req: &Request| {
        if req.path.starts_with("/v2/src/img/manifests/") {
            Reply::with(
                200,
                &[
                    ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                    ("Docker-Content-Digest", &claimed),
                ],
                &served,
            )
        } else {
            Reply::status(404)
        }
    })
}

#[test]
fn content_under_the_wrong_digest_is_refused_and_nothing_is_published() {
    let work = tempfile::tempdir().unwrap();
    let honest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    let claimed = digest(honest);
    let registry = lying_registry(evil(honest), claimed.clone());
    // By digest: the content must hash to it. By tag: to what the registry declares.
    let plan_text = format!(
        "version: 1\nsyncs:\n  by-digest:\n    from: {host}/src/img@{claimed}\n    to: oci:out:by-digest\n  by-tag:\n    from: {host}/src/img:1\n    to: oci:out:by-tag\n",
        host = registry.host()
    );
    let run = plan(
        work.path(),
        &plan_text,
        &["apply", "--progress", "plain", "--continue", "always"],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.output);
    for job in ["sync.by-digest", "sync.by-tag"] {
        assert!(
            run.output.lines().any(|l| l.contains(job)
                && l.contains("FAILED")
                && l.contains("received content with digest")),
            "{job} refuses the content: {}",
            run.output
        );
    }
    assert!(
        !work.path().join("out/index.json").exists(),
        "nothing published"
    );
}

/// The same manifest with one more space: other bytes, another digest.
fn evil(honest: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(honest)
        .replace("\"layers\":[]", "\"layers\":[] ")
        .into_bytes()
}

#[test]
fn a_manifest_of_gigabytes_is_refused_without_being_read() {
    let work = tempfile::tempdir().unwrap();
    let claimed = format!("sha256:{}", "a".repeat(64));
    let registry = hostile::start(move |req: &Request| {
        if req.method == "HEAD" {
            Reply::with(200, &[("Docker-Content-Digest", &claimed)], b"")
        } else if req.path.contains("/manifests/") {
            Reply::Huge {
                status: 200,
                len: 3 << 30,
            }
        } else {
            Reply::status(404)
        }
    });
    let run = plan(
        work.path(),
        &sync_plan(&format!("{}/src/img:1", registry.host()), "oci:out:1"),
        &["apply", "--progress", "plain"],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(
        run.output.contains("a manifest over 4096 KiB"),
        "{}",
        run.output
    );
}

#[test]
fn a_registry_that_never_answers_is_bounded_by_timeout_in_diff_and_apply() {
    let work = tempfile::tempdir().unwrap();
    let registry = hostile::start(|_: &Request| Reply::Stall);
    let plan_text = sync_plan(&format!("{}/src/img:1", registry.host()), "oci:out:1");
    let diff = plan(work.path(), &plan_text, &["diff", "--timeout", "2s"], &[]);
    assert_eq!(diff.code, 1, "{}", diff.output);
    assert!(
        diff.output.contains("no answer within 2s (--timeout)"),
        "{}",
        diff.output
    );
    let apply = plan(
        work.path(),
        &plan_text,
        &["apply", "--progress", "plain", "--timeout", "2s"],
        &[],
    );
    assert_eq!(apply.code, 1, "{}", apply.output);
    assert!(
        apply.output.contains("no answer within 2s (--timeout)"),
        "{}",
        apply.output
    );
}

#[test]
fn escape_sequences_from_a_registry_reach_no_terminal_and_forge_no_annotation() {
    let work = tempfile::tempdir().unwrap();
    let claimed = format!("sha256:{}", "b".repeat(64));
    let registry = hostile::start(move |req: &Request| {
        if req.method == "HEAD" {
            Reply::with(200, &[("Docker-Content-Digest", &claimed)], b"")
        } else {
            Reply::with(
                400,
                &[],
                b"\x1b]0;pwned\x07\x1b[2J\n::error file=plan.yaml,line=1::forged\r\nend",
            )
        }
    });
    for github in ["false", "true"] {
        let run = plan(
            work.path(),
            &sync_plan(&format!("{}/src/img:1", registry.host()), "oci:out:1"),
            &["apply", "--progress", "plain"],
            &[("GITHUB_ACTIONS", github)],
        );
        assert_eq!(run.code, 1, "{}", run.output);
        assert!(!run.output.contains('\x1b'), "raw escape: {:?}", run.output);
        assert!(!run.output.contains('\x07'), "raw bell: {:?}", run.output);
        assert!(
            !run.output
                .lines()
                .any(|l| l.starts_with("::error file=plan.yaml")),
            "forged annotation: {}",
            run.output
        );
        assert!(
            run.output.contains("\\x1b[2J\\n::error file=plan.yaml"),
            "shown escaped: {}",
            run.output
        );
    }
}

#[test]
fn a_layout_blob_that_links_out_of_the_layout_is_never_read() {
    let work = tempfile::tempdir().unwrap();
    let layout = test_image(work.path(), "16K", "8K", 9);
    // Every layer of the image becomes a link to a private file.
    let private = work.path().join("id_ed25519");
    std::fs::write(&private, "PRIVATE KEY MATERIAL").unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let blobs = layout.join("blobs/sha256");
    let mut linked = 0;
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::metadata(&path).unwrap().len() > 4096 {
            std::fs::remove_file(&path).unwrap();
            std::os::unix::fs::symlink(&private, &path).unwrap();
            linked += 1;
        }
    }
    assert!(linked > 0, "the image has layers: {index}");
    let registry = hostile::start(|req: &Request| match req.method.as_str() {
        "POST" => Reply::with(202, &[("Location", "/upload/1")], b""),
        "PUT" => Reply::status(201),
        _ => Reply::status(404),
    });
    let run = plan(
        work.path(),
        &sync_plan(
            &format!("oci:{}:1", layout.display()),
            &format!("{}/dst/img:1", registry.host()),
        ),
        &["apply", "--progress", "plain"],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("not a regular file"), "{}", run.output);
    let secret_len = "PRIVATE KEY MATERIAL".len();
    assert!(
        registry.requests().iter().all(|r| r.body_len != secret_len),
        "the private file was uploaded"
    );
}

#[test]
fn an_https_registry_whose_token_realm_is_plain_http_gets_no_password() {
    let work = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_tls(work.path());
    // The realm: plain HTTP, recording what reaches it.
    let realm = hostile::start(|_: &Request| Reply::with(200, &[], b"{\"token\":\"t\"}"));
    let port_file = work.path().join("port");
    let mut registry = Command::new(root().join("tests/support/tls-registry.py"))
        .arg(&port_file)
        .arg(&cert)
        .arg(&key)
        .arg(format!("http://{}/token", realm.host()))
        .spawn()
        .expect("python3 runs the TLS registry");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !port_file.exists() {
        assert!(Instant::now() < deadline, "the TLS registry did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let host = format!("127.0.0.1:{}", std::fs::read_to_string(&port_file).unwrap());
    docker_config(work.path(), &host, "user", SECRET);
    let plan_text = format!(
        "version: 1\nregistries:\n  \"{host}\":\n    insecure: false\n    ca_file: {}\nsyncs:\n  img:\n    from: {host}/src/img:1\n    to: oci:out:1\n",
        ca.display()
    );
    let run = plan(
        work.path(),
        &plan_text,
        &["apply", "--progress", "plain"],
        &[],
    );
    registry.kill().unwrap();
    registry.wait().unwrap();
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("over plain HTTP"), "{}", run.output);
    assert!(
        realm.requests().is_empty(),
        "the plain-HTTP realm was asked: {:?}",
        realm.requests()
    );
    assert!(!run.output.contains(SECRET));
}
