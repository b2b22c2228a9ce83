//! Edges from a resolved plan: a job depends on the builder it names, on
//! the job that writes an image it reads, and on what `needs:` lists.

use foldhash::{HashMap, HashMapExt};
use std::marker::PhantomData;

use petgraph::graph::{DiGraph, NodeIndex};

use super::{Edge, Job, JobGraph, Unchecked};
use crate::plan::address::{Address, JobKind};
use crate::plan::reference::ImageRef;
use crate::plan::resolved::{At, ContextSource, Placement, Plan, TagRename, Via};

/// The graph under construction, with the indexes edges are found through.
struct Linker<'a> {
    graph: DiGraph<Job, Edge>,
    by_address: HashMap<Address, NodeIndex>,
    builders: HashMap<&'a str, NodeIndex>,
    /// Normalized image reference -> the job that writes it.
    producers: HashMap<String, NodeIndex>,
    /// Repository syncs: the target repository, how its tags are named,
    /// and the job (which tags it writes is known only at run time).
    repositories: Vec<(String, &'a TagRename, NodeIndex)>,
}

impl<'a> Linker<'a> {
    fn add(&mut self, kind: JobKind, name: &At<String>, entry: usize) -> NodeIndex {
        let address = Address::new(kind, name.value.clone());
        let index = self.graph.add_node(Job {
            address: address.clone(),
            at: name.at,
            entry,
        });
        self.by_address.insert(address, index);
        index
    }

    fn produces(&mut self, job: NodeIndex, targets: &[At<ImageRef>]) {
        for target in targets {
            self.producers.insert(target.value.to_string(), job);
        }
    }

    fn link(&mut self, from: NodeIndex, to: NodeIndex, edge: Edge) {
        if !self
            .graph
            .edges_connecting(from, to)
            .any(|e| *e.weight() == edge)
        {
            self.graph.add_edge(from, to, edge);
        }
    }

    fn builder(&mut self, name: &At<String>, job: NodeIndex) {
        if let Some(&builder) = self.builders.get(name.value.as_str()) {
            self.link(builder, job, Edge::Builder);
        }
    }

    fn input(&mut self, image: &At<ImageRef>, job: NodeIndex) {
        // A digest pins content that exists already; only a tag can be waited for.
        if image.value.is_pinned() {
            return;
        }
        let key = image.value.to_string();
        let producer = self.producers.get(&key).copied().or_else(|| {
            let ImageRef::Registry(r) = &image.value else {
                return None;
            };
            let tag = r
                .tag
                .as_deref()
                .unwrap_or(crate::plan::reference::DEFAULT_TAG);
            let repository = image.value.repository_name();
            self.repositories
                .iter()
                .find(|(name, rename, _)| *name == repository && rename.source_of(tag).is_some())
                .map(|(_, _, job)| *job)
        });
        if let Some(producer) = producer
            && producer != job
        {
            self.link(producer, job, Edge::Image(key));
        }
    }

    /// A named context that is another job's result: it runs first, and
    /// this job consumes what it makes.
    fn context(&mut self, address: &Address, job: NodeIndex) {
        if let Some(&producer) = self.by_address.get(address) {
            self.link(producer, job, Edge::Context(address.to_string()));
        }
    }

    fn needs(&mut self, needs: &[At<String>], job: NodeIndex) {
        for need in needs {
            if let Some(&dependency) =
                Address::parse(&need.value).and_then(|a| self.by_address.get(&a))
            {
                self.link(dependency, job, Edge::Needs);
            }
        }
    }
}

pub fn build_graph(plan: &Plan) -> JobGraph<Unchecked> {
    let jobs = plan.builders.len() + plan.builds.len() + plan.syncs.len() + plan.combines.len();
    let mut linker = Linker {
        graph: DiGraph::with_capacity(jobs, jobs),
        by_address: HashMap::with_capacity(jobs),
        builders: HashMap::new(),
        producers: HashMap::new(),
        repositories: Vec::new(),
    };
    for (entry, builder) in plan.builders.iter().enumerate() {
        let index = linker.add(JobKind::Builder, &builder.name, entry);
        linker.builders.insert(builder.name.value.as_str(), index);
    }
    let builds: Vec<NodeIndex> = plan
        .builds
        .iter()
        .enumerate()
        .map(|(entry, b)| linker.add(JobKind::Build, &b.name, entry))
        .collect();
    let syncs: Vec<NodeIndex> = plan
        .syncs
        .iter()
        .enumerate()
        .map(|(entry, s)| linker.add(JobKind::Sync, &s.name, entry))
        .collect();
    let combines: Vec<NodeIndex> = plan
        .combines
        .iter()
        .enumerate()
        .map(|(entry, c)| linker.add(JobKind::Combine, &c.name, entry))
        .collect();
    for (build, &job) in plan.builds.iter().zip(&builds) {
        linker.produces(job, &build.tags);
    }
    for (sync, &job) in plan.syncs.iter().zip(&syncs) {
        match &sync.repository {
            None => linker.produces(job, &sync.to),
            Some(repository) => {
                for (target, rename) in sync.to.iter().zip(&repository.renames) {
                    linker
                        .repositories
                        .push((target.value.repository_name(), rename, job));
                }
            }
        }
    }
    for (combine, &job) in plan.combines.iter().zip(&combines) {
        linker.produces(job, &combine.to);
    }

    for (build, &job) in plan.builds.iter().zip(&builds) {
        match &build.builder {
            Placement::Default => {}
            Placement::One(name) => linker.builder(name, job),
            Placement::PerPlatform(map) => {
                for (_, name) in map {
                    linker.builder(name, job);
                }
            }
        }
        for input in &build.inputs {
            linker.input(input, job);
        }
        for context in &build.contexts {
            if let ContextSource::Job(address) = &context.value.source {
                linker.context(address, job);
            }
        }
        linker.needs(&build.needs, job);
    }
    for (sync, &job) in plan.syncs.iter().zip(&syncs) {
        if let (Via::Builder, Some(name)) = (sync.via, &sync.builder) {
            linker.builder(name, job);
        }
        linker.input(&sync.from, job);
        linker.needs(&sync.needs, job);
    }
    for (combine, &job) in plan.combines.iter().zip(&combines) {
        if let (Via::Builder, Some(name)) = (combine.via, &combine.builder) {
            linker.builder(name, job);
        }
        for source in &combine.from {
            linker.input(&source.image, job);
        }
        linker.needs(&combine.needs, job);
    }
    JobGraph {
        graph: linker.graph,
        by_address: linker.by_address,
        state: PhantomData,
    }
}
