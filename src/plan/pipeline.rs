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
    /// `--set`, applied to the parsed files before they are resolved.
    pub overrides: &'a [super::overrides::Override],
    pub env: EnvLookup<'a>,
    /// `git.*` for templates (see `backend::git`); `None`: not readable.
    pub git: Option<super::template::GitLookup<'a>>,
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
    let mut unreadable = Vec::new();
    for path in &paths {
        if let Err(diagnostic) = load::read(path, request.dir, &mut sources) {
            unreadable.push(diagnostic);
        }
    }
    let mut loaded = check_sources_with(
        sources,
        request.overrides,
        &Inputs {
            var_overrides: request.var_overrides,
            env: request.env,
            git: request.git,
        },
    );
    unreadable.append(&mut loaded.diagnostics);
    loaded.diagnostics = unreadable;
    loaded
}

/// Parses sources already in memory (tests, fuzzing, editors) and checks them.
pub fn check_sources(
    sources: SourceMap,
    var_overrides: &[(String, String)],
    env: EnvLookup<'_>,
) -> Loaded {
    check_sources_with(
        sources,
        &[],
        &Inputs {
            var_overrides,
            env,
            git: None,
        },
    )
}

/// As [`check_sources`], with `--set` overrides applied after parsing.
pub fn check_sources_with(
    mut sources: SourceMap,
    overrides: &[super::overrides::Override],
    inputs: &Inputs<'_>,
) -> Loaded {
    let mut diagnostics = Vec::new();
    let mut files = Vec::new();
    for (id, source) in sources.iter() {
        match load::parse(id, source) {
            Ok(parsed) => files.push((id, parsed)),
            Err(diagnostic) => diagnostics.push(diagnostic),
        }
    }
    if !overrides.is_empty() {
        diagnostics.extend(super::overrides::apply(&mut sources, &mut files, overrides));
    }
    let mut loaded = check(sources, files, inputs);
    diagnostics.append(&mut loaded.diagnostics);
    loaded.diagnostics = diagnostics;
    sort(&mut loaded.diagnostics);
    loaded
}

fn check(
    sources: SourceMap,
    files: Vec<(super::source::FileId, super::model::PlanFile)>,
    inputs: &Inputs<'_>,
) -> Loaded {
    let (mut plan, mut diagnostics) = resolve::resolve(sources, &files, inputs);
    // The parsed files of a large plan are freed on a thread of their own,
    // off the path to the answer.
    if plan.builds.len() + plan.syncs.len() + plan.combines.len() > 1000 {
        let _ = std::thread::Builder::new()
            .name("free-parsed".into())
            .spawn(move || drop(files));
    }
    diagnostics.extend(validate::validate(&mut plan));
    Loaded { plan, diagnostics }
}

/// In file order, as a compiler reports them; problems without a place
/// first. A template repeated by a matrix fails once per instance in the same
/// way: that is said once.
fn sort(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort_by_key(|d| d.primary().map(|l| (l.origin.file, l.origin.span.start)));
    diagnostics.dedup_by(|a, b| {
        a.code == b.code
            && a.message == b.message
            && a.primary().map(|l| l.origin) == b.primary().map(|l| l.origin)
    });
}
