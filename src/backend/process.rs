//! Running one external command: an argument vector, never a shell; in its
//! own process group, so a signal reaches everything it started (ssh, the
//! buildx plugin); stopped on cancel with SIGTERM, a grace period, then
//! SIGKILL; and killed outright if its attempt is dropped (a timeout).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::handle::JobHandle;
use crate::exec::JobError;

/// A command line: program, arguments and extra environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Invocation {
    pub fn new(program: &str) -> Self {
        Self {
            program: program.to_owned(),
            ..Self::default()
        }
    }

    #[must_use]
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    #[must_use]
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The command as a person would type it, for logs (arguments quoted when needed).
    pub fn display(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .map(|word| {
                if word.is_empty()
                    || word.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c))
                {
                    format!("'{}'", word.replace('\'', "'\\''"))
                } else {
                    word.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a finished command printed.
#[derive(Debug, Default)]
pub struct Captured {
    pub stdout: String,
    /// The last lines of stderr (for error messages).
    pub stderr_tail: Vec<String>,
}

const TAIL_LINES: usize = 20;

/// Kills the whole process group when the attempt is dropped before the
/// command was reaped (a timeout drops the attempt's future).
struct GroupGuard {
    pgid: Option<i32>,
}

impl GroupGuard {
    fn signal(&self, signal: i32) {
        if let Some(pgid) = self.pgid {
            // SAFETY: killpg only sends a signal; a stale group id fails with ESRCH.
            unsafe {
                libc::killpg(pgid, signal);
            }
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}

/// Runs `invocation`; each stderr line goes to `on_line` (and to the job's
/// log), stdout is returned. A non-zero exit is an error carrying the last
/// lines of stderr, transient when they look like a network hiccup.
pub async fn run(
    invocation: &Invocation,
    context: &dyn JobHandle,
    mut on_line: impl FnMut(&str) + Send,
) -> Result<Captured, JobError> {
    context.output(format!("$ {}", invocation.display()));
    let mut command = Command::new(&invocation.program);
    command
        .args(invocation.args.iter().map(OsString::from))
        .envs(invocation.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|err| {
        let what = if err.kind() == std::io::ErrorKind::NotFound {
            format!("`{}` is not installed or not on PATH", invocation.program)
        } else {
            format!("cannot run `{}`: {err}", invocation.program)
        };
        JobError::fatal(what)
    })?;
    let mut guard = GroupGuard {
        pgid: child.id().and_then(|id| i32::try_from(id).ok()),
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read_stdout = async move {
        let mut text = String::new();
        if let Some(stdout) = stdout {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                text.push_str(&line);
                text.push('\n');
            }
        }
        text
    };
    let mut tail: VecDeque<String> = VecDeque::new();
    let (stdout, status) = {
        let read_stderr = async {
            if let Some(stderr) = stderr {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    on_line(&line);
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            }
        };
        let finished = async {
            let (stdout, (), status) = tokio::join!(read_stdout, read_stderr, child.wait());
            (stdout, status)
        };
        let cancel = context.cancellation().clone();
        tokio::pin!(finished);
        tokio::select! {
            done = &mut finished => done,
            () = cancel.cancelled() => {
                guard.signal(libc::SIGTERM);
                match tokio::time::timeout(context.grace(), &mut finished).await {
                    Ok(done) => done,
                    Err(_) => {
                        guard.signal(libc::SIGKILL);
                        finished.await
                    }
                }
            }
        }
    };
    // Reaped: the group id may be reused from here on, so never signal it again.
    guard.pgid = None;
    let status = status
        .map_err(|err| JobError::fatal(format!("waiting for `{}`: {err}", invocation.program)))?;
    let tail: Vec<String> = tail.into_iter().collect();
    if context.cancellation().is_cancelled() && !status.success() {
        return Err(JobError::fatal("interrupted"));
    }
    if !status.success() {
        let message = failure_message(invocation, status, &tail);
        return Err(if looks_transient(&tail) {
            JobError::transient(message)
        } else {
            JobError::fatal(message)
        });
    }
    Ok(Captured {
        stdout,
        stderr_tail: tail,
    })
}

fn failure_message(
    invocation: &Invocation,
    status: std::process::ExitStatus,
    tail: &[String],
) -> String {
    let how = status.code().map_or_else(
        || "was killed".to_owned(),
        |code| format!("exited with {code}"),
    );
    let reason = telling_line(tail).unwrap_or_default();
    let program = std::iter::once(invocation.program.as_str())
        .chain(invocation.args.iter().take(2).map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    if reason.is_empty() {
        format!("`{program}` {how}")
    } else {
        format!("`{program}` {how}: {reason}")
    }
}

/// The line of a failed command's output that says why: the last one that
/// reads as an error, else the last one that is not blank. Where docker
/// wraps a failed ssh connection (`error during connect: … stderr=ssh:
/// connect to host … Connection refused`), the part after `stderr=` is the
/// cause, and is what is returned.
pub fn telling_line(lines: &[String]) -> Option<String> {
    let lines: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    let line = lines
        .iter()
        .rev()
        .find(|line| {
            let lower = line.to_ascii_lowercase();
            lower.contains("error") || lower.contains("failed")
        })
        .or_else(|| lines.last())?;
    let cause = line
        .rsplit_once("stderr=")
        .map(|(_, cause)| cause.trim())
        .filter(|cause| !cause.is_empty());
    Some(cause.unwrap_or(line).to_owned())
}

/// Network hiccups worth another attempt: a dropped ssh connection, a
/// registry's 429 or 5xx as buildx reports them.
pub fn looks_transient(lines: &[String]) -> bool {
    const PATTERNS: &[&str] = &[
        "connection reset by peer",
        "unexpected EOF",
        "i/o timeout",
        "broken pipe",
        "TLS handshake timeout",
        "toomanyrequests",
        "429 Too Many Requests",
        "500 Internal Server Error",
        "502 Bad Gateway",
        "503 Service Unavailable",
        "504 Gateway Timeout",
        "ssh: handshake failed",
        "kex_exchange_identification",
        "Connection closed by remote host",
        "connection lost",
    ];
    lines
        .iter()
        .any(|line| PATTERNS.iter().any(|p| line.contains(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        let inv = Invocation::new("docker").args(["buildx", "build", "--label", "a=b c", "it's"]);
        assert_eq!(
            inv.display(),
            "docker buildx build --label 'a=b c' 'it'\\''s'"
        );
    }

    #[test]
    fn the_telling_line_is_the_error_and_for_ssh_its_cause() {
        let lines = |text: &str| text.lines().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            telling_line(&lines(
                "#1 building\nERROR: failed to solve: no space left\ndone\n\n"
            ))
            .as_deref(),
            Some("ERROR: failed to solve: no space left")
        );
        assert_eq!(
            telling_line(&lines("error during connect: Get \"http://docker.example.com/v1.50/version\": command [ssh …] has exited with exit status 255, make sure the URL is valid: stderr=ssh: connect to host 127.0.0.1 port 1: Connection refused\n\n")).as_deref(),
            Some("ssh: connect to host 127.0.0.1 port 1: Connection refused")
        );
        assert_eq!(
            telling_line(&lines("one\ntwo\n  \n")).as_deref(),
            Some("two")
        );
        assert_eq!(telling_line(&lines("\n")), None);
    }

    #[test]
    fn transient_errors_are_recognised() {
        assert!(looks_transient(&[
            "ERROR: failed to push: 503 Service Unavailable".into()
        ]));
        assert!(!looks_transient(&[
            "ERROR: failed to solve: dockerfile parse error".into()
        ]));
    }
}
