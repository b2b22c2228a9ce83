//! Edges from a resolved plan: a job depends on the builder it names, on
//! the job that writes an image it reads, and on what `needs:` lists.

use std::collections::HashMap;
use std::marker::PhantomData;

use petgraph::graph::{DiGraph, NodeIndex};

use super::{Edge, Job, JobGraph, Unchecked};
use crate::plan::address::{Address, JobKind};
use crate::plan::reference::ImageRef;
use crate::plan::resolved::{At, Placement, Plan, Via};

pub fn build_graph(plan: &Plan) -> JobGraph<Unchecked> {
    let mut graph: DiGraph<Job, Edge> = DiGraph::with_capacity(
        plan.builders.len() + plan.builds.len() + plan.syncs.len() + plan.combines.len(),
        0,
    );
    let mut by_address: HashMap<Address, NodeIndex> = HashMap::new();
    let mut add = |kind: JobKind, name: &At<String>, graph: &mut DiGraph<Job, Edge>| {
        let address = Address::new(kind, name.value.clone());
        let index = graph.add_node(Job {
            address: address.clone(),
            at: name.at,
        });
        by_address.insert(address, index);
        index
    };
    let builders: Vec<NodeIndex> = plan.builders.iter().map(|b| add(JobKind::Builder, &b.name, &mut graph)).collect();
    let builds: Vec<NodeIndex> = plan.builds.iter().map(|b| add(JobKind::Build, &b.name, &mut graph)).collect();
    let syncs: Vec<NodeIndex> = plan.syncs.iter().map(|s| add(JobKind::Sync, &s.name, &mut graph)).collect();
    let combines: Vec<NodeIndex> = plan.combines.iter().map(|c| add(JobKind::Combine, &c.name, &mut graph)).collect();

    let builder_index: HashMap<&str, NodeIndex> = plan
        .builders
        .iter()
        .zip(&builders)
        .map(|(b, i)| (b.name.value.as_str(), *i))
        .collect();
    let mut producers: HashMap<String, NodeIndex> = HashMap::new();
    for (build, index) in plan.builds.iter().zip(&builds) {
        for tag in &build.tags {
            producers.insert(tag.value.to_string(), *index);
        }
    }
    for (sync, index) in plan.syncs.iter().zip(&syncs) {
        for target in &sync.to {
            producers.insert(target.value.to_string(), *index);
        }
    }
    for (combine, index) in plan.combines.iter().zip(&combines) {
        for target in &combine.to {
            producers.insert(target.value.to_string(), *index);
        }
    }

    let mut link = |graph: &mut DiGraph<Job, Edge>, from: NodeIndex, to: NodeIndex, edge: Edge| {
        if !graph.edges_connecting(from, to).any(|e| *e.weight() == edge) {
            graph.add_edge(from, to, edge);
        }
    };
    let link_builder = |graph: &mut DiGraph<Job, Edge>, name: &At<String>, job: NodeIndex, link: &mut dyn FnMut(&mut DiGraph<Job, Edge>, NodeIndex, NodeIndex, Edge)| {
        if let Some(builder) = builder_index.get(name.value.as_str()) {
            link(graph, *builder, job, Edge::Builder);
        }
    };
    let link_input = |graph: &mut DiGraph<Job, Edge>, image: &At<ImageRef>, job: NodeIndex, link: &mut dyn FnMut(&mut DiGraph<Job, Edge>, NodeIndex, NodeIndex, Edge)| {
        // A digest pins content that exists already; only a tag can be waited for.
        if image.value.is_pinned() {
            return;
        }
        let key = image.value.to_string();
        if let Some(producer) = producers.get(&key).filter(|p| **p != job) {
            link(graph, *producer, job, Edge::Image(key));
        }
    };

    for (build, &job) in plan.builds.iter().zip(&builds) {
        match &build.builder {
            Placement::Default => {}
            Placement::One(name) => link_builder(&mut graph, name, job, &mut link),
            Placement::PerPlatform(map) => {
                for (_, name) in map {
                    link_builder(&mut graph, name, job, &mut link);
                }
            }
        }
        for input in &build.inputs {
            link_input(&mut graph, input, job, &mut link);
        }
    }
    for (sync, &job) in plan.syncs.iter().zip(&syncs) {
        if let (Via::Builder, Some(name)) = (sync.via, &sync.builder) {
            link_builder(&mut graph, name, job, &mut link);
        }
        link_input(&mut graph, &sync.from, job, &mut link);
    }
    for (combine, &job) in plan.combines.iter().zip(&combines) {
        if let (Via::Builder, Some(name)) = (combine.via, &combine.builder) {
            link_builder(&mut graph, name, job, &mut link);
        }
        for source in &combine.from {
            link_input(&mut graph, &source.image, job, &mut link);
        }
    }
    let needs = plan
        .builds
        .iter()
        .zip(&builds)
        .map(|(b, i)| (&b.needs, *i))
        .chain(plan.syncs.iter().zip(&syncs).map(|(s, i)| (&s.needs, *i)))
        .chain(plan.combines.iter().zip(&combines).map(|(c, i)| (&c.needs, *i)));
    for (list, job) in needs {
        for need in list {
            if let Some(dependency) = Address::parse(&need.value).and_then(|a| by_address.get(&a)) {
                link(&mut graph, *dependency, job, Edge::Needs);
            }
        }
    }
    JobGraph {
        graph,
        by_address,
        state: PhantomData,
    }
}
