//! Everything `plan` knows about the docker CLI and buildx: which command
//! lines create a builder, run a build, copy or combine images, and how to
//! read what they print. Commands are argument vectors (see `process`).

use std::path::Path;

use indexmap::IndexMap;

use super::process::Invocation;
use super::registry::manifest::{Manifest, images, plan_platform};
use crate::plan::platform::Platform;
use crate::plan::resolved::{Builder, Endpoint, Provenance, RunSettings, SecretSource};

/// The oldest buildx with `--progress=rawjson`.
pub const MIN_BUILDX: (u32, u32) = (0, 12);

/// How a command reaches a Docker engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// Whatever `DOCKER_HOST` / the current context says.
    Default,
    Endpoint(Endpoint),
}

impl Engine {
    fn global_args(&self) -> Vec<String> {
        match self {
            Self::Default => Vec::new(),
            Self::Endpoint(Endpoint::Host(host)) => vec!["--host".into(), host.clone()],
            Self::Endpoint(Endpoint::Context(context)) => vec!["--context".into(), context.clone()],
            // `docker` reads DOCKER_HOST and DOCKER_CONTEXT itself.
            Self::Endpoint(Endpoint::Environment) => Vec::new(),
        }
    }
}

/// The `docker` program to run (tests put a fake one on PATH).
#[derive(Debug, Clone)]
pub struct Docker {
    pub program: String,
}

impl Default for Docker {
    fn default() -> Self {
        Self {
            program: "docker".into(),
        }
    }
}

/// Where a build's result goes.
#[derive(Debug, Clone)]
pub enum Output {
    /// Pushed by digest into this repository, no tag (drivers that can).
    PushByDigest { repository: String },
    /// Pushed to this tag (the `docker` driver cannot push by digest).
    PushTag { tag: String },
    /// Built and tagged in the builder, not pushed.
    Local { tags: Vec<String> },
}

/// One `buildx build`.
#[derive(Debug, Clone)]
pub struct BuildRequest<'a> {
    pub engine: Engine,
    pub builder: Option<&'a str>,
    pub context: &'a Path,
    pub dockerfile: &'a Path,
    pub platforms: Vec<&'a Platform>,
    pub args: &'a IndexMap<String, String>,
    pub labels: &'a IndexMap<String, String>,
    pub target: Option<&'a str>,
    /// Secrets, ssh, network, cache switches, annotations, limits.
    pub run: &'a RunSettings,
    /// `--cache-from` / `--cache-to` values, scoped for this invocation.
    pub cache_from: Vec<String>,
    pub cache_to: Vec<String>,
    /// `--build-context NAME=VALUE`, each value as buildx takes it.
    pub contexts: &'a [(String, String)],
    pub output: Output,
    pub metadata_file: &'a Path,
}

impl Docker {
    fn command(&self, engine: &Engine) -> Invocation {
        Invocation::new(&self.program).args(engine.global_args())
    }

    pub fn build(&self, request: &BuildRequest<'_>) -> Invocation {
        let mut inv = self.command(&request.engine).args(["buildx", "build"]);
        if let Some(builder) = request.builder {
            inv = inv.args(["--builder", builder]);
        }
        inv = inv
            .args(["--progress", "rawjson"])
            .arg("--metadata-file")
            .arg(request.metadata_file.display().to_string())
            .arg("--file")
            .arg(request.dockerfile.display().to_string());
        if !request.platforms.is_empty() {
            let list: Vec<String> = request.platforms.iter().map(ToString::to_string).collect();
            inv = inv.arg("--platform").arg(list.join(","));
        }
        for (name, value) in request.args {
            inv = inv.arg("--build-arg").arg(format!("{name}={value}"));
        }
        for (name, value) in request.labels {
            inv = inv.arg("--label").arg(format!("{name}={value}"));
        }
        if let Some(target) = request.target {
            inv = inv.args(["--target", target]);
        }
        inv = run_flags(inv, request.run);
        for from in &request.cache_from {
            inv = inv.arg("--cache-from").arg(from);
        }
        for to in &request.cache_to {
            inv = inv.arg("--cache-to").arg(to);
        }
        for (name, value) in request.contexts {
            inv = inv.arg("--build-context").arg(format!("{name}={value}"));
        }
        inv = match &request.output {
            Output::PushByDigest { repository } => inv.arg("--output").arg(format!(
                "type=image,name={repository},push-by-digest=true,name-canonical=true,push=true"
            )),
            Output::PushTag { tag } => inv.args(["--tag", tag, "--push"]),
            Output::Local { tags } => tags.iter().fold(inv, |inv, tag| inv.args(["--tag", tag])),
        };
        // `--` first: no positional argument can be read as an option.
        inv.arg("--").arg(request.context.display().to_string())
    }

    /// `imagetools create`: the tags point at an index over `sources` (or at the one source).
    pub fn imagetools_create(
        &self,
        engine: &Engine,
        tags: &[String],
        sources: &[String],
    ) -> Invocation {
        let mut inv =
            self.command(engine)
                .args(["buildx", "imagetools", "create", "--progress", "plain"]);
        for tag in tags {
            inv = inv.args(["--tag", tag]);
        }
        inv.arg("--").args(sources.iter().cloned())
    }

    pub fn imagetools_inspect_raw(&self, engine: &Engine, reference: &str) -> Invocation {
        self.command(engine)
            .args(["buildx", "imagetools", "inspect", "--raw", "--", reference])
    }

    /// Is the engine there? (`driver: docker` builders are checked, never created.)
    /// What the engine is (see `engine_info`): version and image store.
    pub fn engine_info(&self, engine: &Engine) -> Invocation {
        self.command(engine)
            .args(["info", "--format", super::engine_info::INFO_FORMAT])
    }

    pub fn builder_exists(&self, name: &str) -> Invocation {
        self.command(&Engine::Default)
            .args(["buildx", "inspect", "--", name])
    }

    pub fn remove_builder(&self, name: &str) -> Invocation {
        self.command(&Engine::Default)
            .args(["buildx", "rm", "--", name])
    }

    /// `buildx create` for every node, the first creating the builder and
    /// the others `--append`ing to it. `configs[i]` is node i's buildkitd.toml.
    pub fn create_builder(&self, builder: &Builder, configs: &[&Path]) -> Vec<Invocation> {
        builder
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let mut inv = self.command(&Engine::Default).args(["buildx", "create"]);
                if i > 0 {
                    inv = inv.arg("--append");
                }
                inv = inv
                    .args(["--name", &builder.name.value])
                    .args(["--driver", builder.driver.name()])
                    .args(["--node", &node.name.value]);
                if !node.platforms.is_empty() {
                    let list: Vec<String> =
                        node.platforms.iter().map(|p| p.value.to_string()).collect();
                    inv = inv.arg("--platform").arg(list.join(","));
                }
                if let Some(config) = configs.get(i) {
                    inv = inv
                        .arg("--buildkitd-config")
                        .arg(config.display().to_string());
                }
                for (key, value) in &node.driver_opts {
                    inv = inv.arg("--driver-opt").arg(format!("{key}={value}"));
                }
                if let Some(flags) = &builder.buildkitd_flags {
                    inv = inv.args(["--buildkitd-flags", flags]);
                }
                match &node.endpoint.value {
                    Endpoint::Host(host) | Endpoint::Context(host) => inv.arg("--").arg(host),
                    // buildx creates the node on the engine it finds itself.
                    Endpoint::Environment => inv,
                }
            })
            .collect()
    }

    /// Drops one node from a builder.
    pub fn leave_node(&self, builder: &str, node: &str) -> Invocation {
        self.command(&Engine::Default).args([
            "buildx", "create", "--leave", "--name", builder, "--node", node,
        ])
    }

    pub fn bootstrap(&self, name: &str) -> Invocation {
        self.command(&Engine::Default)
            .args(["buildx", "inspect", "--bootstrap", "--", name])
    }
}

/// `--secret`, `--ssh`, `--network`, `--no-cache`, `--pull`. Secrets go by
/// reference (`src=FILE`, `env=NAME`): buildx reads them, plan never does,
/// so no value is ever on a command line or in a log.
fn run_flags(mut inv: Invocation, run: &RunSettings) -> Invocation {
    for secret in &run.secrets {
        let secret = &secret.value;
        let from = match &secret.source {
            SecretSource::File(path) => format!("src={}", path.display()),
            SecretSource::Env(name) => format!("env={name}"),
        };
        inv = inv.arg("--secret").arg(format!("id={},{from}", secret.id));
    }
    for ssh in &run.ssh {
        let ssh = &ssh.value;
        let value = if ssh.paths.is_empty() {
            ssh.id.clone()
        } else {
            let paths: Vec<String> = ssh.paths.iter().map(|p| p.display().to_string()).collect();
            format!("{}={}", ssh.id, paths.join(","))
        };
        inv = inv.arg("--ssh").arg(value);
    }
    if let Some(network) = &run.network {
        inv = inv.args(["--network", network]);
    }
    if run.no_cache {
        inv = inv.arg("--no-cache");
    }
    if run.pull {
        inv = inv.arg("--pull");
    }
    for (key, value) in &run.annotations {
        inv = inv.arg("--annotation").arg(format!("{key}={value}"));
    }
    for (host, address) in &run.extra_hosts {
        inv = inv.arg("--add-host").arg(format!("{host}:{address}"));
    }
    if let Some(size) = &run.shm_size {
        inv = inv.args(["--shm-size", size]);
    }
    for (name, limit) in &run.ulimits {
        inv = inv.arg("--ulimit").arg(format!("{name}={limit}"));
    }
    match run.provenance {
        Some(Provenance::Off) => inv = inv.args(["--provenance", "false"]),
        Some(Provenance::Min) => inv = inv.args(["--provenance", "mode=min"]),
        Some(Provenance::Max) => inv = inv.args(["--provenance", "mode=max"]),
        None => {}
    }
    if let Some(sbom) = run.sbom {
        inv = inv.args(["--sbom", if sbom { "true" } else { "false" }]);
    }
    inv
}

/// The digest `buildx build --metadata-file` recorded.
pub fn digest_from_metadata(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value
        .get("containerimage.digest")?
        .as_str()
        .map(str::to_owned)
}

/// A manifest as `imagetools inspect --raw` prints it: an index, or one image.
#[derive(Debug, Clone)]
pub enum RawManifest {
    /// The images of an index (attestations left out): digest and platform.
    Index(Vec<(String, Platform)>),
    /// A single image manifest, with the digest of its bytes.
    Image { digest: String },
}

pub fn parse_raw_manifest(raw: &str) -> Result<RawManifest, String> {
    // The digest is of the exact bytes; `--raw` prints them with one trailing newline.
    let bytes = raw.strip_suffix('\n').unwrap_or(raw).as_bytes();
    let manifest = Manifest {
        bytes: bytes::Bytes::copy_from_slice(bytes),
        media_type: Manifest::sniff_media_type(bytes),
    };
    if !manifest.is_index() {
        return Ok(RawManifest::Image {
            digest: manifest.digest(),
        });
    }
    let index = manifest.index()?;
    Ok(RawManifest::Index(
        images(&index)
            .filter_map(|entry| {
                let platform = plan_platform(entry.platform().as_ref()?)?;
                Some((entry.digest().to_string(), platform))
            })
            .collect(),
    ))
}

/// `major.minor` of `docker buildx version` ("github.com/docker/buildx 0.13.1+ds1 …").
pub fn parse_buildx_version(text: &str) -> Option<(u32, u32)> {
    let word = text.split_whitespace().find(|w| {
        w.trim_start_matches('v')
            .starts_with(|c: char| c.is_ascii_digit())
    })?;
    let mut parts = word.trim_start_matches('v').split(['.', '+', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Before anything runs: `docker` and a recent enough buildx are there,
/// or the user is told what to install.
pub fn check_installed(docker: &Docker) -> Result<(), String> {
    let output = std::process::Command::new(&docker.program)
        .args(["buildx", "version"])
        .stdin(std::process::Stdio::null())
        .output();
    let output = match output {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err("`docker` is not installed: install the Docker CLI (Debian: `apt-get install docker.io`, or Docker's own packages)".into());
        }
        Err(err) => return Err(format!("cannot run `docker`: {err}")),
        Ok(output) => output,
    };
    if !output.status.success() {
        return Err("the buildx plugin is not installed: install `docker-buildx` (or `docker-buildx-plugin` from Docker's packages) so that `docker buildx version` works".into());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    match parse_buildx_version(&text) {
        Some(version) if version >= MIN_BUILDX => Ok(()),
        Some((major, minor)) => Err(format!(
            "buildx {major}.{minor} is too old: plan needs buildx {}.{} or newer (for `--progress=rawjson`); upgrade `docker-buildx`",
            MIN_BUILDX.0, MIN_BUILDX.1
        )),
        None => Err(format!(
            "cannot read the buildx version from `docker buildx version`: {}",
            text.trim()
        )),
    }
}

/// The repository part of a normalized reference (`host/path`, no tag or digest).
pub fn repository_of(reference: &str) -> String {
    let name = reference.split('@').next().unwrap_or(reference);
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => name[..last_slash + i].to_owned(),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_buildx_versions() {
        assert_eq!(
            parse_buildx_version("github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3"),
            Some((0, 13))
        );
        assert_eq!(
            parse_buildx_version("github.com/docker/buildx v0.19.3 48d6a39"),
            Some((0, 19))
        );
        assert_eq!(parse_buildx_version("nonsense"), None);
    }

    #[test]
    fn repository_drops_tag_and_digest() {
        assert_eq!(repository_of("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000/a/b");
        assert_eq!(
            repository_of("docker.io/library/alpine@sha256:ab"),
            "docker.io/library/alpine"
        );
        assert_eq!(repository_of("127.0.0.1:5000/a"), "127.0.0.1:5000/a");
    }

    #[test]
    fn raw_manifests() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":10,"digest":"{digest}","platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#
        );
        let RawManifest::Index(entries) = parse_raw_manifest(&index).unwrap() else {
            panic!()
        };
        assert_eq!(entries, [(digest, Platform::parse("linux/arm64").unwrap())]);
        let RawManifest::Image { digest } = parse_raw_manifest("{\"config\":{}}\n").unwrap() else {
            panic!()
        };
        assert_eq!(digest.len(), 71);
    }
}
