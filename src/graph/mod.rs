//! Jobs and the edges between them.
//!
//! A [`JobGraph`] is built from a resolved plan in the `Unchecked` state and
//! becomes `Validated` only through [`JobGraph::validate`], which rejects
//! cycles. Everything that runs jobs takes a `JobGraph<Validated>`, so an
//! unchecked graph cannot be executed by mistake.

mod build;
mod cycle;
pub mod export;
pub mod select;

use foldhash::HashMap;
use std::marker::PhantomData;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

use crate::plan::address::Address;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::source::Origin;

/// Marker: built, not yet checked for cycles.
#[derive(Debug)]
pub struct Unchecked;
/// Marker: acyclic, safe to execute.
#[derive(Debug)]
pub struct Validated;

#[derive(Debug, Clone)]
pub struct Job {
    pub address: Address,
    /// Where the job's name is written.
    pub at: Origin,
    /// Its entry in its section of the plan (`plan.builds[entry]` for a
    /// build): the job is found without a search by name.
    pub entry: usize,
}

/// Why one job waits for another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", content = "detail", rename_all = "lowercase")]
pub enum Edge {
    /// The job runs on this builder.
    Builder,
    /// The job reads an image the other job writes (normalized reference).
    Image(String),
    /// Ordered by `needs:`.
    Needs,
    /// The job reads the other's result as a named context, by digest.
    Context(String),
}

impl Edge {
    pub fn describe(&self) -> String {
        match self {
            Self::Builder => "builder".into(),
            Self::Image(image) => image.clone(),
            Self::Needs => "needs".into(),
            Self::Context(address) => format!("context {address}"),
        }
    }
}

/// Edges point from a job to the jobs that depend on it.
#[derive(Debug)]
pub struct JobGraph<State = Validated> {
    graph: DiGraph<Job, Edge>,
    by_address: HashMap<Address, NodeIndex>,
    state: PhantomData<State>,
}

impl JobGraph<Unchecked> {
    /// Rejects cycles; each is one diagnostic that prints the cycle.
    pub fn validate(self) -> Result<JobGraph<Validated>, Vec<Diagnostic>> {
        let cycles = cycle::find_cycles(&self.graph);
        if cycles.is_empty() {
            Ok(JobGraph {
                graph: self.graph,
                by_address: self.by_address,
                state: PhantomData,
            })
        } else {
            Err(cycles)
        }
    }
}

impl<State> JobGraph<State> {
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    pub fn jobs(&self) -> impl Iterator<Item = (NodeIndex, &Job)> {
        self.graph.node_indices().map(|i| (i, &self.graph[i]))
    }

    pub fn job(&self, index: NodeIndex) -> &Job {
        &self.graph[index]
    }

    pub fn find(&self, address: &Address) -> Option<NodeIndex> {
        self.by_address.get(address).copied()
    }

    /// Every edge as (dependency, dependent, why).
    pub fn edges(&self) -> impl Iterator<Item = (&Job, &Job, &Edge)> {
        self.graph.edge_indices().filter_map(|e| {
            let (from, to) = self.graph.edge_endpoints(e)?;
            Some((&self.graph[from], &self.graph[to], &self.graph[e]))
        })
    }

    /// Why `dependent` waits for `dependency` (one edge per reason).
    pub fn reasons(
        &self,
        dependency: NodeIndex,
        dependent: NodeIndex,
    ) -> impl Iterator<Item = &Edge> {
        self.graph
            .edges_connecting(dependency, dependent)
            .map(|e| e.weight())
    }

    /// The jobs this one waits for.
    pub fn dependencies(&self, index: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.neighbors_directed(index, Direction::Incoming)
    }

    /// The jobs that wait for this one.
    pub fn dependents(&self, index: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.neighbors_directed(index, Direction::Outgoing)
    }

    /// The jobs that read an image another job of this plan writes.
    pub fn image_readers(&self) -> impl Iterator<Item = &Job> {
        self.graph
            .node_indices()
            .filter(|&node| {
                self.graph
                    .edges_directed(node, Direction::Incoming)
                    .any(|edge| matches!(edge.weight(), Edge::Image(_)))
            })
            .map(|node| &self.graph[node])
    }

    /// Only the jobs marked in `keep` (by node index) and the edges between
    /// them. A part of an acyclic graph is acyclic: the state carries over.
    pub fn subgraph(&self, keep: &[bool]) -> Self {
        let graph = self.graph.filter_map(
            |index, job| {
                keep.get(index.index())
                    .copied()
                    .unwrap_or(false)
                    .then(|| job.clone())
            },
            |_, edge| Some(edge.clone()),
        );
        let by_address = graph
            .node_indices()
            .map(|index| (graph[index].address.clone(), index))
            .collect();
        Self {
            graph,
            by_address,
            state: PhantomData,
        }
    }
}

pub use build::build_graph;
