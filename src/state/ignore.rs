//! `.dockerignore`: which files of a build context are sent to the builder,
//! and so which files the build's fingerprint covers.

use crate::graph::select::glob_matches;

pub struct DockerIgnore {
    /// (pattern segments, excluded) in file order; the last match wins.
    rules: Vec<(Vec<String>, bool)>,
}

impl DockerIgnore {
    pub fn parse(text: &str) -> Self {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| {
                let (negated, pattern) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, line),
                };
                let pattern = pattern
                    .trim_start_matches("./")
                    .trim_start_matches('/')
                    .trim_end_matches('/');
                (pattern.split('/').map(str::to_owned).collect(), !negated)
            })
            .collect();
        Self { rules }
    }

    /// Whether `path` (relative, `/`-separated) is left out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').collect();
        let mut excluded = false;
        for (pattern, exclude) in &self.rules {
            // A pattern matching a folder covers everything in it.
            let hit = (1..=segments.len()).any(|n| matches(pattern, &segments[..n]));
            if hit {
                excluded = *exclude;
            }
        }
        excluded
    }
}

/// Segment-wise glob: `**` spans any number of segments, `*` and `?` stay in one.
fn matches(pattern: &[String], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(p), _) if p == "**" => {
            matches(&pattern[1..], path) || (!path.is_empty() && matches(pattern, &path[1..]))
        }
        (Some(p), Some(s)) => glob_matches(p, s) && matches(&pattern[1..], &path[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::DockerIgnore;

    #[test]
    fn patterns_like_docker() {
        let ignore =
            DockerIgnore::parse("# comment\n*.log\nbuild/\n**/tmp\n!important.log\nnode_modules\n");
        assert!(ignore.excludes("debug.log"));
        assert!(!ignore.excludes("important.log"));
        assert!(ignore.excludes("build/out/app"));
        assert!(ignore.excludes("a/b/tmp/x"));
        assert!(ignore.excludes("node_modules/x/y.js"));
        assert!(!ignore.excludes("src/main.rs"));
        assert!(
            !ignore.excludes("sub/debug.log"),
            "`*.log` is anchored at the context root"
        );
    }
}
