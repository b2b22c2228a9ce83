//! Where the command line's output goes. Commands write through this, never
//! with `println!`, so tests can capture it and a closed pipe is not a panic.

use std::io::{IsTerminal, Write};

use super::Color;

pub struct Output {
    stdout: Box<dyn Write>,
    stderr: Box<dyn Write>,
    stderr_is_terminal: bool,
    /// `GITHUB_ACTIONS=true`: errors are also printed as workflow annotations.
    pub github_actions: bool,
    /// `--diagnostics`: how errors are printed (see `CliError`).
    pub diagnostics: super::DiagnosticsFormat,
    no_color: bool,
}

impl Output {
    /// The process's own stdout and stderr, and what the environment says about them.
    pub fn process() -> Self {
        Self {
            stdout: Box::new(std::io::stdout()),
            stderr: Box::new(std::io::stderr()),
            stderr_is_terminal: std::io::stderr().is_terminal(),
            github_actions: std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true"),
            diagnostics: super::DiagnosticsFormat::Text,
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        }
    }

    /// A file GitHub Actions gives the step (`$GITHUB_OUTPUT`,
    /// `$GITHUB_STEP_SUMMARY`); `None` outside GitHub Actions or unset.
    pub fn github_file(&self, variable: &str) -> Option<std::path::PathBuf> {
        if !self.github_actions {
            return None;
        }
        std::env::var_os(variable)
            .filter(|path| !path.is_empty())
            .map(std::path::PathBuf::from)
    }

    /// Under GitHub Actions, appends markdown to the job's summary page
    /// (`$GITHUB_STEP_SUMMARY`); a failure to write it is said, and the
    /// page is only a view of what the run printed anyway.
    pub fn to_step_summary(&mut self, markdown: &str) {
        let Some(path) = self.github_file("GITHUB_STEP_SUMMARY") else {
            return;
        };
        if let Err(err) = crate::report::outputs::append(&path, markdown) {
            self.err(&format!("plan: cannot write {}: {err}\n", path.display()));
        }
    }

    pub fn color_for(&self, choice: Color) -> bool {
        match choice {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => self.stderr_is_terminal && !self.no_color,
        }
    }

    pub fn stderr_width(&self) -> usize {
        if self.stderr_is_terminal {
            terminal_width().unwrap_or(100)
        } else {
            100
        }
    }

    /// Writes to stdout; a closed pipe (`plan show | head`) is not an error.
    pub fn out(&mut self, text: &str) {
        let _ = self.stdout.write_all(text.as_bytes());
        let _ = self.stdout.flush();
    }

    pub fn err(&mut self, text: &str) {
        let _ = self.stderr.write_all(text.as_bytes());
        let _ = self.stderr.flush();
    }
}

fn terminal_width() -> Option<usize> {
    std::env::var("COLUMNS").ok()?.parse().ok()
}
