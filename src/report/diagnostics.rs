//! Diagnostics for people (miette's graphical report), for machines (JSON)
//! and for GitHub Actions (`::error file=…,line=…,col=…::` annotations).

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde::Serialize;

use crate::plan::diagnostic::{Diagnostic, Severity};
use crate::plan::source::{FileId, SourceMap};

/// How diagnostics are drawn for a person.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
    pub width: usize,
}

impl Style {
    /// No colour, fixed width: what the snapshot tests see.
    pub const PLAIN: Self = Self {
        color: false,
        width: 100,
    };
}

/// One file's part of a diagnostic, as miette wants it.
struct Part {
    message: String,
    severity: Severity,
    code: Option<&'static str>,
    help: Option<String>,
    source: NamedSource<String>,
    labels: Vec<LabeledSpan>,
    related: Vec<Part>,
}

impl fmt::Debug for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Part {}

impl miette::Diagnostic for Part {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code.map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match (self.code, self.severity) {
            // A note pointing into another file ("first defined here").
            (None, _) => miette::Severity::Advice,
            (Some(_), Severity::Error) => miette::Severity::Error,
            (Some(_), Severity::Warning) => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        (!self.labels.is_empty()).then_some(&self.source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        (!self.labels.is_empty())
            .then(|| Box::new(self.labels.iter().cloned()) as Box<dyn Iterator<Item = LabeledSpan>>)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        (!self.related.is_empty()).then(|| {
            Box::new(self.related.iter().map(|p| p as &dyn miette::Diagnostic))
                as Box<dyn Iterator<Item = &'a dyn miette::Diagnostic>>
        })
    }
}

fn part(diagnostic: &Diagnostic, sources: &SourceMap) -> Part {
    // Labels are grouped by file: the primary file's labels in the report,
    // each other file's as a related note with its own source.
    let mut files: Vec<FileId> = Vec::new();
    for label in &diagnostic.labels {
        if !files.contains(&label.origin.file) {
            files.push(label.origin.file);
        }
    }
    let labels_in = |file: FileId| -> (NamedSource<String>, Vec<LabeledSpan>) {
        let source = sources.get(file);
        let labels = diagnostic
            .labels
            .iter()
            .filter(|l| l.origin.file == file)
            .map(|l| {
                let span = source.clamp(l.origin.span);
                LabeledSpan::new_with_span(
                    Some(l.text.clone()),
                    SourceSpan::new(span.start.into(), span.len),
                )
            })
            .collect();
        (
            NamedSource::new(&source.name, source.text.clone()).with_language("yaml"),
            labels,
        )
    };
    let (source, labels) = match files.first() {
        Some(&file) => labels_in(file),
        None => (NamedSource::new("", String::new()), Vec::new()),
    };
    let related = files
        .iter()
        .skip(1)
        .map(|&file| {
            let (source, labels) = labels_in(file);
            Part {
                message: format!("see also {}", sources.get(file).name),
                severity: diagnostic.severity,
                code: None,
                help: None,
                source,
                labels,
                related: Vec::new(),
            }
        })
        .collect();
    Part {
        message: diagnostic.message.clone(),
        severity: diagnostic.severity,
        code: Some(diagnostic.code),
        help: diagnostic.help.clone(),
        source,
        labels,
        related,
    }
}

/// The diagnostic drawn as text, with the source lines it points at.
pub fn render(diagnostic: &Diagnostic, sources: &SourceMap, style: Style) -> String {
    let theme = if style.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(style.width)
        .with_context_lines(1);
    let mut out = String::new();
    if handler
        .render_report(&mut out, &part(diagnostic, sources))
        .is_err()
    {
        out = format!("{}: {}\n", diagnostic.code, diagnostic.message);
    }
    out
}

#[derive(Serialize)]
pub struct JsonDiagnostic<'a> {
    pub severity: Severity,
    pub code: &'a str,
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub labels: Vec<JsonLabel<'a>>,
}

#[derive(Serialize)]
pub struct JsonLabel<'a> {
    pub file: &'a str,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub text: &'a str,
}

pub fn to_json<'a>(diagnostic: &'a Diagnostic, sources: &'a SourceMap) -> JsonDiagnostic<'a> {
    let labels: Vec<JsonLabel<'a>> = diagnostic
        .labels
        .iter()
        .map(|label| {
            let file = sources.get(label.origin.file);
            let span = file.clamp(label.origin.span);
            let (line, column) = file.line_column(span.start);
            let (end_line, end_column) = file.line_column(span.end());
            JsonLabel {
                file: &file.name,
                line,
                column,
                end_line,
                end_column,
                text: &label.text,
            }
        })
        .collect();
    JsonDiagnostic {
        severity: diagnostic.severity,
        code: diagnostic.code,
        message: &diagnostic.message,
        help: diagnostic.help.as_deref(),
        file: labels.first().map(|l| l.file),
        line: labels.first().map(|l| l.line),
        column: labels.first().map(|l| l.column),
        labels,
    }
}

/// All diagnostics as one JSON document.
pub fn render_json(diagnostics: &[Diagnostic], sources: &SourceMap) -> String {
    #[derive(Serialize)]
    struct Document<'a> {
        format_version: u32,
        errors: usize,
        warnings: usize,
        diagnostics: Vec<JsonDiagnostic<'a>>,
    }
    let document = Document {
        format_version: 1,
        errors: diagnostics.iter().filter(|d| d.is_error()).count(),
        warnings: diagnostics.iter().filter(|d| !d.is_error()).count(),
        diagnostics: diagnostics.iter().map(|d| to_json(d, sources)).collect(),
    };
    // Our own types, string keys only: serializing them cannot fail.
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

/// A workflow command that GitHub Actions shows as an annotation on the file.
pub fn github_annotation(diagnostic: &Diagnostic, sources: &SourceMap) -> String {
    let level = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut properties = Vec::new();
    if let Some(label) = diagnostic.primary() {
        let file = sources.get(label.origin.file);
        let span = file.clamp(label.origin.span);
        let (line, column) = file.line_column(span.start);
        let (end_line, end_column) = file.line_column(span.end());
        properties.push(format!("file={}", escape_property(&file.name)));
        properties.push(format!("line={line}"));
        properties.push(format!("col={column}"));
        properties.push(format!("endLine={end_line}"));
        properties.push(format!("endColumn={end_column}"));
    }
    properties.push(format!("title={}", escape_property(diagnostic.code)));
    let mut message = diagnostic.message.clone();
    if let Some(help) = &diagnostic.help {
        message = format!("{message}\nhelp: {help}");
    }
    format!(
        "::{level} {}::{}",
        properties.join(","),
        escape_data(&message)
    )
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}
