//! The README's examples are run: the quick start prints what the README
//! shows, and the plan it shows validates.

use std::path::Path;

use assert_cmd::Command;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The code blocks of the README with their language.
fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(lang)) => current = Some((lang.to_owned(), String::new())),
            (Some(_), Some(_)) => out.push(current.take().unwrap()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

#[test]
fn quick_start_works_as_the_readme_says() {
    let blocks = blocks(&readme());
    let command = blocks
        .iter()
        .position(|(lang, body)| lang == "sh" && body.contains("-- apply"))
        .unwrap();
    let args: Vec<&str> = blocks[command]
        .1
        .trim()
        .split(" -- ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    let expected = &blocks[command + 1].1;
    // In a copy of what the command reads, so ./out lands in a temp folder.
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_tree(&root.join("plans"), &dir.path().join("plans"));
    let run = || {
        Command::cargo_bin("plan")
            .unwrap()
            .current_dir(dir.path())
            .args(&args)
            .env_remove("CI")
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    for line in expected.lines() {
        let address = line.split_whitespace().next().unwrap_or("");
        assert!(
            stderr.contains(address),
            "the README shows `{line}`, the run said:\n{stderr}"
        );
    }
    assert!(dir.path().join("out/hello/index.json").is_file());
    assert!(dir.path().join("out/hello-combined/index.json").is_file());
    let again = String::from_utf8(run().stderr).unwrap();
    assert!(
        again.contains("Plan: 3 unchanged."),
        "a second run has nothing to do: {again}"
    );
    assert!(again.contains("Apply complete: 3 unchanged"), "{again}");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_plan_in_the_readme_validates() {
    let blocks = blocks(&readme());
    let (_, plan) = blocks
        .iter()
        .find(|(lang, body)| lang == "yaml" && body.contains("version: 1"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("centos")).unwrap();
    std::fs::write(dir.path().join("centos/Dockerfile"), "FROM centos:8\n").unwrap();
    std::fs::write(dir.path().join("plan.yaml"), plan).unwrap();
    let out = Command::cargo_bin("plan")
        .unwrap()
        .current_dir(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_test_command_is_what_ci_runs() {
    let ci =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run")).unwrap();
    assert!(ci.contains("scripts/test"));
    assert!(
        blocks(&readme())
            .iter()
            .any(|(lang, body)| lang == "sh" && body.trim() == "scripts/test")
    );
}
