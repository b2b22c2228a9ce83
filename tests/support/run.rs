//! Running the real `plan` binary in tests: one harness for every test
//! that runs it in a folder with a `plan.yaml`.

#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a run of `plan` ended with: its exit code and all it printed
/// (stdout, then stderr).
pub struct Run {
    pub code: i32,
    pub output: String,
}

/// A run that has not ended after this long is a hang, and fails the test.
const HANG: Duration = Duration::from_secs(120);

/// Writes `plan_text` to `dir/plan.yaml` and runs `plan ARGS` there, with
/// `env` set and GitHub Actions unset.
pub fn run_plan(dir: &Path, plan_text: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    std::fs::write(dir.join("plan.yaml"), plan_text).unwrap();
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("plan"));
    cmd.current_dir(dir)
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // Drained while it runs, so a full pipe never looks like a hang.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            pipe.read_to_end(&mut text).unwrap();
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + HANG;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("plan {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&stdout.join().unwrap()),
            String::from_utf8_lossy(&stderr.join().unwrap())
        ),
    }
}
