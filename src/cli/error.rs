//! Errors of the command line itself — a saved plan that is stale, a
//! folder that cannot be written, docker missing — as opposed to the plan's
//! own diagnostics. They are one type and are printed in one place, the
//! way diagnostics are: text, `--diagnostics json`, and GitHub annotations.

use super::{DiagnosticsFormat, Output};
use crate::plan::diagnostic::Diagnostic;
use crate::plan::source::SourceMap;
use crate::report::diagnostics;

/// What stops a command, with the exit code it ends with.
#[derive(Debug, Clone)]
pub struct CliError {
    /// `cli::…`, stable, for `--diagnostics json` readers.
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
    pub exit: u8,
}

impl CliError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            help: None,
            exit: super::exit::ERROR,
        }
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub fn exit(mut self, code: u8) -> Self {
        self.exit = code;
        self
    }
}

impl Output {
    /// Prints `error` as the command line prints every error; returns its
    /// exit code.
    pub fn fail(&mut self, error: &CliError) -> u8 {
        let mut diagnostic = Diagnostic::error(error.code, error.message.clone());
        if let Some(help) = &error.help {
            diagnostic = diagnostic.help(help.clone());
        }
        let sources = SourceMap::default();
        match self.diagnostics {
            DiagnosticsFormat::Json => {
                let text = diagnostics::render_json(std::slice::from_ref(&diagnostic), &sources);
                self.err(&text);
            }
            DiagnosticsFormat::Text => {
                let mut text = format!("error: {}\n", error.message);
                if let Some(help) = &error.help {
                    text.push_str(&format!("  help: {help}\n"));
                }
                self.err(&text);
            }
        }
        if self.github_actions {
            let line = diagnostics::github_annotation(&diagnostic, &sources);
            self.out(&format!("{line}\n"));
        }
        error.exit
    }
}
