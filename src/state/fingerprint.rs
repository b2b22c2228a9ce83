//! A build's fingerprint: a digest over everything that decides its result
//! — the Dockerfile, the context's files after `.dockerignore`, build args,
//! labels, platforms, target, and the digests of its base images. It is
//! stored on the pushed image as labels and read back by `diff`, which can
//! then name the input that changed.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::Digest as _;

use super::ignore::DockerIgnore;
use crate::plan::resolved::{Build, ContextSource};

pub const FINGERPRINT_LABEL: &str = "dev.buildplan.fingerprint";
pub const INPUTS_LABEL: &str = "dev.buildplan.inputs";
/// Files named one by one in the inputs label; beyond this, only their total.
const MAX_NAMED_FILES: usize = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub digest: String,
    /// Input name -> short hash (`dockerfile`, `args`, `file:src/main.rs`, `base:alpine`, …).
    pub parts: BTreeMap<String, String>,
}

/// One digest over every part, by name.
fn digest_of(parts: &BTreeMap<String, String>) -> String {
    let mut total = sha2::Sha256::new();
    for (name, hash) in parts {
        total.update(name.as_bytes());
        total.update(b"=");
        total.update(hash.as_bytes());
        total.update(b"\n");
    }
    format!("sha256:{}", hex::encode(total.finalize()))
}

fn short(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))[..16].to_owned()
}

impl Fingerprint {
    /// `bases`: each base image with the digest it has now (`None`: unknown).
    pub fn of(build: &Build, bases: &BTreeMap<String, Option<String>>) -> Result<Self, String> {
        let mut parts = BTreeMap::new();
        let dockerfile = hash_file(&build.dockerfile.value)?;
        parts.insert("dockerfile".to_owned(), dockerfile);
        let text = |value: &dyn std::fmt::Debug| short(format!("{value:?}").as_bytes());
        parts.insert("args".to_owned(), text(&build.args));
        parts.insert("labels".to_owned(), text(&build.labels));
        parts.insert(
            "platforms".to_owned(),
            text(
                &build
                    .platforms
                    .iter()
                    .map(|p| p.value.to_string())
                    .collect::<Vec<_>>(),
            ),
        );
        parts.insert("target".to_owned(), text(&build.target));
        // The network `RUN` steps get can change what they make. Only when
        // set, so builds without one keep the fingerprints they had.
        // Secrets, ssh and the cache switches are not inputs of the image.
        if let Some(network) = &build.run.network {
            parts.insert("network".to_owned(), short(network.as_bytes()));
        }
        // What lands in the image or shapes its `RUN` steps, each only when
        // set; the cache settings change nothing in the image and are left out.
        let run = &build.run;
        if !run.annotations.is_empty() {
            parts.insert("annotations".to_owned(), text(&run.annotations));
        }
        if !run.extra_hosts.is_empty() {
            parts.insert("extra_hosts".to_owned(), text(&run.extra_hosts));
        }
        if let Some(size) = &run.shm_size {
            parts.insert("shm_size".to_owned(), short(size.as_bytes()));
        }
        if !run.ulimits.is_empty() {
            parts.insert("ulimits".to_owned(), text(&run.ulimits));
        }
        if run.provenance.is_some() || run.sbom.is_some() {
            parts.insert("attest".to_owned(), text(&(run.provenance, run.sbom)));
        }
        // buildx reads these from its environment, and they change what it
        // makes: default attestations, and every timestamp in the image.
        for variable in ["BUILDX_NO_DEFAULT_ATTESTATIONS", "SOURCE_DATE_EPOCH"] {
            if let Some(value) = std::env::var_os(variable) {
                parts.insert(
                    format!("env:{variable}"),
                    short(value.to_string_lossy().as_bytes()),
                );
            }
        }
        for (image, digest) in bases {
            parts.insert(
                format!("base:{image}"),
                digest.clone().unwrap_or_else(|| "unknown".into()),
            );
        }
        // A folder given as a named context is sent like the main context:
        // its files are inputs too.
        for context in &build.contexts {
            match &context.value.source {
                ContextSource::Path(path) => {
                    let mut all = sha2::Sha256::new();
                    for (file, hash) in context_files(path)? {
                        all.update(file.as_bytes());
                        all.update(hash.as_bytes());
                    }
                    parts.insert(
                        format!("context:{}", context.value.name),
                        hex::encode(all.finalize())[..16].to_owned(),
                    );
                }
                ContextSource::Layout(path) => {
                    parts.insert(
                        format!("context:{}", context.value.name),
                        short(path.as_bytes()),
                    );
                }
                // Images and jobs are in `bases`, with their digests.
                ContextSource::Image(_) | ContextSource::Job(_) => {}
            }
        }
        let files = context_files(&build.context.value)?;
        let mut all = sha2::Sha256::new();
        for (path, hash) in &files {
            all.update(path.as_bytes());
            all.update(hash.as_bytes());
        }
        parts.insert(
            "context".to_owned(),
            hex::encode(all.finalize())[..16].to_owned(),
        );
        if files.len() <= MAX_NAMED_FILES {
            for (path, hash) in files {
                parts.insert(format!("file:{path}"), hash);
            }
        }
        Ok(Self {
            digest: digest_of(&parts),
            parts,
        })
    }

    /// The same inputs with one base image at `digest` (a job's result as
    /// it will be after this run).
    #[must_use]
    pub fn with_base(&self, name: &str, digest: &str) -> Self {
        let mut parts = self.parts.clone();
        parts.insert(format!("base:{name}"), digest.to_owned());
        Self {
            digest: digest_of(&parts),
            parts,
        }
    }

    /// The inputs label's value: compact JSON of the parts.
    /// The labels that carry it on the image.
    pub fn labels(&self) -> Vec<(String, String)> {
        vec![
            (FINGERPRINT_LABEL.to_owned(), self.digest.clone()),
            (INPUTS_LABEL.to_owned(), self.inputs_label()),
        ]
    }

    pub fn inputs_label(&self) -> String {
        // Our own types, string keys only: serializing them cannot fail.
        serde_json::to_string(&self.parts).unwrap_or_default()
    }

    /// What differs from a stored inputs label, as a person would name it.
    pub fn changed_since(&self, stored: &BTreeMap<String, String>) -> Vec<String> {
        let mut changed = Vec::new();
        for (name, hash) in &self.parts {
            if stored.get(name) != Some(hash) && name != "context" {
                changed.push(describe(name, stored.contains_key(name)));
            }
        }
        for name in stored.keys() {
            if !self.parts.contains_key(name) && name != "context" {
                changed.push(match name.strip_prefix("file:") {
                    Some(path) => format!("{path} (removed)"),
                    None => name.clone(),
                });
            }
        }
        if changed.is_empty() && stored.get("context") != self.parts.get("context") {
            changed.push("context".into());
        }
        changed
    }
}

fn describe(name: &str, existed: bool) -> String {
    match (name, name.strip_prefix("file:"), name.strip_prefix("base:")) {
        ("dockerfile", _, _) => "Dockerfile".into(),
        (_, Some(path), _) if existed => path.to_owned(),
        (_, Some(path), _) => format!("{path} (new)"),
        (_, _, Some(image)) => format!("base image {image}"),
        (other, _, _) => other.to_owned(),
    }
}

/// A file's short hash, streamed (a context may hold files of any size);
/// only regular files are read.
fn hash_file(path: &Path) -> Result<String, String> {
    let cannot = |err: &dyn std::fmt::Display| format!("cannot read {}: {err}", path.display());
    let mut file = crate::local_file::open_regular(path).map_err(|err| cannot(&err))?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer).map_err(|err| cannot(&err))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize())[..16].to_owned())
}

/// Every file the context sends (after `.dockerignore`), with a short hash.
fn context_files(context: &Path) -> Result<Vec<(String, String)>, String> {
    let ignore = match crate::local_file::read(&context.join(".dockerignore"), 1024 * 1024) {
        Ok(bytes) => DockerIgnore::parse(&String::from_utf8_lossy(&bytes)),
        // No .dockerignore: the whole context is sent.
        Err(err) if err.is_not_found() => DockerIgnore::parse(""),
        Err(err) => {
            return Err(format!(
                "cannot read {}: {err}",
                context.join(".dockerignore").display()
            ));
        }
    };
    let mut files = Vec::new();
    let mut stack = vec![context.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|err| format!("cannot read {}: {err}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path
                .strip_prefix(context)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            if relative == ".dockerignore" || ignore.excludes(&relative) {
                continue;
            }
            let kind = entry
                .file_type()
                .map_err(|err| format!("{}: {err}", path.display()))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                files.push((relative, hash_file(&path)?));
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::Fingerprint;
    use crate::plan::pipeline::{Request, load};
    use crate::plan::resolved::Build;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// The one build of `plan` (written to `dir/plan.yaml`), resolved.
    fn build(dir: &Path, plan: &str) -> Build {
        std::fs::write(dir.join("plan.yaml"), plan).unwrap();
        let loaded = load(&Request {
            dir,
            files: &[PathBuf::from("plan.yaml")],
            var_overrides: &[],
            overrides: &[],
            env: &no_env,
            git: None,
        });
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        loaded.plan.builds[0].clone()
    }

    const PLAN: &str = "version: 1\nbuilds:\n  app:\n    context: ctx\n    args: { A: '1' }\n    tags: [r.test/app:1]\n";

    #[test]
    fn the_fingerprint_follows_what_changes_the_image_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        std::fs::create_dir_all(ctx.join("src")).unwrap();
        std::fs::write(ctx.join("Dockerfile"), "FROM alpine\nCOPY src /src\n").unwrap();
        std::fs::write(ctx.join("src/main.rs"), "fn main() {}").unwrap();
        std::fs::write(ctx.join(".dockerignore"), "notes.txt\n").unwrap();
        let bases = BTreeMap::from([(
            "docker.io/library/alpine:latest".to_owned(),
            Some("sha256:1".to_owned()),
        )]);
        let first = Fingerprint::of(&build(dir.path(), PLAN), &bases).unwrap();
        let again = Fingerprint::of(&build(dir.path(), PLAN), &bases).unwrap();
        assert_eq!(first, again, "the same inputs, the same fingerprint");

        // An ignored file changes nothing.
        std::fs::write(ctx.join("notes.txt"), "anything").unwrap();
        let ignored = Fingerprint::of(&build(dir.path(), PLAN), &bases).unwrap();
        assert_eq!(first.digest, ignored.digest);

        // A source file, an arg, a base image: each changes it, and is named.
        std::fs::write(ctx.join("src/main.rs"), "fn main() { }").unwrap();
        let edited = Fingerprint::of(&build(dir.path(), PLAN), &bases).unwrap();
        assert_ne!(first.digest, edited.digest);
        assert_eq!(edited.changed_since(&first.parts), ["src/main.rs"]);

        let other_arg = PLAN.replace("'1'", "'2'");
        let arg = Fingerprint::of(&build(dir.path(), &other_arg), &bases).unwrap();
        assert_eq!(arg.changed_since(&edited.parts), ["args"]);

        let moved_base = BTreeMap::from([(
            "docker.io/library/alpine:latest".to_owned(),
            Some("sha256:2".to_owned()),
        )]);
        let base = Fingerprint::of(&build(dir.path(), PLAN), &moved_base).unwrap();
        assert_eq!(
            base.changed_since(&edited.parts),
            ["base image docker.io/library/alpine:latest"]
        );
    }

    #[test]
    fn a_fifo_in_the_context_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(ctx.join("Dockerfile"), "FROM alpine\n").unwrap();
        let plan = build(dir.path(), PLAN);
        let fifo = std::ffi::CString::new(ctx.join(".dockerignore").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let err = Fingerprint::of(&plan, &BTreeMap::new()).unwrap_err();
        assert!(err.contains("a FIFO"), "{err}");
    }
}
