//! `--target ADDR`: the jobs whose address matches a glob (`*`, `?`), and
//! everything they need.

use petgraph::graph::NodeIndex;

use super::JobGraph;

/// `*` matches any run of characters, `?` one character.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

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
    let mut selected = vec![false; graph.len()];
    let mut stack: Vec<NodeIndex> = Vec::new();
    for pattern in patterns {
        let matched: Vec<NodeIndex> = graph
            .jobs()
            .filter(|(_, job)| glob_matches(pattern, &job.address.to_string()))
            .map(|(index, _)| index)
            .collect();
        if matched.is_empty() {
            return Err(pattern.clone());
        }
        stack.extend(matched.into_iter().filter(|node| allowed[node.index()]));
    }
    while let Some(node) = stack.pop() {
        if !selected[node.index()] {
            selected[node.index()] = true;
            stack.extend(graph.dependencies(node));
        }
    }
    Ok(selected)
}

/// Takes out of `selected` the jobs matching any of `patterns` and every
/// job that needs one of them (it could not run right without it). `Err`
/// names a pattern that matches no job.
pub fn exclude<S>(
    graph: &JobGraph<S>,
    selected: &mut [bool],
    patterns: &[String],
) -> Result<(), String> {
    let mut stack: Vec<NodeIndex> = Vec::new();
    for pattern in patterns {
        let matched: Vec<NodeIndex> = graph
            .jobs()
            .filter(|(_, job)| glob_matches(pattern, &job.address.to_string()))
            .map(|(index, _)| index)
            .collect();
        if matched.is_empty() {
            return Err(pattern.clone());
        }
        stack.extend(matched);
    }
    let mut out = vec![false; selected.len()];
    while let Some(node) = stack.pop() {
        if !out[node.index()] {
            out[node.index()] = true;
            stack.extend(graph.dependents(node));
        }
    }
    for (keep, gone) in selected.iter_mut().zip(out) {
        *keep &= !gone;
    }
    Ok(())
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
