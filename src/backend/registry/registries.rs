//! The registries and layouts of one run: where an image lives (its
//! registry, its mirrors in order, or an OCI layout), one client per
//! registry, reading manifests, labels and configs, and the run-wide memory
//! of what was already written. The copy itself is in `copy.rs`, the jobs
//! in `sync.rs` and `combine.rs`, held-back tags in `held.rs`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use indexmap::IndexMap;
use oci_spec::image::ImageConfiguration;
use tokio::sync::{Mutex, OnceCell};

use super::client::{RegistryClient, Settings};
use super::error::RegistryError;
use super::held::HeldTags;
use super::manifest::{Manifest, images};
use super::store::{ManifestHead, Store, layout_store};
use crate::backend::handle::JobHandle;
use crate::plan::reference::{ImageRef, is_loopback_host};
use crate::plan::resolved::{Mirror, Registry};

/// Largest image config read (they are a few KB).
const MAX_CONFIG_BYTES: usize = 4 * 1024 * 1024;

/// Everything the native copies of one run share: one client per registry
/// (with its tokens and its request cap), layout locks, the blobs and
/// manifests done, and the tags held back under `--publish at-end`.
pub struct Registries {
    settings: IndexMap<String, Registry>,
    mirrors: IndexMap<String, Vec<Mirror>>,
    clients: std::sync::Mutex<HashMap<String, Arc<RegistryClient>>>,
    layouts: std::sync::Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>,
    /// Blobs and manifests written in this run, by target and digest.
    done: Mutex<HashMap<String, Arc<OnceCell<()>>>>,
    pub(super) held: HeldTags,
}

/// A store and the tag or digest in it.
pub struct Located {
    pub image: ImageRef,
    pub store: Store,
    pub reference: String,
    pub display: String,
}

impl Registries {
    pub fn new(
        settings: IndexMap<String, Registry>,
        mirrors: IndexMap<String, Vec<Mirror>>,
    ) -> Self {
        Self {
            settings,
            mirrors,
            clients: std::sync::Mutex::new(HashMap::new()),
            layouts: std::sync::Mutex::new(HashMap::new()),
            done: Mutex::new(HashMap::new()),
            held: HeldTags::default(),
        }
    }

    fn client(
        &self,
        host: &str,
        insecure_override: Option<bool>,
    ) -> Result<Arc<RegistryClient>, RegistryError> {
        let mut clients = crate::lock::lock(&self.clients);
        if let Some(client) = clients.get(host) {
            return Ok(Arc::clone(client));
        }
        let configured = self.settings.get(host);
        let settings = Settings {
            insecure: insecure_override
                .or(configured.map(|r| r.insecure))
                .unwrap_or_else(|| is_loopback_host(host)),
            ca_file: configured.and_then(|r| r.ca_file.clone()),
            max_concurrency: configured
                .and_then(|r| r.max_concurrency)
                .map(|n| n as usize),
            requests_per_second: configured.and_then(|r| r.requests_per_second),
        };
        let client = Arc::new(RegistryClient::new(host, &settings).map_err(RegistryError::fatal)?);
        clients.insert(host.to_owned(), Arc::clone(&client));
        Ok(client)
    }

    fn layout_lock(&self, path: &std::path::Path) -> Arc<Mutex<()>> {
        let mut layouts = crate::lock::lock(&self.layouts);
        Arc::clone(layouts.entry(path.to_path_buf()).or_default())
    }

    /// Where an image reference lives.
    pub fn open(&self, image: &ImageRef) -> Result<Located, RegistryError> {
        match image {
            ImageRef::Registry(r) => self.at_registry(image, &r.registry, None, image.to_string()),
            ImageRef::Layout(l) => {
                let root = PathBuf::from(&l.path);
                Ok(Located {
                    image: image.clone(),
                    store: layout_store(root.clone(), self.layout_lock(&root)),
                    reference: l.tag.clone().unwrap_or_else(|| "latest".into()),
                    display: image.to_string(),
                })
            }
        }
    }

    /// A registry image's repository and tag or digest, on `host` (its own
    /// registry, or one of its mirrors).
    fn at_registry(
        &self,
        image: &ImageRef,
        host: &str,
        insecure: Option<bool>,
        display: String,
    ) -> Result<Located, RegistryError> {
        let ImageRef::Registry(r) = image else {
            return Err(RegistryError::fatal(format!(
                "`{image}` is not in a registry"
            )));
        };
        Ok(Located {
            image: image.clone(),
            store: Store::Registry {
                client: self.client(host, insecure)?,
                repository: r.repository.clone(),
            },
            reference: r
                .digest
                .clone()
                .or_else(|| r.tag.clone())
                .unwrap_or_else(|| "latest".into()),
            display,
        })
    }

    /// Where to read an image from: each mirror of its registry in order, then the registry.
    fn sources(&self, image: &ImageRef) -> Result<Vec<Located>, RegistryError> {
        let mut out = Vec::new();
        if let ImageRef::Registry(r) = image
            && let Some(mirrors) = self.mirrors.get(&r.registry)
        {
            for mirror in mirrors {
                let insecure = mirror.insecure || is_loopback_host(&mirror.host);
                let display = format!("{image} (mirror {})", mirror.host);
                out.push(self.at_registry(image, &mirror.host, Some(insecure), display)?);
            }
        }
        out.push(self.open(image)?);
        Ok(out)
    }

    /// The manifest of `image`, from the first mirror that has it, else the registry.
    pub(super) async fn read(
        &self,
        image: &ImageRef,
        context: &dyn JobHandle,
    ) -> Result<(Located, Manifest), RegistryError> {
        if let Some(pinned) = self.pinned(image) {
            let source = self.open(&pinned)?;
            context.output(format!(
                "{image} is held back in this run: reading {pinned}"
            ));
            let manifest = source
                .store
                .manifest(&source.reference)
                .await?
                .ok_or_else(|| RegistryError::fatal(format!("`{pinned}` not found")))?;
            return Ok((source, manifest));
        }
        let mut last_error = None;
        for source in self.sources(image)? {
            match source.store.manifest(&source.reference).await {
                Ok(Some(manifest)) => return Ok((source, manifest)),
                Ok(None) => context.output(format!("{}: not found", source.display)),
                Err(err) => {
                    context.output(format!("{}: {}", source.display, err.message));
                    last_error = Some(err);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| RegistryError::fatal(format!("`{image}` not found"))))
    }

    /// `HEAD` on `image`, from the first mirror that has it, else the
    /// registry (the order `read` uses); `None` when none has it.
    pub(super) async fn head(
        &self,
        image: &ImageRef,
    ) -> Result<Option<ManifestHead>, RegistryError> {
        let mut last_error = None;
        for source in self.sources(image)? {
            match source.store.head(&source.reference).await {
                Ok(Some(head)) => return Ok(Some(head)),
                Ok(None) => {}
                Err(err) => last_error = Some(err),
            }
        }
        last_error.map_or(Ok(None), Err)
    }

    /// Runs `work` once per key in this run; concurrent callers wait for the
    /// first and share its success (after a failure the next caller tries).
    /// Besides saving work, this keeps several jobs from writing the same
    /// blob or manifest at once, which distribution's filesystem driver does
    /// not survive: it rewrites link files in place, and a concurrent reader
    /// sees the blob as unknown. Returns whether this caller did the work
    /// (`false`: another job of the run did).
    pub(super) async fn once<F>(
        &self,
        key: String,
        work: impl FnOnce() -> F,
    ) -> Result<bool, RegistryError>
    where
        F: std::future::Future<Output = Result<(), RegistryError>>,
    {
        let cell = Arc::clone(self.done.lock().await.entry(key).or_default());
        let mut ran = false;
        cell.get_or_try_init(|| {
            ran = true;
            work()
        })
        .await?;
        Ok(ran)
    }

    /// Deletes the tag `image` names (see [`Store::delete_tag`]).
    pub async fn delete_tag(
        &self,
        image: &ImageRef,
        unshared: Option<&str>,
    ) -> Result<super::tags::Deletion, RegistryError> {
        let located = self.open(image)?;
        located.store.delete_tag(&located.reference, unshared).await
    }

    /// The tags of `image`'s repository, read from its registry (a mirror
    /// lists only what it happens to hold).
    pub async fn tags(&self, image: &ImageRef) -> Result<Vec<String>, RegistryError> {
        self.open(image)?.store.tags().await
    }

    /// When the image at `image` was created, as its config says (the
    /// first platform's, for an index); `None` when it does not say.
    pub async fn created(&self, image: &ImageRef) -> Result<Option<String>, RegistryError> {
        Ok(self
            .image_config(image)
            .await?
            .and_then(|config| config.created().clone()))
    }

    /// The labels of the image at `image` (the first platform's, for an
    /// index); `None` when there is no such image.
    pub async fn labels(
        &self,
        image: &ImageRef,
    ) -> Result<Option<BTreeMap<String, String>>, RegistryError> {
        Ok(self.image_config(image).await?.map(|config| {
            config
                .config()
                .as_ref()
                .and_then(|c| c.labels().clone())
                .unwrap_or_default()
                .into_iter()
                .collect()
        }))
    }

    /// The config of the image at `image` (the first platform's, for an
    /// index); `None` when there is no such image. An index without
    /// images has an empty config.
    async fn image_config(
        &self,
        image: &ImageRef,
    ) -> Result<Option<ImageConfiguration>, RegistryError> {
        let located = self.open(image)?;
        let Some(manifest) = located.store.manifest(&located.reference).await? else {
            return Ok(None);
        };
        let manifest = if manifest.is_index() {
            let index = manifest.index().map_err(RegistryError::fatal)?;
            let Some(first) = images(&index).next() else {
                return Ok(Some(ImageConfiguration::default()));
            };
            match located.store.manifest(first.digest().as_ref()).await? {
                Some(m) => m,
                None => return Ok(None),
            }
        } else {
            manifest
        };
        self.config(&located.store, &manifest).await.map(Some)
    }

    /// What a tag points at now (digest, media type, size); `None` when it
    /// does not exist.
    pub async fn descriptor(
        &self,
        target: &ImageRef,
    ) -> Result<Option<super::store::ManifestHead>, RegistryError> {
        let target = self.open(target)?;
        target.store.head(&target.reference).await
    }

    /// The digest a target tag points at now; `None` when it does not exist.
    pub async fn current(&self, target: &ImageRef) -> Result<Option<String>, RegistryError> {
        let target = self.open(target)?;
        target.store.digest_of(&target.reference).await
    }

    /// An image's config blob (a few KB), read as `T`.
    pub(super) async fn config<T: serde::de::DeserializeOwned>(
        &self,
        store: &Store,
        manifest: &Manifest,
    ) -> Result<T, RegistryError> {
        let image = manifest.image().map_err(RegistryError::fatal)?;
        let config = image.config();
        if config.size() > MAX_CONFIG_BYTES as u64 {
            return Err(RegistryError::fatal(format!(
                "{}: an image config of {} bytes, over the 4 MiB read",
                store.describe(),
                config.size()
            )));
        }
        let mut stream = store
            .blob(config.digest().as_ref(), Some(config.size()))
            .await?;
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|err| {
                RegistryError::fatal(format!(
                    "reading an image config from {}: {err}",
                    store.describe()
                ))
            })?;
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_CONFIG_BYTES {
                return Err(RegistryError::fatal("an image config over 4 MiB"));
            }
        }
        serde_json::from_slice(&bytes).map_err(|err| {
            RegistryError::fatal(format!("{}: invalid image config: {err}", store.describe()))
        })
    }
}

/// The error of a copy stopped by Ctrl-C.
pub(super) fn interrupted() -> RegistryError {
    RegistryError::fatal("interrupted: the copy was stopped before its tags moved")
}

/// Runs a copy until it ends or the run is cancelled. On Ctrl-C the copy is
/// dropped where it is: the transfers in flight are closed, and since tags
/// move last, nothing it had not finished is published. A copy that
/// already finished keeps its result.
pub(super) async fn until_cancelled<T>(
    context: &dyn JobHandle,
    work: impl std::future::Future<Output = Result<T, RegistryError>>,
) -> Result<T, RegistryError> {
    tokio::select! {
        biased;
        result = work => result,
        () = context.cancellation().cancelled() => Err(interrupted()),
    }
}
