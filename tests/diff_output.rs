//! The three forms of `plan diff`, snapshotted on a fixed set of changes,
//! and the markdown report's size limit.

use buildplan::plan::address::{Address, JobKind};
use buildplan::report::diff::{MARKDOWN_LIMIT, json, markdown, text};
use buildplan::state::{Action, Change};

fn change(kind: JobKind, name: &str, action: Action, reason: &str) -> Change {
    Change::new(Address::new(kind, name), action, reason)
}

fn example() -> Vec<Change> {
    let mut sync = change(
        JobKind::Sync,
        "alpine",
        Action::Update,
        "docker.io/tangx/alpine:3.12  sha256:1a2b3c4d5e6f… -> sha256:9f8e7d6c5b4a…",
    );
    sync.current = Some(format!("sha256:1a2b3c4d5e6f{}", "0".repeat(52)));
    sync.desired = Some(format!("sha256:9f8e7d6c5b4a{}", "0".repeat(52)));
    sync.details = vec![
        "docker.io/tangx/alpine:3.12: sha256:1a2b3c4d5e6f… -> sha256:9f8e7d6c5b4a…".into(),
        "docker.io/tangx/alpine:latest: sha256:1a2b3c4d5e6f… -> sha256:9f8e7d6c5b4a…".into(),
    ];
    vec![
        change(
            JobKind::Builder,
            "remotebuilder",
            Action::Create,
            "create (2 nodes: hk-amd64 linux/amd64, hk-arm64 linux/arm64)",
        ),
        change(
            JobKind::Builder,
            "cache",
            Action::Replace,
            "replace: node n1: buildkitd.toml changed (mirrors or buildkitd_config)",
        ),
        change(
            JobKind::Build,
            "centos",
            Action::Build,
            "inputs changed (Dockerfile)",
        ),
        sync,
        change(
            JobKind::Combine,
            "alpine",
            Action::Unchanged,
            "up to date (sha256:77c1a2b3c4d5…)",
        ),
        change(
            JobKind::Sync,
            "on-builder",
            Action::Unknown,
            "always runs (runs through buildx)",
        ),
    ]
}

#[test]
fn text_output() {
    insta::assert_snapshot!(text(&example()), @r"
      + builder.remotebuilder  create (2 nodes: hk-amd64 linux/amd64, hk-arm64 linux/arm64)
    -/+ builder.cache          replace: node n1: buildkitd.toml changed (mirrors or buildkitd_config)
      ? build.centos           inputs changed (Dockerfile)   digest known after apply
      ~ sync.alpine            docker.io/tangx/alpine:3.12  sha256:1a2b3c4d5e6f… -> sha256:9f8e7d6c5b4a…
          docker.io/tangx/alpine:3.12: sha256:1a2b3c4d5e6f… -> sha256:9f8e7d6c5b4a…
          docker.io/tangx/alpine:latest: sha256:1a2b3c4d5e6f… -> sha256:9f8e7d6c5b4a…
      = combine.alpine         up to date (sha256:77c1a2b3c4d5…)
      ? sync.on-builder        always runs (runs through buildx)

    Plan: 1 to create, 1 to update, 1 to replace, 1 to build, 1 to run, 1 unchanged.
    ");
}

#[test]
fn json_output() {
    insta::assert_snapshot!(json(&example()[2..4]), @r#"
    {
      "format_version": 1,
      "summary": {
        "create": 0,
        "update": 1,
        "replace": 0,
        "build": 1,
        "run": 0,
        "unchanged": 0,
        "error": 0
      },
      "changes": [
        {
          "address": "build.centos",
          "action": "build",
          "reason": "inputs changed (Dockerfile)",
          "details": [],
          "current": null,
          "desired": null
        },
        {
          "address": "sync.alpine",
          "action": "update",
          "reason": "docker.io/tangx/alpine:3.12  sha256:1a2b3c4d5e6f… -> sha256:9f8e7d6c5b4a…",
          "details": [
            "docker.io/tangx/alpine:3.12: sha256:1a2b3c4d5e6f… -> sha256:9f8e7d6c5b4a…",
            "docker.io/tangx/alpine:latest: sha256:1a2b3c4d5e6f… -> sha256:9f8e7d6c5b4a…"
          ],
          "current": "sha256:1a2b3c4d5e6f0000000000000000000000000000000000000000000000000000",
          "desired": "sha256:9f8e7d6c5b4a0000000000000000000000000000000000000000000000000000"
        }
      ]
    }
    "#);
}

#[test]
fn markdown_output() {
    insta::assert_snapshot!(markdown(&example()), @r"
    ### plan diff

    **Plan: 1 to create, 1 to update, 1 to replace, 1 to build, 1 to run, 1 unchanged.**

    > [!WARNING]
    > These are removed and created again:
    > - `builder.cache`: replace: node n1: buildkitd.toml changed (mirrors or buildkitd_config)

    <details><summary>6 jobs</summary>

    | | job | change |
    | :-: | --- | --- |
    | `+` | `builder.remotebuilder` | create (2 nodes: hk-amd64 linux/amd64, hk-arm64 linux/arm64) |
    | `-/+` | `builder.cache` | replace: node n1: buildkitd.toml changed (mirrors or buildkitd_config) |
    | `?` | `build.centos` | inputs changed (Dockerfile) |
    | `~` | `sync.alpine` | docker.io/tangx/alpine:3.12  sha256:1a2b3c4d5e6f… -> sha256:9f8e7d6c5b4a… |
    | `=` | `combine.alpine` | up to date (sha256:77c1a2b3c4d5…) |
    | `?` | `sync.on-builder` | always runs (runs through buildx) |

    </details>
    ");
}

#[test]
fn markdown_is_cut_with_a_visible_notice() {
    let changes: Vec<Change> = (0..5000)
        .map(|i| {
            change(
                JobKind::Sync,
                &format!("mirror-{i}"),
                Action::Create,
                &format!("127.0.0.1:5000/mirror/image-{i}:latest (sha256:0123456789ab…)"),
            )
        })
        .collect();
    let report = markdown(&changes);
    assert!(
        report.chars().count() <= MARKDOWN_LIMIT,
        "{} characters",
        report.len()
    );
    assert!(report.starts_with("### plan diff\n\n**Plan: 5000 to create.**"));
    assert!(report.contains("more jobs not shown: the report was cut at 65535 characters"));
    assert!(report.trim_end().ends_with("</details>"));
}
