//! Cycles, found and printed as a path a person can follow.

use std::collections::{HashMap, HashSet, VecDeque};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use super::{Edge, Job};
use crate::plan::diagnostic::Diagnostic;

/// One diagnostic per strongly connected component that loops.
pub fn find_cycles(graph: &DiGraph<Job, Edge>) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for component in tarjan_scc(graph) {
        let looped = component.len() > 1
            || component
                .first()
                .is_some_and(|&n| graph.find_edge(n, n).is_some());
        if !looped {
            continue;
        }
        // Start at the first job in plan order so the message is stable.
        let Some(&start) = component.iter().min() else {
            continue;
        };
        let members: HashSet<NodeIndex> = component.iter().copied().collect();
        let path = shortest_loop(graph, start, &members);
        let names: Vec<String> = path
            .iter()
            .chain(std::iter::once(&start))
            .map(|&n| graph[n].address.to_string())
            .collect();
        let mut diagnostic = Diagnostic::error(
            "plan::cycle",
            format!("dependency cycle: {}", names.join(" -> ")),
        );
        for (i, &node) in path.iter().enumerate() {
            let next = path.get(i + 1).copied().unwrap_or(start);
            let why = graph
                .find_edge(node, next)
                .map_or_else(String::new, |e| match &graph[e] {
                    Edge::Builder => " (its builder)".into(),
                    Edge::Image(image) => format!(" (writes {image})"),
                    Edge::Needs => " (needs)".into(),
                    Edge::Context(_) => " (its result, a named context)".into(),
                });
            diagnostic = diagnostic.label(
                graph[node].at,
                format!(
                    "{} runs before {}{why}",
                    graph[node].address, graph[next].address
                ),
            );
        }
        diagnostics.push(diagnostic.help(
            "break the cycle: remove a `needs` entry, or make one of these jobs read an image no job in the cycle writes",
        ));
    }
    diagnostics
}

/// The shortest path from `start` back to `start` inside the component.
fn shortest_loop(
    graph: &DiGraph<Job, Edge>,
    start: NodeIndex,
    members: &HashSet<NodeIndex>,
) -> Vec<NodeIndex> {
    let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for next in graph.neighbors(node) {
            if !members.contains(&next) {
                continue;
            }
            if next == start {
                let mut path = vec![node];
                let mut cursor = node;
                while let Some(&p) = parent.get(&cursor) {
                    path.push(p);
                    cursor = p;
                }
                path.reverse();
                return path;
            }
            if next != start && !parent.contains_key(&next) {
                parent.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    vec![start]
}
