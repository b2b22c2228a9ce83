//! The `plan` binary as a new user meets it: exit codes, where errors point,
//! machine-readable diagnostics, GitHub Actions annotations, and never a
//! backtrace.

use std::path::Path;

use assert_cmd::Command;

fn plan() -> Command {
    let mut cmd = Command::cargo_bin("plan").unwrap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("GITHUB_ACTIONS")
        .env_remove("CI")
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1");
    cmd
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn validate_seed_succeeds() {
    let (code, stdout, stderr) = output(plan().args(["validate", "-f", "plans/seed.yaml"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "plan is valid: 7 jobs (2 builders, 1 build, 2 syncs, 2 combines), 3 edges, 1 file\n"
    );
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn a_typo_names_file_line_column_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "plan.yaml",
        "version: 1\nsyncs:\n  alpine:\n    from: alpine:3.12\n    too: tangx/alpine:3.12\n",
    );
    let (code, stdout, stderr) = output(plan().current_dir(dir.path()).arg("validate"));
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(stderr.contains("plan.yaml:5:5"), "{stderr}");
    assert!(stderr.contains("unknown field `too`"), "{stderr}");
    assert!(stderr.contains("did you mean `to`?"), "{stderr}");
    assert!(
        !stderr.contains("backtrace") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn discovery_reads_plans_folder_when_there_is_no_plan_yaml() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plans")).unwrap();
    write(
        &dir.path().join("plans"),
        "a.yaml",
        "version: 1\nsyncs:\n  a: {from: alpine, to: x/a}\n",
    );
    write(
        &dir.path().join("plans"),
        "b.yml",
        "version: 1\nsyncs:\n  b: {from: x/a, to: x/b}\n",
    );
    write(&dir.path().join("plans"), "notes.txt", "not a plan");
    let (code, stdout, stderr) = output(plan().current_dir(dir.path()).arg("validate"));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "plan is valid: 2 jobs (2 syncs), 1 edge, 2 files\n");
}

#[test]
fn no_plan_found_says_what_to_create() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = output(plan().current_dir(dir.path()).arg("validate"));
    assert_eq!(code, 1);
    assert!(stderr.contains("no plan found"), "{stderr}");
    assert!(stderr.contains("plan.yaml"), "{stderr}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let (code, _, stderr) = output(plan().args(["validate", "-f", "nope.yaml"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cannot read plan file `nope.yaml`"),
        "{stderr}"
    );
}

#[test]
fn json_diagnostics_for_machines() {
    let (code, _, stderr) = output(plan().args([
        "validate",
        "--diagnostics",
        "json",
        "-f",
        "tests/fixtures/invalid/unknown-builder.yaml",
    ]));
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&stderr).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["errors"], 1);
    let d = &doc["diagnostics"][0];
    assert_eq!(d["code"], "plan::unknown-builder");
    assert_eq!(d["file"], "tests/fixtures/invalid/unknown-builder.yaml");
    assert_eq!(d["line"], 11);
    assert_eq!(d["column"], 14);
    assert!(d["help"].as_str().unwrap().contains("remotebuilder"));
}

#[test]
fn github_actions_gets_annotations() {
    let (code, stdout, _) = output(plan().env("GITHUB_ACTIONS", "true").args([
        "validate",
        "-f",
        "tests/fixtures/invalid/bad-platform.yaml",
    ]));
    assert_eq!(code, 1);
    assert!(
        stdout.starts_with(
            "::error file=tests/fixtures/invalid/bad-platform.yaml,line=6,col=30,endLine=6,endColumn=41,title=plan%3A%3Abad-platform::unknown architecture `amr64`"
        ),
        "{stdout}"
    );
}

#[test]
fn warnings_do_not_fail_validation() {
    let (code, stdout, stderr) = output(plan().args([
        "validate",
        "-f",
        "tests/fixtures/invalid/warning-mirrors-on-docker-builder.yaml",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("plan is valid"));
    assert!(
        stderr.contains("mirrors do not reach `docker` builder `arm-box`"),
        "{stderr}"
    );
    assert!(stderr.contains("1 warning"), "{stderr}");
}

#[test]
fn var_overrides_and_env_reach_templates() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "plan.yaml",
        "version: 1\nvars:\n  hub: tangx\n  reg: \"{{ env.BP_TEST_REGISTRY }}\"\nsyncs:\n  a:\n    from: alpine\n    to: \"{{ reg }}/{{ hub }}/alpine\"\n",
    );
    let (code, stdout, stderr) = output(
        plan()
            .current_dir(dir.path())
            .env("BP_TEST_REGISTRY", "r.example.com")
            .args(["show", "--var", "hub=other"]),
    );
    assert_eq!(code, 0, "{stderr}");
    let shown: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        shown["syncs"][0]["to"][0],
        "r.example.com/other/alpine:latest"
    );
    assert_eq!(shown["syncs"][0]["from"], "docker.io/library/alpine:latest");
    assert_eq!(shown["vars"]["hub"], "other");

    let (code, _, stderr) = output(
        plan()
            .current_dir(dir.path())
            .env_remove("BP_TEST_REGISTRY")
            .arg("show"),
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("environment variable `BP_TEST_REGISTRY` is not set"),
        "{stderr}"
    );
}

#[test]
fn bad_var_flag_is_a_usage_error() {
    let (code, _, stderr) = output(plan().args(["validate", "--var", "novalue"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("is not NAME=VALUE"), "{stderr}");
}

#[test]
fn show_applies_defaults() {
    let (code, stdout, _) = output(plan().args(["show", "-f", "plans/seed.yaml"]));
    assert_eq!(code, 0);
    let shown: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let build = &shown["builds"][0];
    assert_eq!(build["name"], "centos");
    assert_eq!(build["dockerfile"], "plans/centos/Dockerfile");
    assert_eq!(build["push"], true);
    assert_eq!(build["strategy"], "multi");
    assert_eq!(build["tags"][0], "docker.io/tangx/centos:8");
    assert_eq!(build["inputs"][0], "docker.io/library/centos:8");
    assert_eq!(shown["syncs"][0]["via"], "registry");
    assert_eq!(shown["builders"][0]["mirrors"], true);
}

#[test]
fn graph_formats() {
    for (format, start) in [
        ("dot", "digraph plan {"),
        ("mermaid", "flowchart LR"),
        ("json", "{"),
    ] {
        let (code, stdout, _) =
            output(plan().args(["graph", "--format", format, "-f", "plans/seed.yaml"]));
        assert_eq!(code, 0);
        assert!(stdout.starts_with(start), "{format}: {stdout}");
    }
}

#[test]
fn target_narrows_validate_graph_and_show_to_the_selection_and_what_it_needs() {
    let (code, stdout, stderr) =
        output(plan().args(["validate", "-f", "plans/seed.yaml", "--target", "sync.*"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "plan is valid: 3 jobs selected by --target of 7 (1 builder, 2 syncs), 1 edge, 1 file\n"
    );

    let (code, stdout, stderr) = output(plan().args([
        "graph",
        "-f",
        "plans/seed.yaml",
        "--format",
        "json",
        "--target",
        "sync.alpine-on-builder",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let graph: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mut jobs: Vec<&str> = graph["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["address"].as_str().unwrap())
        .collect();
    jobs.sort_unstable();
    assert_eq!(jobs, ["builder.remotebuilder", "sync.alpine-on-builder"]);
    assert_eq!(graph["edges"].as_array().unwrap().len(), 1);

    let (code, stdout, stderr) =
        output(plan().args(["show", "-f", "plans/seed.yaml", "--target", "combine.*"]));
    assert_eq!(code, 0, "{stderr}");
    let shown: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shown["combines"].as_array().unwrap().len(), 2);
    assert!(shown["syncs"].as_array().unwrap().is_empty());
    assert!(shown["builds"].as_array().unwrap().is_empty());

    let (code, _, stderr) =
        output(plan().args(["graph", "-f", "plans/seed.yaml", "--target", "nope.*"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--target `nope.*` matches no job"),
        "{stderr}"
    );
}

#[test]
fn completions_are_a_valid_bash_script_that_knows_the_commands() {
    let (code, stdout, stderr) = output(plan().args(["completions", "bash"]));
    assert_eq!(code, 0, "{stderr}");
    for word in [
        "validate",
        "diff",
        "apply",
        "--target",
        "--publish",
        "--detailed-exitcode",
    ] {
        assert!(stdout.contains(word), "{word} missing");
    }
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "plan.bash", &stdout);
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(dir.path().join("plan.bash"))
        .output()
        .unwrap();
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
}

#[test]
fn apply_of_a_file_that_is_not_a_saved_plan_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "notes.json", "{\"hello\": 1}");
    let (code, _, stderr) = output(plan().current_dir(dir.path()).args(["apply", "notes.json"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("notes.json is not a plan saved by `plan diff --out`"),
        "{stderr}"
    );
}

#[test]
fn schema_command_prints_the_checked_in_schema() {
    let (code, stdout, _) = output(plan().arg("schema"));
    assert_eq!(code, 0);
    let checked_in = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/plan.schema.json"),
    )
    .unwrap();
    assert_eq!(stdout, checked_in);
}

#[test]
fn unknown_command_exits_1_and_help_exits_0() {
    let (code, _, _) = output(plan().arg("frobnicate"));
    assert_eq!(code, 1);
    let (code, stdout, _) = output(plan().arg("--help"));
    assert_eq!(code, 0);
    assert!(stdout.contains("validate"));
}

#[test]
fn oversized_plan_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("plan.yaml")).unwrap();
    file.set_len(buildplan::plan::load::MAX_FILE_BYTES + 1)
        .unwrap();
    let (code, _, stderr) = output(plan().current_dir(dir.path()).arg("validate"));
    assert_eq!(code, 1);
    assert!(stderr.contains("over the limit"), "{stderr}");
}

#[test]
fn closed_stdout_is_not_a_crash() {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("plan"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["schema"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Like `plan schema | head -0`: the reader is gone before plan writes.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("internal error"),
        "{stderr}"
    );
}

#[test]
fn command_line_errors_follow_diagnostics_json_too() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "notes.json", "{\"hello\": 1}");
    for (args, code_word) in [
        (
            &["apply", "notes.json", "--diagnostics", "json"][..],
            "cli::not-a-saved-plan",
        ),
        (
            &["apply", "--timeout", "99999999999h", "--diagnostics=json"][..],
            "cli::usage",
        ),
    ] {
        let (code, _, stderr) = output(plan().current_dir(dir.path()).args(args));
        assert_eq!(code, 1, "{stderr}");
        let document: serde_json::Value = serde_json::from_str(&stderr)
            .unwrap_or_else(|err| panic!("{args:?}: not JSON ({err}): {stderr}"));
        assert_eq!(document["errors"], 1);
        assert_eq!(document["diagnostics"][0]["code"], code_word, "{stderr}");
    }
}

#[test]
fn a_fifo_or_a_device_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("plan.yaml");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    for args in [
        &["validate", "-f", "plan.yaml"][..],
        &["apply", "plan.yaml"][..],
        &["validate", "-f", "/dev/zero"][..],
    ] {
        let (code, _, stderr) = output(plan().current_dir(dir.path()).args(args));
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("a FIFO") || stderr.contains("a device"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn ls_lists_the_jobs_and_exclude_leaves_out_a_job_and_what_needs_it() {
    let (code, stdout, stderr) = output(plan().args(["ls", "-f", "plans/shop.yaml"]));
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    assert!(
        lines.iter().any(|l| l.starts_with("build.web ")
            && l.contains("linux/amd64,linux/arm64 -> registry.example.com/shop/web:dev")),
        "{stdout}"
    );

    // The base is out, and so is everything that reads it.
    let (code, stdout, stderr) = output(plan().args([
        "ls",
        "--json",
        "-f",
        "plans/shop.yaml",
        "--exclude",
        "build.base",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let jobs: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mut addresses: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["address"].as_str().unwrap())
        .collect();
    addresses.sort_unstable();
    assert_eq!(addresses, ["build.web", "builder.amd64", "builder.arm64"]);
    let web = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["address"] == "build.web")
        .unwrap();
    assert_eq!(
        web["needs"],
        serde_json::json!(["builder.amd64", "builder.arm64"])
    );

    // With --target, only what the remaining targets need.
    let (code, stdout, stderr) = output(plan().args([
        "validate",
        "-f",
        "plans/shop.yaml",
        "--target",
        "build.*",
        "--exclude",
        "build.web",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "plan is valid: 4 jobs selected by --target and --exclude of 6 (1 builder, 3 builds), 5 edges, 1 file\n"
    );

    let (code, _, stderr) =
        output(plan().args(["ls", "-f", "plans/shop.yaml", "--exclude", "nope.*"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--exclude `nope.*` matches no job"),
        "{stderr}"
    );
}

#[test]
fn init_writes_a_starter_plan_that_validates_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (path, text) in [
        ("Dockerfile", "FROM busybox\n"),
        ("services/api/Dockerfile", "FROM alpine:3.20\n"),
        ("web/Dockerfile.prod", "FROM nginx\n"),
        ("node_modules/x/Dockerfile", "FROM nope\n"),
    ] {
        std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
        std::fs::write(root.join(path), text).unwrap();
    }
    let dir_arg = root.to_str().unwrap();
    let (code, stdout, stderr) = output(plan().args(["init", "-C", dir_arg]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("3 builds") && stdout.contains("plan validate"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(root.join("plan.yaml")).unwrap();
    assert!(text.starts_with("# yaml-language-server: $schema=plan.schema.json"));
    assert!(root.join("plan.schema.json").is_file());
    let (code, stdout, stderr) = output(plan().args(["ls", "-C", dir_arg]));
    assert_eq!(code, 0, "{stderr}");
    let jobs: Vec<&str> = stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        jobs,
        ["build.app", "build.api", "build.web-prod"],
        "{stdout}"
    );

    let before = std::fs::read_to_string(root.join("plan.yaml")).unwrap();
    let (code, _, stderr) = output(plan().args(["init", "-C", dir_arg]));
    assert_eq!(code, 1);
    assert!(stderr.contains("exists already"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(root.join("plan.yaml")).unwrap(),
        before
    );

    let empty = tempfile::tempdir().unwrap();
    let (code, _, stderr) = output(plan().args(["init", "-C", empty.path().to_str().unwrap()]));
    assert_eq!(code, 1);
    assert!(stderr.contains("no Dockerfile"), "{stderr}");
}

const SET_PLAN: &str = "version: 1
builds:
  app:
    platforms: [linux/amd64]
    tags: [r.example/app:1]
    args:
      A: \"1\"
  api:
    platforms: [linux/amd64]
    tags: [r.example/api:1]
";

#[test]
fn set_overrides_fields_of_the_jobs_a_glob_matches() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "plan.yaml", SET_PLAN);
    write(dir.path(), "Dockerfile", "FROM scratch\n");
    let (code, stdout, stderr) = output(plan().current_dir(dir.path()).args([
        "show",
        "--set",
        "build.*.platforms=linux/amd64,linux/arm64",
        "--set",
        "build.app.args.B=2",
        "--set",
        "build.app.labels.org.opencontainers.image.title=App",
        "--set",
        "build.api.push=false",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let shown: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let builds = shown["builds"].as_array().unwrap();
    for build in builds {
        assert_eq!(
            build["platforms"],
            serde_json::json!(["linux/amd64", "linux/arm64"])
        );
    }
    assert_eq!(builds[0]["args"], serde_json::json!({"A": "1", "B": "2"}));
    assert_eq!(builds[0]["labels"]["org.opencontainers.image.title"], "App");
    assert_eq!(builds[1]["push"], false);
    assert_eq!(builds[0]["push"], true);
}

#[test]
fn a_wrong_set_is_a_diagnostic_at_its_place_naming_the_set() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "plan.yaml", SET_PLAN);
    write(dir.path(), "Dockerfile", "FROM scratch\n");
    // A value the field refuses: at the value, under the `--set` it came from.
    let (code, _, stderr) = output(plan().current_dir(dir.path()).args([
        "validate",
        "--set",
        "build.app.platforms=linux/amd65",
    ]));
    assert_eq!(code, 1, "{stderr}");
    for words in [
        "plan::bad-platform",
        "plan.yaml:15:17",
        "# --set build.app.platforms=linux/amd65",
        "did you mean `amd64`",
    ] {
        assert!(stderr.contains(words), "{words}: {stderr}");
    }
    let (code, _, stderr) =
        output(
            plan()
                .current_dir(dir.path())
                .args(["validate", "--set", "build.ap*.push=maybe"]),
        );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("expected a boolean"), "{stderr}");
    // A glob that matches nothing, a field that does not exist.
    let (code, _, stderr) =
        output(
            plan()
                .current_dir(dir.path())
                .args(["validate", "--set", "build.x*.push=true"]),
        );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cli::set-matches-nothing"), "{stderr}");
    let (code, _, stderr) = output(plan().current_dir(dir.path()).args([
        "validate",
        "--set",
        "build.app.platform=linux/arm64",
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("names no field of a build"), "{stderr}");
    assert!(stderr.contains("platforms"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
