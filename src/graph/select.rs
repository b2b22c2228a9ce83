//! `--target ADDR`: the jobs whose address matches a glob (`*`, `?`), and
//! everything they need; `--exclude ADDR`: less those and what needs them.

use petgraph::graph::NodeIndex;

use super::JobGraph;

pub use crate::plan::address::glob_matches;

/// Selected jobs (by node index), closed under dependencies; `Err` names a pattern that matched nothing.
pub fn select<S>(graph: &JobGraph<S>, patterns: &[String]) -> Result<Vec<bool>, String> {
    select_among(graph, patterns, &vec![true; graph.len()])
}

/// As [`select`], starting only from jobs `allowed` (those `--exclude` left);
/// what they need is always allowed, since an excluded job takes out what
/// needs it (see [`exclude`]).
pub fn select_among<S>(
    graph: &JobGraph<S>,
    patterns: &[String],
    allowed: &[bool],
) -> Result<Vec<bool>, String> {
    let mut roots = matching(graph, patterns)?;
    roots.retain(|node| allowed[node.index()]);
    Ok(closure(graph, roots, |node| {
        graph.dependencies(node).collect()
    }))
}

/// Takes out of `selected` the jobs matching any of `patterns` and every
/// job that needs one of them (it could not run right without it). `Err`
/// names a pattern that matches no job.
pub fn exclude<S>(
    graph: &JobGraph<S>,
    selected: &mut [bool],
    patterns: &[String],
) -> Result<(), String> {
    let roots = matching(graph, patterns)?;
    let out = closure(graph, roots, |node| graph.dependents(node).collect());
    for (keep, gone) in selected.iter_mut().zip(out) {
        *keep &= !gone;
    }
    Ok(())
}

/// The jobs each pattern matches; `Err` names one that matches none.
fn matching<S>(graph: &JobGraph<S>, patterns: &[String]) -> Result<Vec<NodeIndex>, String> {
    let mut found = Vec::new();
    for pattern in patterns {
        let before = found.len();
        found.extend(
            graph
                .jobs()
                .filter(|(_, job)| glob_matches(pattern, &job.address.to_string()))
                .map(|(index, _)| index),
        );
        if found.len() == before {
            return Err(pattern.clone());
        }
    }
    Ok(found)
}

/// `roots` and every job reached from them by `next`, by node index.
fn closure<S>(
    graph: &JobGraph<S>,
    mut stack: Vec<NodeIndex>,
    next: impl Fn(NodeIndex) -> Vec<NodeIndex>,
) -> Vec<bool> {
    let mut reached = vec![false; graph.len()];
    while let Some(node) = stack.pop() {
        if !reached[node.index()] {
            reached[node.index()] = true;
            stack.extend(next(node));
        }
    }
    reached
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs() {
        assert!(glob_matches("sync.*", "sync.alpine-3.12"));
        assert!(glob_matches("*.alpine", "combine.alpine"));
        assert!(glob_matches("sync.alpine-3.1?", "sync.alpine-3.12"));
        assert!(!glob_matches("sync.*", "build.centos"));
        assert!(glob_matches("build.centos", "build.centos"));
        assert!(!glob_matches("build.cent", "build.centos"));
    }
}
