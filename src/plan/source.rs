//! Source files and places in them.
//!
//! Every value that came from a plan file keeps an [`Origin`]: which file and
//! which bytes. That is what lets a cycle, an unknown builder or an undefined
//! template variable point at its line and column long after parsing.

use std::path::{Path, PathBuf};

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub usize);

/// A byte range inside one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub len: usize,
}

impl Span {
    pub const fn new(start: usize, len: usize) -> Self {
        Self { start, len }
    }

    pub const fn end(self) -> usize {
        self.start + self.len
    }
}

/// A place in a plan file: the file and the bytes the value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    pub file: FileId,
    pub span: Span,
}

impl Origin {
    pub const fn new(file: FileId, span: Span) -> Self {
        Self { file, span }
    }
}

/// One plan file as read from disk.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user named it (or as discovery found it), for messages.
    pub name: String,
    /// The path used to resolve relative paths (build contexts, CA files).
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    /// Folder that relative paths in this file are resolved against.
    pub fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    }

    /// `path` as messages show it: relative to where the user named this file
    /// from (the working directory), so a message reads the same on every
    /// machine; absolute only when `path` lies outside that directory.
    pub fn display_path(&self, path: &Path) -> PathBuf {
        use std::path::Component;
        let named = Path::new(&self.name).components();
        if named
            .clone()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return path.to_path_buf();
        }
        let depth = named.filter(|c| matches!(c, Component::Normal(_))).count();
        let full: Vec<Component> = self.path.components().collect();
        let base: PathBuf = full[..full.len().saturating_sub(depth)].iter().collect();
        match path.strip_prefix(&base) {
            Ok(relative) if !base.as_os_str().is_empty() => relative.to_path_buf(),
            _ => path.to_path_buf(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// Clamps a span so it lies inside the text and on character boundaries.
    pub fn clamp(&self, span: Span) -> Span {
        let start = floor_char_boundary(&self.text, span.start.min(self.text.len()));
        let end = floor_char_boundary(&self.text, span.end().min(self.text.len())).max(start);
        Span::new(start, end - start)
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// All files of one plan, addressed by [`FileId`].
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        FileId(self.files.len() - 1)
    }

    pub fn get_mut(&mut self, id: FileId) -> &mut SourceFile {
        &mut self.files[id.0]
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0]
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i), f))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters() {
        let file = SourceFile {
            name: "p.yaml".into(),
            path: "p.yaml".into(),
            text: "a: 1\nbé: x\n".into(),
        };
        assert_eq!(file.line_column(0), (1, 1));
        assert_eq!(file.line_column(5), (2, 1));
        // 'é' is two bytes; the ':' after it is the third character.
        assert_eq!(file.line_column(8), (2, 3));
    }

    #[test]
    fn display_path_is_relative_to_where_the_file_was_named_from() {
        let file = |name: &str, path: &str| SourceFile {
            name: name.into(),
            path: path.into(),
            text: String::new(),
        };
        let named = file("plans/a.yaml", "/checkout/plans/a.yaml");
        assert_eq!(
            named.display_path(Path::new("/checkout/ctx/Dockerfile")),
            Path::new("ctx/Dockerfile")
        );
        assert_eq!(
            named.display_path(Path::new("/elsewhere/Dockerfile")),
            Path::new("/elsewhere/Dockerfile")
        );
        let dotted = file("./a.yaml", "/checkout/./a.yaml");
        assert_eq!(
            dotted.display_path(Path::new("/checkout/Dockerfile")),
            Path::new("Dockerfile")
        );
        let up = file("../a.yaml", "/checkout/../a.yaml");
        assert_eq!(
            up.display_path(Path::new("/Dockerfile")),
            Path::new("/Dockerfile")
        );
    }
}
