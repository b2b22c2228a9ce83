//! `docker buildx bake --print`: bake's own reading of its files (HCL,
//! JSON, compose; variables, functions, `inherits`, matrices), which
//! `plan import bake` turns into a plan.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::buildx::Docker;

/// Largest `bake --print` read (a definition of thousands of targets is a
/// few MiB).
const MAX_PRINT_BYTES: u64 = 64 * 1024 * 1024;
/// `--print` reads local files; one that has not answered in this long is
/// stuck (a `docker` waiting on something) and is stopped.
const PRINT_TIMEOUT: Duration = Duration::from_secs(120);

/// Why bake could not print, and what to do about it.
pub struct BakeError {
    pub message: String,
    pub help: &'static str,
}

/// `docker buildx bake --print [--file FILE]… -- [TARGET]…` in `dir`: its JSON.
pub fn print(
    docker: &Docker,
    dir: &Path,
    files: &[PathBuf],
    targets: &[String],
) -> Result<String, BakeError> {
    let mut command = Command::new(&docker.program);
    command
        .current_dir(dir)
        .args(["buildx", "bake", "--print", "--progress", "quiet"]);
    for file in files {
        command.arg("--file").arg(file);
    }
    // Targets after `--`, so none is read as an option.
    command.arg("--").args(targets);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| BakeError {
            message: format!("cannot run `docker buildx bake`: {err}"),
            help: "`plan import bake` reads bake's own view of the files: install Docker with buildx",
        })?;
    // Both pipes drained while it runs (a full pipe would stall it), bounded.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(pipe) = pipe {
                let _ = pipe.take(MAX_PRINT_BYTES + 1).read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + PRINT_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            other => {
                // Out of time, or it cannot be waited for: stopped, never left behind.
                let _ = child.kill();
                let _ = child.wait();
                return Err(BakeError {
                    message: match other {
                        Err(err) => format!("cannot wait for `docker buildx bake --print`: {err}"),
                        _ => format!(
                            "`docker buildx bake --print` did not finish in {} s: stopped",
                            PRINT_TIMEOUT.as_secs()
                        ),
                    },
                    help: "run `docker buildx bake --print` yourself to see what it waits for",
                });
            }
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        let lines: Vec<String> = String::from_utf8_lossy(&stderr)
            .lines()
            .map(str::to_owned)
            .collect();
        let why = super::process::telling_line(&lines).unwrap_or_else(|| "no reason given".into());
        return Err(BakeError {
            message: format!(
                "`docker buildx bake --print` failed: {}",
                crate::untrusted::escape(&why)
            ),
            help: "run `docker buildx bake --print` yourself to see the whole message",
        });
    }
    if stdout.len() as u64 > MAX_PRINT_BYTES {
        return Err(BakeError {
            message: "`docker buildx bake --print` wrote over 64 MiB: refused".into(),
            help: "import fewer targets at once (`--target`)",
        });
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}
