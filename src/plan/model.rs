//! The plan file format, version 1, exactly as a user writes it.
//!
//! These types are deserialized from YAML with spans and are the source of
//! the JSON Schema (`plan schema`); the doc comments become the schema's
//! descriptions, shown by editors. Strings are still templates here: see
//! `resolve.rs` for what they become.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::attest_spec::AttestSpec;
use super::builder_choice::BuilderChoice;
use super::cache_spec::CacheSpec;
use super::located::Located;
use super::mirror_spec::MirrorSpec;
use super::ssh_spec::SshSpec;
use super::string_list::StringList;

/// The mappings of a plan file, in the order written. Keys are unique
/// already (the YAML reader refuses a repeated key) and come from the plan's
/// own author, so hashing needs speed, not resistance to collisions.
pub type Map<K, V> = IndexMap<K, V, foldhash::fast::FixedState>;

pub type Name = Located<String>;
pub type Text = Located<String>;
pub type TextList = Located<Vec<Text>>;
pub type Matrix = Located<Map<Name, TextList>>;

/// A build plan: builders, mirrors, builds, syncs and combines.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "buildplan plan file", extend("required" = ["version"]))]
pub struct PlanFile {
    /// Format version of this file. Only `1` exists.
    #[schemars(schema_with = "version_schema")]
    pub version: Option<Located<u32>>,
    /// Template variables (strings). `--var NAME=VALUE` overrides them; a var may use `env.NAME` and earlier vars.
    #[serde(default)]
    pub vars: Map<Name, Text>,
    /// How to reach registries, keyed by registry host (`host[:port]`).
    #[serde(default)]
    pub registries: Map<Name, Located<RegistrySpec>>,
    /// Registry mirrors: upstream registry host -> mirrors tried in order before it.
    #[serde(default)]
    pub mirrors: Map<Name, Located<Vec<Located<MirrorSpec>>>>,
    /// buildx builders, keyed by builder name.
    #[serde(default)]
    pub builders: Map<Name, Located<BuilderSpec>>,
    /// Image builds, keyed by job name (a template when `matrix` is set).
    #[serde(default)]
    pub builds: Map<Name, Located<Box<BuildSpec>>>,
    /// An image published under another name, all platforms (or those listed).
    #[serde(default)]
    pub syncs: Map<Name, Located<SyncSpec>>,
    /// Per-platform images merged into one multi-platform index.
    #[serde(default)]
    pub combines: Map<Name, Located<CombineSpec>>,
}

fn version_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Format version of this file. Only `1` exists.",
        "type": "integer",
        "enum": [1]
    })
}

/// Settings for one registry.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrySpec {
    /// Talk plain HTTP to it. Loopback hosts are insecure by default, as in Docker.
    pub insecure: Option<Located<bool>>,
    /// PEM file with the CA that signed the registry's certificate (relative to the plan file).
    pub ca_file: Option<Text>,
    /// Requests in flight to this registry at once.
    #[schemars(range(min = 1))]
    pub max_concurrency: Option<Located<u32>>,
    /// At most this many requests per second to this registry (requests
    /// wait their turn): keeps a large mirror inside a rate limit.
    pub requests_per_second: Option<Located<u32>>,
}

/// How a builder runs BuildKit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// BuildKit in a container on each node's Docker engine (the default).
    DockerContainer,
    /// An existing Docker engine used as it is; nothing is created.
    Docker,
    Kubernetes,
    Remote,
}

impl Driver {
    /// As buildx and the plan spell it (`--driver`).
    pub fn name(self) -> &'static str {
        match self {
            Self::DockerContainer => "docker-container",
            Self::Docker => "docker",
            Self::Kubernetes => "kubernetes",
            Self::Remote => "remote",
        }
    }
}

/// A buildx builder.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuilderSpec {
    /// `docker-container` (default), `docker`, `kubernetes` or `remote`.
    pub driver: Option<Located<Driver>>,
    /// Render the plan's `mirrors` into this builder's buildkitd.toml (default true).
    pub mirrors: Option<Located<bool>>,
    /// Extra buildkitd.toml, merged with the rendered mirrors.
    pub buildkitd_config: Option<Text>,
    /// Extra flags for buildkitd (`--buildkitd-flags`).
    pub buildkitd_flags: Option<Text>,
    /// Driver options (`--driver-opt KEY=VALUE`), for every node.
    #[serde(default)]
    pub driver_opts: Map<Name, Text>,
    /// The nodes of the builder; each is a Docker engine, pinned to its platforms.
    pub nodes: Option<Located<Vec<Located<NodeSpec>>>>,
    /// For `driver: docker`: the engine (`ssh://user@host`, `unix://…`, `tcp://…`).
    pub endpoint: Option<Text>,
    /// For `driver: docker`: a Docker context name instead of an endpoint.
    pub context: Option<Text>,
    /// For `driver: docker`: the platforms the engine builds.
    pub platforms: Option<TextList>,
    /// For `driver: docker`: jobs at once on the engine.
    #[schemars(range(min = 1))]
    pub max_parallel: Option<Located<u32>>,
}

/// One node of a builder.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Node name, unique within the builder.
    pub name: Name,
    /// Docker engine of the node: `ssh://user@host`, `unix://…`, `tcp://…` or a context name.
    pub endpoint: Text,
    /// Platforms this node builds, e.g. `[linux/arm64]`.
    #[serde(default)]
    pub platforms: Option<TextList>,
    /// Jobs at once on this node.
    #[schemars(range(min = 1))]
    pub max_parallel: Option<Located<u32>>,
    /// Driver options for this node only, merged over the builder's.
    #[serde(default)]
    pub driver_opts: Map<Name, Text>,
}

/// How a multi-platform build runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// `multi` when one builder has every platform, `split` otherwise.
    Auto,
    /// One `buildx build` for all platforms.
    Multi,
    /// One build per platform, then combined.
    Split,
}

/// How a sync or combine copies images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// Native copy over the OCI distribution API (default).
    Registry,
    /// `docker buildx imagetools create`.
    Imagetools,
    /// A build on a builder (`FROM ${IMAGE}`), using the builder's network.
    Builder,
}

/// An image build.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// Expand this job once per combination of these values; the job name must use them.
    pub matrix: Option<Matrix>,
    /// Build context folder, relative to the plan file (default: the plan file's folder).
    pub context: Option<Text>,
    /// Dockerfile, relative to the context (default: `Dockerfile`).
    pub dockerfile: Option<Text>,
    /// Target platforms, e.g. `[linux/amd64, linux/arm64]`.
    pub platforms: Option<TextList>,
    /// A builder name, or a map platform -> builder name (splits the build per platform).
    pub builder: Option<Located<BuilderChoice>>,
    /// Image references to tag the result with.
    pub tags: Option<Located<StringList>>,
    /// Build arguments (`--build-arg`).
    #[serde(default)]
    pub args: Map<Name, Text>,
    /// Image labels.
    #[serde(default)]
    pub labels: Map<Name, Text>,
    /// Dockerfile stage to build.
    pub target: Option<Text>,
    /// Push the tags (default true when there are tags).
    pub push: Option<Located<bool>>,
    /// `auto` (default), `multi` or `split`.
    pub strategy: Option<Located<Strategy>>,
    /// Job addresses (`build.x`, `sync.y`) that must finish first.
    pub needs: Option<TextList>,
    /// Build secrets (`--secret`): each from a file or an environment
    /// variable, passed to buildx by reference; plan never reads a value.
    pub secrets: Option<Located<Vec<Located<SecretSpec>>>>,
    /// SSH agents or keys for `RUN --mount=type=ssh` (`--ssh`): `[default]`,
    /// or `[{id, paths: [...]}]`.
    pub ssh: Option<Located<Vec<Located<SshSpec>>>>,
    /// Network for `RUN` steps (`--network`): `default`, `none` or `host`.
    pub network: Option<Text>,
    /// Build without the cache (`--no-cache`).
    pub no_cache: Option<Located<bool>>,
    /// Pull base images again even when cached (`--pull`).
    pub pull: Option<Located<bool>>,
    /// Build cache: `registry`, `inline`, `gha`, `local` or `none` (scoped by
    /// plan per job and platform), or `{type, ref, mode}`.
    pub cache: Option<Located<CacheSpec>>,
    /// More `--cache-from` entries, in buildx's own `key=value,…` syntax.
    pub cache_from: Option<TextList>,
    /// More `--cache-to` entries, in buildx's own `key=value,…` syntax.
    pub cache_to: Option<TextList>,
    /// Annotations on the image and its index (`--annotation`).
    #[serde(default)]
    pub annotations: Map<Name, Text>,
    /// Extra `/etc/hosts` entries for `RUN` steps: host -> address (`--add-host`).
    #[serde(default)]
    pub extra_hosts: Map<Name, Text>,
    /// Size of `/dev/shm` for `RUN` steps, e.g. `2g` (`--shm-size`).
    pub shm_size: Option<Text>,
    /// Resource limits for `RUN` steps: name -> `soft[:hard]` (`--ulimit`).
    #[serde(default)]
    pub ulimits: Map<Name, Text>,
    /// Attestations: `{provenance: false|min|max, sbom: true|false}`.
    pub attest: Option<Located<AttestSpec>>,
    /// Add the OCI labels and annotations `docker/metadata-action` adds
    /// (`org.opencontainers.image.source`, `revision`, `created`,
    /// `version`), from `git.*`. Each commit is then a new image.
    pub oci_labels: Option<Located<bool>>,
    /// Named build contexts (`--build-context NAME=…`): a folder, a
    /// `docker-image://REF`, an `oci-layout://PATH`, or a job's address
    /// (`build.base`), whose result is passed pinned by digest.
    #[serde(default)]
    pub contexts: Map<Name, Text>,
}

/// An image copied under another name.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncSpec {
    /// Expand this job once per combination of these values; the job name must use them.
    pub matrix: Option<Matrix>,
    /// Source image reference (or `oci:PATH[:TAG]`).
    pub from: Text,
    /// Target reference, or a list of them.
    pub to: Located<StringList>,
    /// Only these platforms (default: every platform of the source).
    pub platforms: Option<TextList>,
    /// `registry` (default), `imagetools` or `builder`.
    pub via: Option<Located<Via>>,
    /// Builder to use with `via: builder`.
    pub builder: Option<Name>,
    /// Job addresses that must finish first.
    pub needs: Option<TextList>,
    /// With `from` naming a repository (no tag): which of its tags to copy,
    /// read at `diff`/`apply` time. `to` then names repositories, or a tag
    /// template using `{{ tag }}`.
    pub tags: Option<Located<TagsSpec>>,
    /// A repository sync deletes target tags its selection no longer
    /// yields (`apply` needs `--allow-delete`). Default false.
    pub prune: Option<Located<bool>>,
    /// Copy what refers to the image (signatures, attestations, SBOMs:
    /// the OCI referrers API, or cosign's `sha256-HEX.sig` tags) with it.
    /// Default true.
    pub referrers: Option<Located<bool>>,
    /// Annotations on the index a platform-filtered sync writes.
    #[serde(default)]
    pub annotations: Map<Name, Text>,
}

/// A repository sync's tag selection; every part given must pass.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsSpec {
    /// A semver range, e.g. `">=3.18"` or `"^1.2"`; tags that are not
    /// versions never match, pre-releases only when the range names one.
    pub semver: Option<Text>,
    /// Regexes; a tag must match one (anywhere, unless anchored).
    pub include: Option<TextList>,
    /// Regexes; a tag matching any is left out.
    pub exclude: Option<TextList>,
    /// Keep only the N highest versions (or the N newest images, when
    /// some tags are not versions).
    pub latest: Option<Located<u32>>,
}

/// Per-platform images merged into one index.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CombineSpec {
    /// Expand this job once per combination of these values; the job name must use them.
    pub matrix: Option<Matrix>,
    /// Platform -> source image reference.
    pub from: Located<Map<Name, Text>>,
    /// Target reference, or a list of them.
    pub to: Located<StringList>,
    /// `registry` (default), `imagetools` or `builder`.
    pub via: Option<Located<Via>>,
    /// Builder to use with `via: builder`.
    pub builder: Option<Name>,
    /// Job addresses that must finish first.
    pub needs: Option<TextList>,
    /// Annotations on the index it writes, e.g.
    /// `org.opencontainers.image.description` (native copies only).
    #[serde(default)]
    pub annotations: Map<Name, Text>,
}

/// A build secret: `{id, src: FILE}` or `{id, env: NAME}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// The id a `RUN --mount=type=secret,id=…` names.
    pub id: Text,
    /// A file holding the secret, relative to the plan file (`~` is the home folder).
    pub src: Option<Text>,
    /// An environment variable holding the secret.
    pub env: Option<Text>,
}
