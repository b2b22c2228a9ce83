//! Repository syncs against real `docker-registry` instances (each test
//! starts its own), skopeo as the judge of what landed: tag selections,
//! new upstream tags, `{{ tag }}` targets, pruning behind `--allow-delete`.

#[path = "support/run.rs"]
mod run;
#[path = "support/registry.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use run::{Run, run_plan};
use support::{TestRegistry, seed, test_image};

/// The source repository of every test: `HOST/src/app` with these tags,
/// each a different two-platform image.
const TAGS: &[&str] = &["1.0.0", "1.1.0", "1.2.0", "1.2.1-rc1", "2.0.0", "latest"];

fn seed_tags(registry: &TestRegistry, dir: &Path, tags: &[&str], seed_base: u32) {
    for (i, tag) in tags.iter().enumerate() {
        let layout = test_image(dir, "32K", "8K", seed_base + i as u32);
        seed(&layout, "1", &format!("{}/src/app:{tag}", registry.host()));
    }
}

/// The tags of a repository, sorted, as skopeo lists them.
fn tags_of(repository: &str) -> Vec<String> {
    let out = Command::new("skopeo")
        .args(["list-tags", "--tls-verify=false"])
        .arg(format!("docker://{repository}"))
        .output()
        .unwrap();
    if !out.status.success() {
        return Vec::new();
    }
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut tags: Vec<String> = listed["Tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    tags
}

fn digest_of(reference: &str) -> String {
    let raw = support::skopeo_raw(reference, &[]).unwrap_or_else(|| panic!("{reference}"));
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(&raw)))
}

use sha2::Digest as _;

fn plan_for(registry: &TestRegistry, to: &str, tags: &str, extra: &str) -> String {
    format!(
        "version: 1\nsyncs:\n  app:\n    from: {host}/src/app\n    to: {host}/{to}\n    tags:\n{tags}{extra}",
        host = registry.host()
    )
}

fn plan(dir: &Path, text: &str, args: &[&str]) -> Run {
    run_plan(dir, text, args, &[])
}

#[test]
fn each_selection_lands_exactly_its_tags() {
    let registry = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    seed_tags(&registry, work.path(), TAGS, 1);
    // (selection, the tags it lands)
    let table: &[(&str, &[&str])] = &[
        ("      semver: \">=1.1\"\n", &["1.1.0", "1.2.0", "2.0.0"]),
        ("      semver: \"^1\"\n", &["1.0.0", "1.1.0", "1.2.0"]),
        ("      semver: \">=1.2.1-rc0\"\n", &["1.2.1-rc1", "2.0.0"]),
        (
            "      include: ['^1\\.']\n      exclude: ['-rc']\n",
            &["1.0.0", "1.1.0", "1.2.0"],
        ),
        (
            "      latest: 2\n      exclude: [latest]\n",
            &["1.2.1-rc1", "2.0.0"],
        ),
        (
            "      semver: \">=1\"\n      latest: 2\n",
            &["1.2.0", "2.0.0"],
        ),
        ("      include: ['^latest$']\n", &["latest"]),
    ];
    for (i, (selection, expected)) in table.iter().enumerate() {
        let to = format!("mirror{i}/app");
        let text = plan_for(&registry, &to, selection, "");
        let run = plan(
            work.path(),
            &text,
            &[
                "apply",
                "--progress",
                "plain",
                "--metadata-file",
                "metadata.json",
                "--summary-file",
                "summary.json",
            ],
        );
        assert_eq!(run.code, 0, "{selection}: {}", run.output);
        // The summary names each tag copied and its digest.
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(work.path().join("summary.json")).unwrap(),
        )
        .unwrap();
        let copied = summary["jobs"][0]["outcome"]["copied"].as_object().unwrap();
        let mut names: Vec<&str> = copied.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, *expected, "{selection}");
        assert_eq!(
            tags_of(&format!("{}/{to}", registry.host())),
            *expected,
            "{selection}"
        );
        for tag in *expected {
            assert_eq!(
                digest_of(&format!("{}/{to}:{tag}", registry.host())),
                digest_of(&format!("{}/src/app:{tag}", registry.host())),
                "{to}:{tag} is its source, byte for byte"
            );
        }
    }
}

#[test]
fn a_new_upstream_tag_shows_in_diff_and_lands_and_a_deselected_one_is_pruned_only_when_allowed() {
    let registry = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    seed_tags(&registry, work.path(), TAGS, 1);
    let host = registry.host();
    let text = plan_for(
        &registry,
        "mirror/app:{{ tag }}-m",
        "      semver: \">=1.1\"\n",
        "    prune: true\n",
    );
    let run = plan(work.path(), &text, &["apply", "--progress", "plain"]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(
        tags_of(&format!("{host}/mirror/app")),
        ["1.1.0-m", "1.2.0-m", "2.0.0-m"]
    );
    // Nothing to do: no manifest is read again (`HEAD`s only).
    let gets = |log: &str| log.matches("GET /v2/src/app/manifests/").count();
    let before = gets(&registry.log());
    let run = plan(work.path(), &text, &["diff", "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert!(
        run.output.contains("=   sync.app  2.0.0") || run.output.contains("= sync.app  2.0.0"),
        "{}",
        run.output
    );
    assert_eq!(
        gets(&registry.log()),
        before,
        "an up-to-date tag was read with GET"
    );

    // Upstream publishes 2.1.0: `+` in the diff, and apply lands it.
    seed_tags(&registry, work.path(), &["2.1.0"], 20);
    let run = plan(work.path(), &text, &["diff", "--detailed-exitcode"]);
    assert_eq!(run.code, 2, "{}", run.output);
    assert!(
        run.output.contains("+ sync.app  2.1.0 (sha256:"),
        "{}",
        run.output
    );
    assert!(run.output.contains("= sync.app  1.1.0\n"), "{}", run.output);
    let run = plan(work.path(), &text, &["apply", "--progress", "plain"]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(
        digest_of(&format!("{host}/mirror/app:2.1.0-m")),
        digest_of(&format!("{host}/src/app:2.1.0"))
    );

    // The selection narrows: 1.1.0 is no longer selected.
    let narrower = text.replace(">=1.1", ">=1.2");
    let run = plan(work.path(), &narrower, &["diff"]);
    assert!(
        run.output
            .contains("- sync.app  1.1.0-m (no longer selected)"),
        "{}",
        run.output
    );
    let run = plan(work.path(), &narrower, &["apply", "--progress", "plain"]);
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("--allow-delete"), "{}", run.output);
    assert!(run.output.contains("mirror/app:1.1.0-m"), "{}", run.output);
    assert!(
        tags_of(&format!("{host}/mirror/app")).contains(&"1.1.0-m".to_owned()),
        "deleted without --allow-delete"
    );
    let run = plan(
        work.path(),
        &narrower,
        &["apply", "--progress", "plain", "--allow-delete"],
    );
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(
        tags_of(&format!("{host}/mirror/app")),
        ["1.2.0-m", "2.0.0-m", "2.1.0-m"]
    );
    let run = plan(work.path(), &narrower, &["diff", "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "after pruning, nothing to do: {}", run.output);
}

#[test]
fn pruning_never_takes_an_image_another_tag_still_has() {
    let registry = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    seed_tags(&registry, work.path(), &["1.0.0", "2.0.0"], 1);
    let host = registry.host();
    // `{{ tag }}-m`: the sync owns only the tags its template makes (with
    // same-name targets it would own the whole repository).
    let text = plan_for(
        &registry,
        "mirror/app:{{ tag }}-m",
        "      semver: \">=1\"\n",
        "    prune: true\n",
    );
    assert_eq!(plan(work.path(), &text, &["apply"]).code, 0);
    // A tag outside the sync's selection that shares 1.0.0's image.
    let layout = test_image(work.path(), "32K", "8K", 1);
    seed(&layout, "1", &format!("{host}/mirror/app:pinned"));
    let kept = digest_of(&format!("{host}/mirror/app:pinned"));
    assert_eq!(kept, digest_of(&format!("{host}/mirror/app:1.0.0-m")));
    let narrower = text.replace("semver: \">=1\"", "semver: \">=2\"");
    let run = plan(
        work.path(),
        &narrower,
        &["apply", "--allow-delete", "--progress", "plain"],
    );
    assert_eq!(run.code, 0, "{}", run.output);
    let tags = tags_of(&format!("{host}/mirror/app"));
    assert_eq!(tags, ["2.0.0-m", "pinned"]);
    assert_eq!(
        digest_of(&format!("{host}/mirror/app:pinned")),
        kept,
        "the shared image stays"
    );
}

#[test]
fn a_repository_sync_plan_is_checked_before_anything_runs() {
    let work = tempfile::tempdir().unwrap();
    let text = "version: 1\nsyncs:\n  app:\n    from: r.example/src/app:1\n    to: r.example/m/app:one\n    tags:\n      semver: \"nope\"\n";
    let run = plan(work.path(), text, &["validate"]);
    assert_eq!(run.code, 1, "{}", run.output);
    for words in [
        "plan::repository-sync-tag",
        "plan::repository-sync-target",
        "plan::bad-tag-selection",
        "plan.yaml:5:",
    ] {
        assert!(run.output.contains(words), "{words}: {}", run.output);
    }
    let pruned = "version: 1\nsyncs:\n  app:\n    from: r.example/src/app:1\n    to: r.example/m/app:1\n    prune: true\n";
    let run = plan(work.path(), pruned, &["validate"]);
    assert!(
        run.output.contains("plan::prune-needs-tags"),
        "{}",
        run.output
    );
}

/// The annotations of the index at `reference`, as skopeo reads it.
fn index_annotations(reference: &str) -> serde_json::Value {
    let raw = support::skopeo_raw(reference, &[]).unwrap_or_else(|| panic!("{reference}"));
    let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    index["annotations"].clone()
}

#[test]
fn annotations_land_on_the_index_of_a_filtered_sync_and_a_combine() {
    let registry = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let host = registry.host();
    let layout = test_image(work.path(), "32K", "8K", 1);
    seed(&layout, "1", &format!("{host}/src/img:1"));
    for arch in ["amd64", "arm64"] {
        seed(&layout, arch, &format!("{host}/src/img:{arch}"));
    }
    let text = |description: &str| {
        format!(
            "version: 1
syncs:
  filtered:
    from: {host}/src/img:1
    to: {host}/out/filtered:1
    platforms: [linux/arm64]
    annotations:
      org.opencontainers.image.description: {description}
combines:
  both:
    from:
      linux/amd64: {host}/src/img:amd64
      linux/arm64: {host}/src/img:arm64
    to: {host}/out/both:1
    annotations:
      org.opencontainers.image.description: {description}
"
        )
    };
    let run = plan(
        work.path(),
        &text("first"),
        &["apply", "--progress", "plain"],
    );
    assert_eq!(run.code, 0, "{}", run.output);
    for target in ["filtered", "both"] {
        let annotations = index_annotations(&format!("{host}/out/{target}:1"));
        assert_eq!(
            annotations["org.opencontainers.image.description"], "first",
            "{target}: {annotations}"
        );
    }
    let run = plan(
        work.path(),
        &text("first"),
        &["diff", "--detailed-exitcode"],
    );
    assert_eq!(
        run.code, 0,
        "unchanged annotations, nothing to do: {}",
        run.output
    );
    // Another description: both indexes change, and apply writes them.
    let run = plan(
        work.path(),
        &text("second"),
        &["diff", "--detailed-exitcode"],
    );
    assert_eq!(run.code, 2, "{}", run.output);
    assert!(run.output.contains("~ sync.filtered"), "{}", run.output);
    assert!(run.output.contains("~ combine.both"), "{}", run.output);
    let run = plan(
        work.path(),
        &text("second"),
        &["apply", "--progress", "plain"],
    );
    assert_eq!(run.code, 0, "{}", run.output);
    for target in ["filtered", "both"] {
        let annotations = index_annotations(&format!("{host}/out/{target}:1"));
        assert_eq!(
            annotations["org.opencontainers.image.description"],
            "second"
        );
    }
    // A whole-image sync cannot carry them: said at the field.
    let whole = format!(
        "version: 1\nsyncs:\n  whole:\n    from: {host}/src/img:1\n    to: {host}/out/whole:1\n    annotations:\n      a: b\n"
    );
    let run = plan(work.path(), &whole, &["validate"]);
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(
        run.output.contains("plan::annotations-whole-image"),
        "{}",
        run.output
    );
    assert!(run.output.contains("plan.yaml:7:"), "{}", run.output);
}

#[path = "support/fault_proxy.rs"]
mod fault_proxy;

/// Pushes a cosign-style signature for the image at `subject` (a digest in
/// `host/repository`): an OCI manifest with one small layer. Under a tag
/// (`sha256-HEX.sig`, the tag schema) or by digest with a `subject` (the
/// referrers API). Returns its digest.
fn push_signature(
    host: &str,
    repository: &str,
    subject: &str,
    tag: Option<&str>,
    payload: &str,
) -> String {
    use sha2::Digest as _;
    let sha = |bytes: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
    let subject_raw = support::skopeo_raw(&format!("{host}/{repository}@{subject}"), &[]).unwrap();
    let subject_type: serde_json::Value = serde_json::from_slice(&subject_raw).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        for blob in [b"{}".to_vec(), payload.as_bytes().to_vec()] {
            let started = http
                .post(format!("http://{host}/v2/{repository}/blobs/uploads/"))
                .send()
                .await
                .unwrap();
            assert_eq!(started.status(), 202);
            let location = started.headers()["location"].to_str().unwrap().to_owned();
            let url = if location.starts_with("http") {
                location
            } else {
                format!("http://{host}{location}")
            };
            let separator = if url.contains('?') { '&' } else { '?' };
            let done = http
                .put(format!("{url}{separator}digest={}", sha(&blob)))
                .body(blob.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(done.status(), 201, "{}", done.text().await.unwrap());
        }
        let mut manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(b"{}"), "size": 2},
            "layers": [{
                "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "digest": sha(payload.as_bytes()),
                "size": payload.len(),
            }],
        });
        if tag.is_none() {
            manifest["subject"] = serde_json::json!({
                "mediaType": subject_type["mediaType"],
                "digest": subject,
                "size": subject_raw.len(),
            });
        }
        let body = manifest.to_string();
        let digest = sha(body.as_bytes());
        let reference = tag.map_or(digest.clone(), str::to_owned);
        let pushed = http
            .put(format!("http://{host}/v2/{repository}/manifests/{reference}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(pushed.status(), 201, "{}", pushed.text().await.unwrap());
        digest
    })
}

#[test]
fn cosign_signature_tags_travel_with_their_image_once() {
    let registry = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let host = registry.host();
    let layout = test_image(work.path(), "32K", "8K", 1);
    seed(&layout, "1", &format!("{host}/src/img:1"));
    let image = digest_of(&format!("{host}/src/img:1"));
    let sig_tag = format!("sha256-{}.sig", image.trim_start_matches("sha256:"));
    let signature = push_signature(&host, "src/img", &image, Some(&sig_tag), "{\"critical\":1}");
    let text = format!(
        "version: 1\nsyncs:\n  one:\n    from: {host}/src/img:1\n    to: {host}/dst/img:1\n  all:\n    from: {host}/src/img\n    to: {host}/repo/img\n    tags:\n      include: ['.']\n"
    );
    let run = plan(work.path(), &text, &["diff"]);
    assert!(
        run.output.contains("with 1 signatures and attestations"),
        "{}",
        run.output
    );
    let run = plan(work.path(), &text, &["apply", "--progress", "plain"]);
    assert_eq!(run.code, 0, "{}", run.output);
    for target in ["dst/img", "repo/img"] {
        assert_eq!(
            digest_of(&format!("{host}/{target}:{sig_tag}")),
            signature,
            "{target}"
        );
        assert_eq!(digest_of(&format!("{host}/{target}:1")), image, "{target}");
    }
    // The signature tag is the image's, never a tag of its own to select.
    assert_eq!(
        tags_of(&format!("{host}/repo/img")),
        ["1".to_owned(), sig_tag.clone()]
    );

    // Again: nothing to do, nothing written.
    let puts = |log: &str| log.matches("\"PUT ").count();
    let before = puts(&registry.log());
    let run = plan(work.path(), &text, &["diff", "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "{}", run.output);
    let run = plan(work.path(), &text, &["apply", "--progress", "plain"]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(puts(&registry.log()), before, "a re-run wrote something");

    // An attestation added upstream is found and copied.
    let att_tag = sig_tag.replace(".sig", ".att");
    let attestation = push_signature(
        &host,
        "src/img",
        &image,
        Some(&att_tag),
        "{\"predicate\":1}",
    );
    let run = plan(work.path(), &text, &["diff", "--detailed-exitcode"]);
    assert_eq!(run.code, 2, "{}", run.output);
    assert!(
        run.output
            .contains("1 of 2 signatures and attestations to copy"),
        "{}",
        run.output
    );
    let run = plan(work.path(), &text, &["apply", "--progress", "plain"]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(digest_of(&format!("{host}/dst/img:{att_tag}")), attestation);
    // `referrers: false` leaves them behind.
    let off = format!(
        "version: 1\nsyncs:\n  bare:\n    from: {host}/src/img:1\n    to: {host}/bare/img:1\n    referrers: false\n"
    );
    assert_eq!(plan(work.path(), &off, &["apply"]).code, 0);
    assert_eq!(tags_of(&format!("{host}/bare/img")), ["1"]);
}

#[test]
fn referrers_go_through_the_referrers_api_and_to_a_fallback_index_where_there_is_none() {
    let registry = TestRegistry::start("");
    let plain = TestRegistry::start("");
    let proxy = fault_proxy::start(
        registry.port,
        fault_proxy::Behaviour {
            referrers: true,
            ..Default::default()
        },
    );
    let api = format!("127.0.0.1:{}", proxy.port);
    let work = tempfile::tempdir().unwrap();
    let layout = test_image(work.path(), "32K", "8K", 1);
    seed(&layout, "1", &format!("{api}/src/img:1"));
    let image = digest_of(&format!("{api}/src/img:1"));
    let signature = push_signature(&api, "src/img", &image, None, "{\"signed\":1}");
    let text = format!(
        "version: 1\nsyncs:\n  api:\n    from: {api}/src/img:1\n    to: {api}/dst/img:1\n  fallback:\n    from: {api}/src/img:1\n    to: {plain}/dst/img:1\n",
        plain = plain.host()
    );
    let run = plan(work.path(), &text, &["apply", "--progress", "plain"]);
    assert_eq!(run.code, 0, "{}", run.output);
    // Where the target has the API, it lists the signature.
    let listed = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{api}/dst/img@{signature}"))
        .output()
        .unwrap();
    assert!(listed.status.success(), "the signature was not pushed");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let referrers: serde_json::Value = runtime.block_on(async {
        reqwest::get(format!("http://{api}/v2/dst/img/referrers/{image}"))
            .await
            .unwrap()
            .bytes()
            .await
            .map(|body| serde_json::from_slice(&body).unwrap())
            .unwrap()
    });
    assert_eq!(
        referrers["manifests"][0]["digest"], signature,
        "{referrers}"
    );
    // Where it has not, the fallback index `sha256-HEX` names it.
    let fallback = format!(
        "{}/dst/img:sha256-{}",
        plain.host(),
        image.trim_start_matches("sha256:")
    );
    let index: serde_json::Value =
        serde_json::from_slice(&support::skopeo_raw(&fallback, &[]).expect("no fallback index"))
            .unwrap();
    assert_eq!(index["manifests"][0]["digest"], signature, "{index}");
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/vnd.dev.cosign.artifact.sig.v1+json"
    );
    let run = plan(work.path(), &text, &["diff", "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "copied once: {}", run.output);
}

#[test]
fn requests_per_second_spreads_a_mirror_out() {
    let registry = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    seed_tags(&registry, work.path(), &["1.0.0", "2.0.0"], 1);
    let host = registry.host();
    let before = registry.log().len();
    let text = format!(
        "version: 1\nregistries:\n  {host}:\n    requests_per_second: 20\n{}",
        plan_for(&registry, "mirror/app", "      include: ['.']\n", "")
            .trim_start_matches("version: 1\n")
    );
    let run = plan(work.path(), &text, &["apply", "--progress", "plain"]);
    assert_eq!(run.code, 0, "{}", run.output);
    // The access log stamps each request with its second: no second holds
    // more than the limit (one more for a request its slot's neighbours
    // delayed across a second's edge), and there were many.
    let log = registry.log()[before..].to_owned();
    let mut per_second: std::collections::BTreeMap<&str, usize> = Default::default();
    for line in log.lines().filter(|l| l.contains("\"buildplan/")) {
        if let Some(stamp) = line.split('[').nth(1).and_then(|s| s.split(' ').next()) {
            *per_second.entry(stamp).or_default() += 1;
        }
    }
    let total: usize = per_second.values().sum();
    assert!(total > 30, "{total} requests: {log}");
    assert!(per_second.values().all(|n| *n <= 21), "{per_second:?}");
}

#[test]
fn an_interrupted_repository_sync_leaves_no_tag_on_incomplete_content_and_a_rerun_completes() {
    let source = TestRegistry::start("");
    let target = TestRegistry::start("");
    let work = tempfile::tempdir().unwrap();
    let tags = ["1.0.0", "1.1.0", "1.2.0", "2.0.0"];
    for (i, tag) in tags.iter().enumerate() {
        let layout = test_image(work.path(), "256K", "1M", 40 + i as u32);
        seed(&layout, "1", &format!("{}/src/app:{tag}", source.host()));
    }
    // Slow uploads, so the signal lands in the middle of them.
    let proxy = fault_proxy::start(
        target.port,
        fault_proxy::Behaviour {
            throttle: Some(std::time::Duration::from_millis(40)),
            ..Default::default()
        },
    );
    let mirror = format!("127.0.0.1:{}", proxy.port);
    let text = format!(
        "version: 1\nsyncs:\n  app:\n    from: {}/src/app\n    to: {mirror}/mirror/app\n    tags:\n      semver: \">=1\"\n",
        source.host()
    );
    std::fs::write(work.path().join("plan.yaml"), &text).unwrap();
    let (code, output) = fault_proxy::interrupted_apply(work.path(), &proxy, 1);
    assert_eq!(code, Some(130), "{output}");
    // Every tag that exists holds its source's image whole: skopeo reads it all.
    let landed = tags_of(&format!("{}/mirror/app", target.host()));
    assert!(
        landed.len() < tags.len(),
        "the run was not interrupted: {output}"
    );
    for tag in &landed {
        let copy = Command::new("skopeo")
            .args(["copy", "--all", "--src-tls-verify=false"])
            .arg(format!("docker://{}/mirror/app:{tag}", target.host()))
            .arg(format!("oci:{}/check-{tag}:x", work.path().display()))
            .output()
            .unwrap();
        assert!(
            copy.status.success(),
            "{tag} is incomplete: {}",
            String::from_utf8_lossy(&copy.stderr)
        );
    }
    let run = plan(work.path(), &text, &["apply", "--progress", "plain"]);
    assert_eq!(run.code, 0, "{}", run.output);
    for tag in tags {
        assert_eq!(
            digest_of(&format!("{}/mirror/app:{tag}", target.host())),
            digest_of(&format!("{}/src/app:{tag}", source.host()))
        );
    }
}

#[test]
fn ls_and_show_name_a_repository_sync_as_written() {
    let work = tempfile::tempdir().unwrap();
    let text = "version: 1\nsyncs:\n  app:\n    from: r.example/src/app\n    to: r.example/mirror/app:{{ tag }}-m\n    tags:\n      semver: \">=1\"\n";
    let run = plan(work.path(), text, &["ls"]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert!(
        run.output
            .contains("sync.app  tags of r.example/src/app -> r.example/mirror/app:{{ tag }}-m"),
        "{}",
        run.output
    );
    let run = plan(work.path(), text, &["show"]);
    let shown: serde_json::Value = serde_json::from_str(&run.output).unwrap();
    assert_eq!(shown["syncs"][0]["from"], "r.example/src/app");
    assert_eq!(
        shown["syncs"][0]["to"][0],
        "r.example/mirror/app:{{ tag }}-m"
    );
    assert_eq!(shown["syncs"][0]["repository"]["tags"]["semver"], ">=1");
}
