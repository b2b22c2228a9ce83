//! How a run looks while it happens: bars on a terminal, address-prefixed
//! lines in CI logs, one collapsible group per job under GitHub Actions,
//! JSON lines for machines. Also writes each job's full log to `--log-dir`.
//! This is the only file that knows indicatif.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::exec::{Event, JobState, Subscriber};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal and `CI` is unset, else plain (grouped under GitHub Actions).
    Auto,
    Tty,
    Plain,
    Json,
}

impl ProgressMode {
    /// What `BUILDKIT_PROGRESS` (buildx's own variable) asks for, when
    /// `--progress` is not given: `auto`, `tty`, `plain`, `rawjson` (our
    /// `json`), `quiet` (plain: `plan` has no silent mode). Anything else
    /// is `auto`.
    pub fn from_buildkit(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some("tty") => Self::Tty,
            Some("plain" | "quiet") => Self::Plain,
            Some("rawjson") => Self::Json,
            _ => Self::Auto,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Bars,
    Plain,
    Github,
    Json,
}

pub struct Reporter {
    style: Style,
    addresses: Vec<String>,
    log_dir: Option<PathBuf>,
    inner: Mutex<Inner>,
}

struct Inner {
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
    bars: HashMap<usize, ProgressBar>,
    /// Under GitHub Actions: each job's lines until it finishes.
    buffered: HashMap<usize, Vec<String>>,
    failed_logs: Vec<(usize, Vec<String>)>,
    /// Each job's `--log-dir` file; `None` once it could not be written
    /// (said once, on the progress stream).
    logs: HashMap<usize, Option<File>>,
    out: Box<dyn std::io::Write + Send>,
}

fn seconds(ms: Option<u64>) -> String {
    ms.map_or_else(String::new, |ms| {
        format!(" in {:.1}s", Duration::from_millis(ms).as_secs_f64())
    })
}

fn state_word(state: JobState) -> &'static str {
    match state {
        JobState::Succeeded => "succeeded",
        JobState::Failed => "failed",
        JobState::Skipped => "skipped (a dependency failed)",
        JobState::Cancelled => "cancelled",
        JobState::NotStarted => "not started",
    }
}

impl Reporter {
    /// `stderr_is_terminal`, `ci` and `github_actions` describe the environment `auto` adapts to.
    pub fn new(
        mode: ProgressMode,
        addresses: Vec<String>,
        log_dir: Option<PathBuf>,
        stderr_is_terminal: bool,
        ci: bool,
        github_actions: bool,
        out: Box<dyn std::io::Write + Send>,
    ) -> Self {
        let style = match mode {
            ProgressMode::Tty => Style::Bars,
            ProgressMode::Json => Style::Json,
            ProgressMode::Plain if github_actions => Style::Github,
            ProgressMode::Plain => Style::Plain,
            ProgressMode::Auto if stderr_is_terminal && !ci => Style::Bars,
            ProgressMode::Auto if github_actions => Style::Github,
            ProgressMode::Auto => Style::Plain,
        };
        let (multi, overall) = if style == Style::Bars {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(addresses.len() as u64));
            overall.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} [{bar:30}] {pos}/{len} jobs {elapsed}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            overall.set_prefix("apply");
            (Some(multi), Some(overall))
        } else {
            (None, None)
        };
        Self {
            style,
            addresses,
            log_dir,
            inner: Mutex::new(Inner {
                multi,
                overall,
                bars: HashMap::new(),
                buffered: HashMap::new(),
                failed_logs: Vec::new(),
                logs: HashMap::new(),
                out,
            }),
        }
    }

    fn address(&self, job: usize) -> &str {
        self.addresses.get(job).map_or("?", String::as_str)
    }

    /// Under GitHub Actions, the failed jobs' logs again, ungrouped, so they are seen.
    pub fn finish(&self) {
        let mut inner = crate::lock::lock(&self.inner);
        if let Some(overall) = inner.overall.take() {
            overall.finish_and_clear();
        }
        if self.style == Style::Github {
            let failed = std::mem::take(&mut inner.failed_logs);
            for (job, lines) in failed {
                let _ = writeln!(
                    inner.out,
                    "::error title={}::{} failed",
                    self.address(job),
                    self.address(job)
                );
                for line in lines {
                    let _ = writeln!(inner.out, "{line}");
                }
            }
        }
    }

    fn log_line(&self, inner: &mut Inner, job: usize, line: &str) {
        let Some(dir) = &self.log_dir else { return };
        let path = dir.join(format!("{}.log", self.address(job)));
        if !inner.logs.contains_key(&job) {
            let file = File::create(&path)
                .map_err(|err| format!("cannot write {}: {err}", path.display()));
            let file = match file {
                Ok(file) => Some(file),
                Err(why) => {
                    let _ = writeln!(inner.out, "plan: {}", crate::untrusted::escape(&why));
                    None
                }
            };
            inner.logs.insert(job, file);
        }
        // A log is read on a terminal too (`cat`, a CI viewer).
        let written = match inner.logs.get_mut(&job) {
            Some(Some(file)) => writeln!(file, "{}", crate::untrusted::escape(line)),
            _ => return,
        };
        if let Err(err) = written {
            let _ = writeln!(
                inner.out,
                "plan: cannot write {}: {err}",
                crate::untrusted::escape(&path.display().to_string())
            );
            inner.logs.insert(job, None);
        }
    }

    /// One line for a person: text from outside (command output, registry
    /// messages) has its control characters escaped, so it cannot move the
    /// cursor, forge a line or issue a GitHub workflow command.
    fn say(&self, inner: &mut Inner, job: usize, text: &str) {
        let line = format!("[{}] {}", self.address(job), crate::untrusted::escape(text));
        match self.style {
            Style::Plain => {
                let _ = writeln!(inner.out, "{line}");
            }
            Style::Github => inner.buffered.entry(job).or_default().push(line),
            Style::Bars => {
                if let Some(multi) = &inner.multi {
                    let _ = multi.println(line);
                }
            }
            Style::Json => {}
        }
    }
}

impl Subscriber for Reporter {
    fn event(&self, event: &Event) {
        let mut inner = crate::lock::lock(&self.inner);
        let inner = &mut *inner;
        if self.style == Style::Json {
            // Our own types, string keys only: serializing them cannot fail.
            let mut value = serde_json::to_value(event).unwrap_or_default();
            if let (Some(map), Some(job)) = (value.as_object_mut(), event_job(event)) {
                map.insert("address".into(), self.address(job).into());
            }
            let _ = writeln!(inner.out, "{value}");
        }
        match event {
            Event::Started { job, attempt } => self.started(inner, *job, *attempt),
            Event::Step { job, step } => {
                self.log_line(inner, *job, &format!("# {step}"));
                match inner.bars.get(job) {
                    Some(bar) => bar.set_message(crate::untrusted::escape(step).into_owned()),
                    None => self.say(inner, *job, step),
                }
            }
            Event::Output { job, line } => {
                self.log_line(inner, *job, line);
                if matches!(self.style, Style::Plain | Style::Github) {
                    self.say(inner, *job, line);
                }
            }
            Event::Retrying {
                job,
                attempt,
                delay_ms,
                error,
            } => {
                let text = format!(
                    "attempt {attempt} failed, retrying in {:.1}s: {error}",
                    *delay_ms as f64 / 1000.0
                );
                self.log_line(inner, *job, &text);
                self.say(inner, *job, &text);
            }
            Event::Finished {
                job,
                state,
                duration_ms,
                error,
            } => {
                let mut text = format!("{}{}", state_word(*state), seconds(*duration_ms));
                if let Some(error) = error {
                    text.push_str(&format!(": {error}"));
                }
                self.finished(inner, *job, *state, &text);
            }
            Event::Interrupted => {
                let line = "interrupted: starting nothing new, stopping running jobs".to_owned();
                match (&inner.multi, self.style) {
                    (Some(multi), _) => {
                        let _ = multi.println(line);
                    }
                    (None, Style::Plain | Style::Github) => {
                        let _ = writeln!(inner.out, "{line}");
                    }
                    _ => {}
                }
            }
        }
    }
}

impl Reporter {
    /// A job (or another attempt of it) started: a spinner, or a line.
    fn started(&self, inner: &mut Inner, job: usize, attempt: u32) {
        self.log_line(inner, job, &format!("# attempt {attempt}"));
        if self.style == Style::Bars {
            if let Some(multi) = &inner.multi {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("  {spinner} {prefix:.bold} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(self.address(job).to_owned());
                bar.enable_steady_tick(Duration::from_millis(120));
                inner.bars.insert(job, bar);
            }
        } else if attempt == 1 {
            self.say(inner, job, "started");
        }
    }

    /// A job finished: `text` is its state, time and error. Under GitHub
    /// Actions its buffered lines become one group (kept for the end when
    /// it failed).
    fn finished(&self, inner: &mut Inner, job: usize, state: JobState, text: &str) {
        self.log_line(inner, job, text);
        if let Some(bar) = inner.bars.remove(&job) {
            bar.finish_and_clear();
        }
        if let Some(overall) = &inner.overall {
            overall.inc(1);
        }
        let mark = match state {
            JobState::Succeeded => "✓",
            JobState::Failed => "✗",
            _ => "-",
        };
        let escaped = crate::untrusted::escape(text);
        match self.style {
            Style::Bars => {
                let line = format!("{mark} {} {escaped}", self.address(job));
                if let Some(multi) = &inner.multi {
                    let _ = multi.println(line);
                }
            }
            Style::Plain => self.say(inner, job, text),
            Style::Github => {
                let mut lines = inner.buffered.remove(&job).unwrap_or_default();
                lines.push(format!("[{}] {escaped}", self.address(job)));
                let _ = writeln!(inner.out, "::group::{mark} {} {escaped}", self.address(job));
                for line in &lines {
                    let _ = writeln!(inner.out, "{line}");
                }
                let _ = writeln!(inner.out, "::endgroup::");
                if state == JobState::Failed {
                    inner.failed_logs.push((job, lines));
                }
            }
            Style::Json => {}
        }
    }
}

fn event_job(event: &Event) -> Option<usize> {
    match event {
        Event::Started { job, .. }
        | Event::Step { job, .. }
        | Event::Output { job, .. }
        | Event::Retrying { job, .. }
        | Event::Finished { job, .. } => Some(*job),
        Event::Interrupted => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Where a test reporter writes: shared, so the test can read it back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A run of two jobs, one retried and failed with hostile text in its
    /// output, through a reporter in `mode`; what it printed, durations
    /// redacted.
    fn report(mode: ProgressMode, github_actions: bool) -> String {
        let out = Captured::default();
        let reporter = Reporter::new(
            mode,
            vec!["sync.a".into(), "build.b".into()],
            None,
            false,
            true,
            github_actions,
            Box::new(out.clone()),
        );
        let events = [
            Event::Started { job: 0, attempt: 1 },
            Event::Started { job: 1, attempt: 1 },
            Event::Step {
                job: 1,
                step: "[1/2] RUN make".into(),
            },
            Event::Output {
                job: 1,
                line: "registry said: \x1b[2J\n::error::forged".into(),
            },
            Event::Retrying {
                job: 1,
                attempt: 1,
                delay_ms: 1000,
                error: "503".into(),
            },
            Event::Finished {
                job: 0,
                state: JobState::Succeeded,
                duration_ms: Some(1234),
                error: None,
            },
            Event::Finished {
                job: 1,
                state: JobState::Failed,
                duration_ms: Some(5678),
                error: Some("exited with 1\n::error::forged".into()),
            },
        ];
        for event in &events {
            reporter.event(event);
        }
        reporter.finish();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        redact_durations(&text)
    }

    /// `1.2s` -> `[t]`: durations are the one thing a snapshot must not pin.
    fn redact_durations(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = String::new();
        let mut i = 0;
        while i < bytes.len() {
            let digits = |from: usize| {
                bytes[from..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count()
            };
            let whole = digits(i);
            if whole > 0 && bytes.get(i + whole) == Some(&b'.') {
                let fraction = digits(i + whole + 1);
                let end = i + whole + 1 + fraction;
                if fraction > 0 && bytes.get(end) == Some(&b's') {
                    out.push_str("[t]");
                    i = end + 1;
                    continue;
                }
            }
            let c = text[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8();
        }
        out
    }

    #[test]
    fn plain_lines_name_their_job_and_escape_outside_text() {
        insta::assert_snapshot!(report(ProgressMode::Plain, false), @r"
        [sync.a] started
        [build.b] started
        [build.b] [1/2] RUN make
        [build.b] registry said: \x1b[2J\n::error::forged
        [build.b] attempt 1 failed, retrying in [t]: 503
        [sync.a] succeeded in [t]
        [build.b] failed in [t]: exited with 1\n::error::forged
        ");
    }

    #[test]
    fn github_actions_groups_each_job_and_repeats_failures() {
        let text = report(ProgressMode::Plain, true);
        assert!(
            !text.lines().any(|l| l.starts_with("::error::forged")),
            "{text}"
        );
        insta::assert_snapshot!(text, @r"
        ::group::✓ sync.a succeeded in [t]
        [sync.a] started
        [sync.a] succeeded in [t]
        ::endgroup::
        ::group::✗ build.b failed in [t]: exited with 1\n::error::forged
        [build.b] started
        [build.b] [1/2] RUN make
        [build.b] registry said: \x1b[2J\n::error::forged
        [build.b] attempt 1 failed, retrying in [t]: 503
        [build.b] failed in [t]: exited with 1\n::error::forged
        ::endgroup::
        ::error title=build.b::build.b failed
        [build.b] started
        [build.b] [1/2] RUN make
        [build.b] registry said: \x1b[2J\n::error::forged
        [build.b] attempt 1 failed, retrying in [t]: 503
        [build.b] failed in [t]: exited with 1\n::error::forged
        ");
    }
}
