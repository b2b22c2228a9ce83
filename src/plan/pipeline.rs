//! The whole front end in one call: find the files, read, parse, resolve
//! and validate them, collecting every diagnostic on the way.

use std::path::{Path, PathBuf};

use super::diagnostic::Diagnostic;
use super::load;
use super::resolve::{self, Inputs};
use super::resolved::Plan;
use super::source::SourceMap;
use super::template::EnvLookup;
use super::validate;

pub struct Request<'a> {
    /// Folder the command runs in: discovery looks here, `-f` paths are relative to it.
    pub dir: &'a Path,
    /// `-f FILE`, in order; empty means discover.
    pub files: &'a [PathBuf],
    pub var_overrides: &'a [(String, String)],
    pub env: EnvLookup<'a>,
}

/// The plan as far as it could be resolved, with every problem found.
/// The plan carries the sources the diagnostics point into.
pub struct Loaded {
    pub plan: Plan,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

pub fn load(request: &Request<'_>) -> Loaded {
    let mut diagnostics = Vec::new();
    let mut sources = SourceMap::default();
    let paths = if request.files.is_empty() {
        match load::discover(request.dir) {
            Ok(paths) => paths,
            Err(diagnostic) => {
                return Loaded {
                    plan: Plan::default(),
                    diagnostics: vec![diagnostic],
                };
            }
        }
    } else {
        request.files.to_vec()
    };
    let mut files = Vec::new();
    for path in &paths {
        match load::read(path, request.dir, &mut sources) {
            Ok(id) => match load::parse(id, sources.get(id)) {
                Ok(parsed) => files.push((id, parsed)),
                Err(diagnostic) => diagnostics.push(diagnostic),
            },
            Err(diagnostic) => diagnostics.push(diagnostic),
        }
    }
    let inputs = Inputs {
        var_overrides: request.var_overrides,
        env: request.env,
    };
    let (mut plan, resolve_diagnostics) = resolve::resolve(sources, &files, &inputs);
    diagnostics.extend(resolve_diagnostics);
    diagnostics.extend(validate::validate(&mut plan));
    // In file order, as a compiler reports them; problems without a place first.
    diagnostics.sort_by_key(|d| d.primary().map(|l| (l.origin.file, l.origin.span.start)));
    Loaded { plan, diagnostics }
}
