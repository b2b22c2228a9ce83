//! The resolved plan: every file merged, templates rendered, matrices
//! expanded, references and platforms parsed, defaults applied. This is what
//! `plan show` prints and what the graph is built from.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::{Serialize, Serializer};

use super::address::{Address, JobKind};
pub use super::attest_spec::Provenance;
pub use super::model::{Driver, Strategy, Via};
use super::platform::Platform;
use super::reference::ImageRef;
use super::source::{Origin, SourceMap};

/// A value and the place in a plan file it came from.
#[derive(Debug, Clone)]
pub struct At<T> {
    pub value: T,
    pub at: Origin,
}

impl<T> At<T> {
    pub const fn new(value: T, at: Origin) -> Self {
        Self { value, at }
    }
}

impl<T: Serialize> Serialize for At<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Plan {
    #[serde(skip)]
    pub sources: SourceMap,
    pub vars: IndexMap<String, String>,
    pub registries: IndexMap<String, Registry>,
    pub mirrors: IndexMap<String, Vec<Mirror>>,
    pub builders: Vec<Builder>,
    pub builds: Vec<Build>,
    pub syncs: Vec<Sync>,
    pub combines: Vec<Combine>,
    /// What the plan's templates read from outside it.
    pub reads: Reads,
}

/// Environment variables and `git.*` fields the templates read (`plan
/// show` lists them: a plan reads only what it names).
#[derive(Debug, Default, Serialize)]
pub struct Reads {
    pub env: Vec<String>,
    pub git: Vec<String>,
}

impl Plan {
    /// The image the job at `address` publishes (its first target); `None`
    /// for a builder, a build that pushes nothing, or no such job.
    pub fn published_image(&self, address: &Address) -> Option<&At<ImageRef>> {
        let name = address.name.as_str();
        match address.kind {
            JobKind::Build => self
                .builds
                .iter()
                .find(|b| b.name.value == name)
                .filter(|b| b.push)
                .and_then(|b| b.tags.first()),
            JobKind::Sync => self
                .syncs
                .iter()
                .find(|s| s.name.value == name)
                .and_then(|s| s.to.first()),
            JobKind::Combine => self
                .combines
                .iter()
                .find(|c| c.name.value == name)
                .and_then(|c| c.to.first()),
            JobKind::Builder => None,
        }
    }

    /// Whether the plan has a job at `address`.
    pub fn has_job(&self, address: &Address) -> bool {
        let name = address.name.as_str();
        match address.kind {
            JobKind::Builder => self.builders.iter().any(|b| b.name.value == name),
            JobKind::Build => self.builds.iter().any(|b| b.name.value == name),
            JobKind::Sync => self.syncs.iter().any(|s| s.name.value == name),
            JobKind::Combine => self.combines.iter().any(|c| c.name.value == name),
        }
    }

    /// Keeps only the jobs whose address `keep` accepts (`--target`); the
    /// settings (vars, registries, mirrors) stay whole. A graph built
    /// before names entries of the whole plan (`Job::entry`): build it again.
    pub fn retain_jobs(&mut self, keep: impl Fn(&Address) -> bool) {
        self.builders
            .retain(|b| keep(&Address::new(JobKind::Builder, b.name.value.as_str())));
        self.builds
            .retain(|b| keep(&Address::new(JobKind::Build, b.name.value.as_str())));
        self.syncs
            .retain(|s| keep(&Address::new(JobKind::Sync, s.name.value.as_str())));
        self.combines
            .retain(|c| keep(&Address::new(JobKind::Combine, c.name.value.as_str())));
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Registry {
    pub insecure: bool,
    pub ca_file: Option<PathBuf>,
    pub max_concurrency: Option<u32>,
    pub requests_per_second: Option<u32>,
    #[serde(skip)]
    pub at: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mirror {
    pub host: String,
    pub insecure: bool,
}

/// How buildx reaches a node's Docker engine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// `ssh://user@host`, `unix://…`, `tcp://…`: passed as `--host`/`DOCKER_HOST`.
    Host(String),
    /// A Docker context name.
    Context(String),
    /// Neither given (`docker` builders only): the engine `docker` finds by
    /// itself — `DOCKER_HOST`, else `DOCKER_CONTEXT`, else its current context.
    Environment,
}

impl Endpoint {
    pub fn parse(text: &str) -> Self {
        if text.contains("://") {
            Self::Host(text.to_owned())
        } else {
            Self::Context(text.to_owned())
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub name: At<String>,
    pub endpoint: At<Endpoint>,
    pub platforms: Vec<At<Platform>>,
    pub max_parallel: Option<u32>,
    pub driver_opts: IndexMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Builder {
    pub name: At<String>,
    pub driver: Driver,
    /// Whether the plan's mirrors are rendered into this builder's buildkitd.toml.
    pub mirrors: bool,
    pub buildkitd_config: Option<String>,
    pub buildkitd_flags: Option<String>,
    /// For `driver: docker`, the one node is the engine itself.
    pub nodes: Vec<Node>,
}

impl Builder {
    /// Every platform some node offers; empty when the plan does not say.
    pub fn platforms(&self) -> impl Iterator<Item = &At<Platform>> {
        self.nodes.iter().flat_map(|node| node.platforms.iter())
    }
}

/// Where each platform of a build runs.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Placement {
    /// The buildx default builder (no `builder:` given).
    Default,
    /// Every platform on one builder.
    One(At<String>),
    /// A builder per platform.
    PerPlatform(Vec<(At<Platform>, At<String>)>),
}

#[derive(Debug, Clone, Serialize)]
pub struct Build {
    pub name: At<String>,
    pub context: At<PathBuf>,
    pub dockerfile: At<PathBuf>,
    pub platforms: Vec<At<Platform>>,
    pub builder: Placement,
    pub tags: Vec<At<ImageRef>>,
    pub args: IndexMap<String, String>,
    pub labels: IndexMap<String, String>,
    pub target: Option<String>,
    pub push: bool,
    /// `auto` is resolved: `multi` or `split`.
    pub strategy: Strategy,
    pub needs: Vec<At<String>>,
    /// Base images named in the Dockerfile's `FROM` lines.
    pub inputs: Vec<At<ImageRef>>,
    /// What its `RUN` steps get (secrets, ssh, network) and cache switches.
    pub run: RunSettings,
    /// Named build contexts, in the order written.
    pub contexts: Vec<At<NamedContext>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamedContext {
    /// What the Dockerfile calls it (`FROM base`, `COPY --from=base`).
    pub name: String,
    pub source: ContextSource,
}

/// Where a named context comes from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContextSource {
    /// A folder, relative to the plan file.
    Path(PathBuf),
    /// An image (`docker-image://REF`); an input like a `FROM` line's.
    Image(ImageRef),
    /// An OCI layout on disk (`oci-layout://PATH[@DIGEST]`, as written).
    Layout(String),
    /// Another job's result, passed pinned by digest.
    Job(Address),
}

/// What a build's `RUN` steps get, and how the builder treats its cache.
/// Secrets are references (a file, a variable's name), never values: plan
/// does not read them, buildx does.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSettings {
    pub secrets: Vec<At<Secret>>,
    pub ssh: Vec<At<Ssh>>,
    /// `default`, `none` or `host`.
    pub network: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    /// `None`: no cache export or import beyond the builder's own.
    pub cache: Option<At<Cache>>,
    /// Given as written, in buildx's syntax.
    pub cache_from: Vec<String>,
    pub cache_to: Vec<String>,
    pub annotations: IndexMap<String, String>,
    pub extra_hosts: IndexMap<String, String>,
    pub shm_size: Option<String>,
    pub ulimits: IndexMap<String, String>,
    /// `None`: buildx's default (it may add provenance by itself).
    pub provenance: Option<Provenance>,
    pub sbom: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cache {
    pub kind: CacheKind,
    /// An explicit reference (registry) or folder (local); `None`: plan
    /// picks one per job and platform.
    pub reference: Option<String>,
    pub mode: CacheMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheKind {
    Registry,
    Inline,
    Gha,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheMode {
    Min,
    Max,
}

#[derive(Debug, Clone, Serialize)]
pub struct Secret {
    pub id: String,
    pub source: SecretSource,
}

/// Where buildx reads a secret from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretSource {
    /// A file (absolute, resolved against the plan file's folder).
    File(PathBuf),
    /// An environment variable's name.
    Env(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Ssh {
    /// `default` or the id `RUN --mount=type=ssh,id=…` names.
    pub id: String,
    /// Keys or agent sockets; none: the agent in `SSH_AUTH_SOCK`.
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Sync {
    pub name: At<String>,
    pub from: At<ImageRef>,
    pub to: Vec<At<ImageRef>>,
    /// Empty: every platform of the source.
    pub platforms: Vec<At<Platform>>,
    pub via: Via,
    pub builder: Option<At<String>>,
    pub needs: Vec<At<String>>,
    /// A repository sync: `from` names a repository and `to` names target
    /// repositories (their tags come from this).
    pub repository: Option<RepositorySync>,
    /// Copy signatures and other referrers with the image.
    pub referrers: bool,
    /// Index annotations (a platform-filtered sync's index).
    pub annotations: IndexMap<String, String>,
}

/// `plan show`: a repository sync's `from` and `to` as written (a
/// repository, a `{{ tag }}` template), not as `:latest`.
impl Serialize for Sync {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            name: &'a At<String>,
            from: String,
            to: Vec<String>,
            platforms: &'a [At<Platform>],
            via: Via,
            builder: &'a Option<At<String>>,
            needs: &'a [At<String>],
            #[serde(skip_serializing_if = "Option::is_none")]
            repository: &'a Option<RepositorySync>,
            referrers: bool,
            #[serde(skip_serializing_if = "IndexMap::is_empty")]
            annotations: &'a IndexMap<String, String>,
        }
        let (from, to) = (self.shown_from(), self.shown_targets());
        Shown {
            name: &self.name,
            from,
            to,
            platforms: &self.platforms,
            via: self.via,
            builder: &self.builder,
            needs: &self.needs,
            repository: &self.repository,
            referrers: self.referrers,
            annotations: &self.annotations,
        }
        .serialize(serializer)
    }
}

impl Sync {
    /// `from` as written: a repository sync's repository, not `:latest`.
    pub fn shown_from(&self) -> String {
        match &self.repository {
            None => self.from.value.to_string(),
            Some(_) => self.from.value.repository_name(),
        }
    }

    /// `to` as written: a repository sync's targets as repositories or
    /// `REPO:PREFIX{{ tag }}SUFFIX`.
    pub fn shown_targets(&self) -> Vec<String> {
        match &self.repository {
            None => self.to.iter().map(|t| t.value.to_string()).collect(),
            Some(repository) => self
                .to
                .iter()
                .zip(&repository.renames)
                .map(|(t, rename)| {
                    let name = t.value.repository_name();
                    if *rename == TagRename::default() {
                        name
                    } else {
                        format!("{name}:{}", rename.apply("{{ tag }}"))
                    }
                })
                .collect(),
        }
    }

    /// A repository sync's copy of one source tag, as a sync of one image
    /// (its source at `tag`, each target at the tag its template gives).
    #[must_use]
    pub fn for_tag(&self, tag: &str) -> Self {
        Self {
            from: At::new(self.from.value.with_tag(tag), self.from.at),
            to: self
                .targets_for(tag)
                .into_iter()
                .zip(&self.to)
                .map(|(image, written)| At::new(image, written.at))
                .collect(),
            repository: None,
            ..self.clone()
        }
    }

    /// Each target of one source tag: `to` with the tag its template gives.
    /// For a sync of one image, `to` as written.
    pub fn targets_for(&self, tag: &str) -> Vec<ImageRef> {
        match &self.repository {
            None => self.to.iter().map(|t| t.value.clone()).collect(),
            Some(repository) => self
                .to
                .iter()
                .zip(&repository.renames)
                .map(|(target, rename)| target.value.with_tag(&rename.apply(tag)))
                .collect(),
        }
    }
}

/// What a repository sync copies and where each tag goes.
#[derive(Debug, Clone, Serialize)]
pub struct RepositorySync {
    pub tags: super::tag_selection::TagSelection,
    /// One per entry of `to`, in order.
    pub renames: Vec<TagRename>,
    /// Delete target tags the selection no longer yields.
    pub prune: bool,
}

/// A target tag from a source tag: `PREFIX{{ tag }}SUFFIX` (both empty:
/// the same name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TagRename {
    pub prefix: String,
    pub suffix: String,
}

impl TagRename {
    pub fn apply(&self, tag: &str) -> String {
        format!("{}{tag}{}", self.prefix, self.suffix)
    }

    /// The source tag a target tag was made from, if this rename makes it.
    pub fn source_of<'a>(&self, target_tag: &'a str) -> Option<&'a str> {
        let rest = target_tag.strip_prefix(self.prefix.as_str())?;
        let tag = rest.strip_suffix(self.suffix.as_str())?;
        (!tag.is_empty()).then_some(tag)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Combine {
    pub name: At<String>,
    pub from: Vec<CombineSource>,
    pub to: Vec<At<ImageRef>>,
    pub via: Via,
    pub builder: Option<At<String>>,
    pub needs: Vec<At<String>>,
    /// Annotations on the index it writes.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub annotations: IndexMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CombineSource {
    pub platform: At<Platform>,
    pub image: At<ImageRef>,
}
