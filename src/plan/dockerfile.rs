//! The base images a Dockerfile names in its `FROM` lines.
//!
//! Only what the graph needs: which images a build reads, so a build whose
//! base image is produced by another job runs after it. `ARG`s declared
//! before the first `FROM` are substituted (build args override their
//! defaults); stages referring to earlier stages, `scratch`, and images
//! still holding an unresolved variable are not inputs.

use indexmap::IndexMap;

/// One `FROM` image and the line it is on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    pub image: String,
    pub line: usize,
}

/// What the graph needs of a Dockerfile, read once however many builds use
/// it: the `ARG`s before the first `FROM`, and each `FROM` line.
#[derive(Debug, Clone, Default)]
pub struct Dockerfile {
    /// Name and default, in order.
    global_args: Vec<(String, String)>,
    froms: Vec<FromLine>,
}

#[derive(Debug, Clone)]
struct FromLine {
    line: usize,
    /// As written, variables and all.
    image: String,
    /// `AS NAME`, lowercased.
    stage: Option<String>,
}

impl Dockerfile {
    pub fn parse(text: &str) -> Self {
        let mut parsed = Self::default();
        for (line_number, line) in logical_lines(text) {
            let mut words = line.split_whitespace();
            let Some(instruction) = words.next() else {
                continue;
            };
            if instruction.eq_ignore_ascii_case("ARG") && parsed.froms.is_empty() {
                for declaration in words {
                    let (name, default) = declaration.split_once('=').unwrap_or((declaration, ""));
                    parsed
                        .global_args
                        .push((name.to_owned(), default.trim_matches('"').to_owned()));
                }
            } else if instruction.eq_ignore_ascii_case("FROM") {
                let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
                let Some(image) = rest.first() else { continue };
                let stage = rest
                    .get(2)
                    .filter(|_| rest[1].eq_ignore_ascii_case("AS"))
                    .map(|alias| alias.to_ascii_lowercase());
                parsed.froms.push(FromLine {
                    line: line_number,
                    image: (*image).to_owned(),
                    stage,
                });
            }
        }
        parsed
    }

    /// The images the `FROM` lines name with these build args.
    pub fn base_images(&self, build_args: &IndexMap<String, String>) -> Vec<BaseImage> {
        // A Dockerfile has a few global args and stages: lists, not maps
        // (this runs once per build of a plan).
        let args: Vec<(&str, &str)> = self
            .global_args
            .iter()
            .map(|(name, default)| {
                let value = build_args
                    .get(name)
                    .map_or(default.as_str(), String::as_str);
                (name.as_str(), value)
            })
            .collect();
        let mut stages: Vec<&str> = Vec::new();
        let mut images = Vec::new();
        for from in &self.froms {
            if let Some(stage) = &from.stage {
                stages.push(stage);
            }
            let Some(image) = substitute(&from.image, &args) else {
                continue;
            };
            if image.eq_ignore_ascii_case("scratch")
                || stages.contains(&image.to_ascii_lowercase().as_str())
            {
                continue;
            }
            // A stage may be named before it is used as an alias of this line.
            images.push(BaseImage {
                image,
                line: from.line,
            });
        }
        // `FROM base AS a` then `FROM a`: `a` is a stage, not an image.
        images.retain(|base| !stages.contains(&base.image.to_ascii_lowercase().as_str()));
        images
    }
}

/// Lines joined over `\` continuations, comments dropped, with their first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if current.is_empty() {
            start = index + 1;
            if trimmed.starts_with('#') {
                continue;
            }
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                lines.push((start, std::mem::take(&mut current)));
            }
        }
    }
    if !current.is_empty() {
        lines.push((start, current));
    }
    lines
}

/// `${NAME}`, `${NAME:-default}` and `$NAME` replaced; `None` if a name is unknown or empty.
fn substitute(word: &str, args: &[(&str, &str)]) -> Option<String> {
    let mut out = String::new();
    let mut rest = word;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        let (expr, after) = if let Some(inner) = rest.strip_prefix('{') {
            let close = inner.find('}')?;
            (&inner[..close], &inner[close + 1..])
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        let (name, default) = match expr.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (expr, None),
        };
        let value = args
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .filter(|v| !v.is_empty())
            .or(default)?;
        out.push_str(value);
        rest = after;
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(text: &str, args: &[(&str, &str)]) -> Vec<String> {
        let args = args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Dockerfile::parse(text)
            .base_images(&args)
            .into_iter()
            .map(|b| b.image)
            .collect()
    }

    #[test]
    fn finds_base_images() {
        assert_eq!(images("FROM centos:8\n", &[]), ["centos:8"]);
        assert_eq!(
            images(
                "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM scratch\nCOPY --from=build / /\n",
                &[]
            ),
            ["golang:1.22"]
        );
        assert_eq!(images("FROM a:1 AS base\nFROM base\n", &[]), ["a:1"]);
    }

    #[test]
    fn substitutes_global_args() {
        let seed_sync = "ARG IMAGE\nFROM ${IMAGE}\n";
        assert_eq!(
            images(seed_sync, &[("IMAGE", "alpine:3.12")]),
            ["alpine:3.12"]
        );
        assert!(images(seed_sync, &[]).is_empty());
        assert_eq!(images("ARG V=3\nFROM alpine:$V\n", &[]), ["alpine:3"]);
        assert_eq!(
            images("ARG V=3\nFROM alpine:${V}\n", &[("V", "4")]),
            ["alpine:4"]
        );
        assert_eq!(images("FROM alpine:${V:-5}\n", &[]), ["alpine:5"]);
    }

    #[test]
    fn seed_combine_reads_both_sources() {
        let seed_combine = "FROM example.com/alpine:3.12-arm64 as arm64\nFROM example.com/alpine:3.12-amd64 as amd64\n\nFROM ${TARGETARCH}\n";
        assert_eq!(
            images(seed_combine, &[]),
            [
                "example.com/alpine:3.12-arm64",
                "example.com/alpine:3.12-amd64"
            ]
        );
    }

    #[test]
    fn joins_continuations_and_skips_comments() {
        assert_eq!(
            images("# FROM nope\nFROM \\\n  alpine:3\n", &[]),
            ["alpine:3"]
        );
    }
}
