//! Sync and combine, natively. Children before their index, the tag last:
//! a failed or killed run never leaves a tag pointing at something
//! incomplete, and running again finishes the work. A blob already at the
//! target is skipped, one in another repository of the same registry is
//! mounted, and anything else is streamed through in one `PUT`. A blob
//! needed by several jobs of one run is copied once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{StreamExt, TryStreamExt as _};
use indexmap::IndexMap;
use serde_json::json;
use tokio::sync::{Mutex, OnceCell};

use super::client::{RegistryClient, RegistryError, Settings};
use super::manifest::{
    Descriptor, DescriptorPlatform, ImageConfig, Manifest, SOURCE_DIGEST_ANNOTATION, build_index,
};
use super::store::{BlobStream, Store, layout_store};
use crate::exec::JobContext;
use crate::plan::platform::Platform;
use crate::plan::reference::ImageRef;
use crate::plan::resolved::{Mirror, Registry};

/// Blobs copied at once within one image.
const BLOB_CONCURRENCY: usize = 4;
/// Largest image config read (they are a few KB).
const MAX_CONFIG_BYTES: usize = 4 * 1024 * 1024;

/// Everything the native copies of one run share: one client per registry
/// (with its tokens and its request cap), layout locks, and the blobs done.
pub struct Registries {
    settings: IndexMap<String, Registry>,
    mirrors: IndexMap<String, Vec<Mirror>>,
    clients: std::sync::Mutex<HashMap<String, Arc<RegistryClient>>>,
    layouts: std::sync::Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>,
    /// Blobs and manifests written in this run, by target and digest.
    done: Mutex<HashMap<String, Arc<OnceCell<()>>>>,
    /// `--publish at-end`: tags are not moved during the run, but held here.
    hold_tags: std::sync::atomic::AtomicBool,
    held: std::sync::Mutex<Vec<(ImageRef, Manifest)>>,
    /// Tags held back in this run -> where their content already is, so the
    /// jobs that read them read that instead.
    pending: std::sync::Mutex<HashMap<String, ImageRef>>,
}

/// A store and the tag or digest in it.
pub struct Located {
    pub image: ImageRef,
    pub store: Store,
    pub reference: String,
    pub display: String,
}

fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

/// Progress of one job, said as its current step.
struct Progress<'a> {
    context: &'a JobContext,
    blobs: AtomicU64,
    /// Shared with the upload streams that count through it.
    bytes: Arc<AtomicU64>,
    mounted: AtomicU64,
    skipped: AtomicU64,
}

impl<'a> Progress<'a> {
    fn new(context: &'a JobContext) -> Self {
        Self {
            context,
            blobs: AtomicU64::new(0),
            bytes: Arc::new(AtomicU64::new(0)),
            mounted: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }

    fn say(&self) {
        let bytes = self.bytes.load(Ordering::Relaxed);
        self.context.step(format!(
            "{} blobs copied ({}), {} mounted, {} present",
            self.blobs.load(Ordering::Relaxed),
            human_bytes(bytes),
            self.mounted.load(Ordering::Relaxed),
            self.skipped.load(Ordering::Relaxed)
        ));
    }

    fn summary(&self) -> serde_json::Value {
        json!({
            "blobs_copied": self.blobs.load(Ordering::Relaxed),
            "bytes_copied": self.bytes.load(Ordering::Relaxed),
            "blobs_mounted": self.mounted.load(Ordering::Relaxed),
            "blobs_present": self.skipped.load(Ordering::Relaxed),
        })
    }
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
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
            hold_tags: std::sync::atomic::AtomicBool::new(false),
            held: std::sync::Mutex::new(Vec::new()),
            pending: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn client(
        &self,
        host: &str,
        insecure_override: Option<bool>,
    ) -> Result<Arc<RegistryClient>, RegistryError> {
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| RegistryError::fatal("registry clients poisoned"))?;
        if let Some(client) = clients.get(host) {
            return Ok(Arc::clone(client));
        }
        let configured = self.settings.get(host);
        let settings = Settings {
            insecure: insecure_override
                .or(configured.map(|r| r.insecure))
                .unwrap_or_else(|| is_loopback(host)),
            ca_file: configured.and_then(|r| r.ca_file.clone()),
            max_concurrency: configured
                .and_then(|r| r.max_concurrency)
                .map(|n| n as usize),
        };
        let client = Arc::new(RegistryClient::new(host, &settings).map_err(RegistryError::fatal)?);
        clients.insert(host.to_owned(), Arc::clone(&client));
        Ok(client)
    }

    fn layout_lock(&self, path: &std::path::Path) -> Arc<Mutex<()>> {
        let mut layouts = self
            .layouts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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
                let insecure = mirror.insecure || is_loopback(&mirror.host);
                let display = format!("{image} (mirror {})", mirror.host);
                out.push(self.at_registry(image, &mirror.host, Some(insecure), display)?);
            }
        }
        out.push(self.open(image)?);
        Ok(out)
    }

    /// The manifest of `image`, from the first mirror that has it, else the registry.
    async fn read(
        &self,
        image: &ImageRef,
        context: &JobContext,
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

    /// Runs `work` once per key in this run; concurrent callers wait for the
    /// first and share its success (after a failure the next caller tries).
    /// Besides saving work, this keeps several jobs from writing the same
    /// blob or manifest at once, which distribution's filesystem driver does
    /// not survive: it rewrites link files in place, and a concurrent reader
    /// sees the blob as unknown.
    async fn once<F>(&self, key: String, work: impl FnOnce() -> F) -> Result<(), RegistryError>
    where
        F: std::future::Future<Output = Result<(), RegistryError>>,
    {
        let cell = Arc::clone(self.done.lock().await.entry(key).or_default());
        cell.get_or_try_init(work).await.map(|_| ())
    }

    async fn copy_blob(
        &self,
        from: &Store,
        to: &Store,
        blob: &Descriptor,
        progress: &Progress<'_>,
    ) -> Result<(), RegistryError> {
        self.once(
            format!("blob {}@{}", to.describe(), blob.digest),
            || async {
                if to.has_blob(&blob.digest).await? {
                    progress.skipped.fetch_add(1, Ordering::Relaxed);
                    progress.say();
                    return Ok(());
                }
                if let Some(repository) = to.can_mount_from(from)
                    && to.mount(&blob.digest, &repository).await?
                {
                    progress.mounted.fetch_add(1, Ordering::Relaxed);
                    progress.say();
                    return Ok(());
                }
                let retry = crate::exec::RetryPolicy {
                    attempts: 6,
                    first_delay: std::time::Duration::from_millis(200),
                    max_delay: std::time::Duration::from_secs(20),
                };
                let mut attempt = 1;
                loop {
                    let result = async {
                        let stream = from.blob(&blob.digest).await?;
                        let bytes = Arc::clone(&progress.bytes);
                        let counting: BlobStream = Box::pin(stream.inspect_ok(move |chunk| {
                            bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        }));
                        to.put_blob(&blob.digest, blob.size, counting).await
                    }
                    .await;
                    match result {
                        Ok(()) => {
                            progress.blobs.fetch_add(1, Ordering::Relaxed);
                            progress.say();
                            return Ok(());
                        }
                        Err(err) if err.transient && attempt < retry.attempts => {
                            progress
                                .context
                                .output(format!("blob {}: {}; retrying", blob.digest, err.message));
                            tokio::time::sleep(retry.delay(attempt, err.retry_after)).await;
                            attempt += 1;
                        }
                        Err(err) => return Err(err),
                    }
                }
            },
        )
        .await
    }

    /// One image (config and layers, then its manifest by digest) into `to`.
    async fn copy_image(
        &self,
        from: &Store,
        to: &Store,
        manifest: &Manifest,
        progress: &Progress<'_>,
    ) -> Result<(), RegistryError> {
        let digest = manifest.digest();
        self.once(format!("manifest {}@{digest}", to.describe()), || {
            self.copy_image_once(from, to, manifest, &digest, progress)
        })
        .await
    }

    async fn copy_image_once(
        &self,
        from: &Store,
        to: &Store,
        manifest: &Manifest,
        digest: &str,
        progress: &Progress<'_>,
    ) -> Result<(), RegistryError> {
        if to.digest_of(digest).await?.is_some() {
            return Ok(());
        }
        let image = manifest.image().map_err(RegistryError::fatal)?;
        // A few blobs at once; written as a loop rather than stream adapters,
        // whose closures over borrowed stores defeat the `Send` check.
        let mut queue = image.blobs();
        let mut running = futures_util::stream::FuturesUnordered::new();
        loop {
            while running.len() < BLOB_CONCURRENCY {
                match queue.next() {
                    Some(blob) => running.push(self.copy_blob(from, to, blob, progress)),
                    None => break,
                }
            }
            match running.next().await {
                Some(result) => result?,
                None => break,
            }
        }
        to.put_manifest(digest, manifest).await
    }

    /// The children of an index (each an image) into `to`, then the index by digest.
    async fn copy_index(
        &self,
        from: &Store,
        to: &Store,
        index: &Manifest,
        progress: &Progress<'_>,
    ) -> Result<(), RegistryError> {
        let parsed = index.index().map_err(RegistryError::fatal)?;
        // Every platform at once: their own layers upload side by side,
        // shared layers are copied once (see `once`).
        let mut running = futures_util::stream::FuturesUnordered::new();
        for child in &parsed.manifests {
            running.push(self.copy_child(from, to, child, progress));
        }
        while let Some(result) = running.next().await {
            result?;
        }
        let digest = index.digest();
        self.once(format!("manifest {}@{digest}", to.describe()), || {
            to.put_manifest(&digest, index)
        })
        .await
    }

    async fn copy_child(
        &self,
        from: &Store,
        to: &Store,
        child: &Descriptor,
        progress: &Progress<'_>,
    ) -> Result<(), RegistryError> {
        let manifest = from.manifest(&child.digest).await?.ok_or_else(|| {
            RegistryError::fatal(format!(
                "{} lists {} but does not have it",
                from.describe(),
                child.digest
            ))
        })?;
        if manifest.is_index() {
            return Err(RegistryError::fatal(format!(
                "{}: nested indexes are not supported",
                from.describe()
            )));
        }
        self.copy_image(from, to, &manifest, progress).await
    }

    /// Publishes `manifest` (already complete at `to`) under the target's tag,
    /// unless the tag already points at it. Returns what happened.
    async fn publish(
        &self,
        from: &Store,
        target: &Located,
        manifest: &Manifest,
        progress: &Progress<'_>,
    ) -> Result<&'static str, RegistryError> {
        let digest = manifest.digest();
        let current = target.store.digest_of(&target.reference).await?;
        if current.as_deref() == Some(digest.as_str()) {
            return Ok("unchanged");
        }
        if manifest.is_index() {
            self.copy_index(from, &target.store, manifest, progress)
                .await?;
        } else {
            self.copy_image(from, &target.store, manifest, progress)
                .await?;
        }
        // The tag moves last, once everything it points at is there.
        if self.move_tag(target, manifest).await? {
            return Ok("held");
        }
        Ok(if current.is_some() {
            "updated"
        } else {
            "created"
        })
    }

    /// `sync`: the source under each target name, byte for byte (same
    /// digest), or, with `platforms`, a new index holding only those.
    pub async fn sync(
        &self,
        from: &ImageRef,
        to: &[ImageRef],
        platforms: &[Platform],
        context: &JobContext,
    ) -> Result<serde_json::Value, RegistryError> {
        let progress = Progress::new(context);
        let (source, desired) = self.desired_sync(from, platforms, context).await?;
        let mut targets = Vec::new();
        for target in to {
            let target = self.open(target)?;
            let what = self
                .publish(&source.store, &target, &desired, &progress)
                .await?;
            context.output(format!("{}: {what} ({})", target.display, desired.digest()));
            targets.push(json!({ "reference": target.display, "result": what }));
        }
        Ok(
            json!({ "digest": desired.digest(), "from": source.display, "targets": targets, "transfer": progress.summary() }),
        )
    }

    /// What a sync wants at its targets, read from its source (read-only):
    /// the source's own manifest, or the filtered index.
    pub async fn desired_sync(
        &self,
        from: &ImageRef,
        platforms: &[Platform],
        context: &JobContext,
    ) -> Result<(Located, Manifest), RegistryError> {
        context.step(format!("reading {from}"));
        let (source, manifest) = self.read(from, context).await?;
        let desired = if platforms.is_empty() || !manifest.is_index() {
            manifest
        } else {
            let index = manifest.index().map_err(RegistryError::fatal)?;
            let mut entries = Vec::new();
            for platform in platforms {
                let entry = index.for_platform(platform).ok_or_else(|| {
                    RegistryError::fatal(format!(
                        "`{from}` has no {platform} image (it has {})",
                        list_platforms(&index.manifests)
                    ))
                })?;
                entries.push(entry.clone());
            }
            let mut annotations = serde_json::Map::new();
            annotations.insert(SOURCE_DIGEST_ANNOTATION.into(), manifest.digest().into());
            build_index(&entries, Some(annotations))
        };
        Ok((source, desired))
    }

    /// `--publish at-end`: from now on, tags are held back until `publish_held`.
    pub fn hold_tags(&self) {
        self.hold_tags
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn holding(&self) -> bool {
        self.hold_tags.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Where the content of a held-back tag is, if `image` is one.
    pub fn pinned(&self, image: &ImageRef) -> Option<ImageRef> {
        self.pending.lock().ok()?.get(&image.to_string()).cloned()
    }

    /// Records that `tag` is held back and its content is at `at`.
    pub fn pin(&self, tag: &ImageRef, at: ImageRef) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(tag.to_string(), at);
        }
    }

    /// Moves the target's tag to `manifest`, or holds it back under
    /// `--publish at-end` (true). The content is already complete.
    async fn move_tag(&self, target: &Located, manifest: &Manifest) -> Result<bool, RegistryError> {
        if self.holding() {
            if let ImageRef::Registry(r) = &target.image {
                let mut pinned = r.clone();
                pinned.tag = None;
                pinned.digest = Some(manifest.digest());
                self.pin(&target.image, ImageRef::Registry(pinned));
            }
            if let Ok(mut held) = self.held.lock() {
                held.push((target.image.clone(), manifest.clone()));
            }
            return Ok(true);
        }
        target
            .store
            .put_manifest(&target.reference, manifest)
            .await?;
        Ok(false)
    }

    /// Moves every held-back tag (once every job succeeded). Returns what moved.
    pub async fn publish_held(&self) -> Result<Vec<String>, RegistryError> {
        let held: Vec<(ImageRef, Manifest)> = self
            .held
            .lock()
            .map(|mut h| std::mem::take(&mut *h))
            .unwrap_or_default();
        let mut moved = Vec::new();
        for (image, manifest) in held {
            let target = self.open(&image)?;
            target
                .store
                .put_manifest(&target.reference, &manifest)
                .await?;
            moved.push(format!("{image} -> {}", manifest.digest()));
        }
        Ok(moved)
    }

    /// The labels of the image at `image` (the first platform's, for an
    /// index); `None` when there is no such image.
    pub async fn labels(
        &self,
        image: &ImageRef,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, RegistryError> {
        let located = self.open(image)?;
        let Some(manifest) = located.store.manifest(&located.reference).await? else {
            return Ok(None);
        };
        let manifest = if manifest.is_index() {
            let index = manifest.index().map_err(RegistryError::fatal)?;
            let Some(first) = index.images().next() else {
                return Ok(Some(Default::default()));
            };
            match located.store.manifest(&first.digest).await? {
                Some(m) => m,
                None => return Ok(None),
            }
        } else {
            manifest
        };
        #[derive(serde::Deserialize)]
        struct Config {
            config: Option<Inner>,
        }
        #[derive(serde::Deserialize)]
        struct Inner {
            #[serde(rename = "Labels")]
            labels: Option<std::collections::BTreeMap<String, String>>,
        }
        let config: Config = self.config(&located.store, &manifest).await?;
        Ok(Some(
            config.config.and_then(|c| c.labels).unwrap_or_default(),
        ))
    }

    /// The digest a target tag points at now; `None` when it does not exist.
    pub async fn current(&self, target: &ImageRef) -> Result<Option<String>, RegistryError> {
        let target = self.open(target)?;
        target.store.digest_of(&target.reference).await
    }

    /// `combine`: an index over one image per platform, each checked against
    /// its config, serialized canonically so an unchanged combine pushes nothing.
    pub async fn combine(
        &self,
        sources: &[(Platform, ImageRef)],
        to: &[ImageRef],
        context: &JobContext,
    ) -> Result<serde_json::Value, RegistryError> {
        let progress = Progress::new(context);
        let (images, index) = self.desired_combine(sources, context).await?;
        let mut targets = Vec::new();
        for target in to {
            let target = self.open(target)?;
            let current = target.store.digest_of(&target.reference).await?;
            let what = if current.as_deref() == Some(index.digest().as_str()) {
                "unchanged"
            } else {
                for (source, manifest) in &images {
                    self.copy_image(&source.store, &target.store, manifest, &progress)
                        .await?;
                }
                let digest = index.digest();
                self.once(
                    format!("manifest {}@{digest}", target.store.describe()),
                    || target.store.put_manifest(&digest, &index),
                )
                .await?;
                if self.move_tag(&target, &index).await? {
                    "held"
                } else if current.is_some() {
                    "updated"
                } else {
                    "created"
                }
            };
            context.output(format!("{}: {what} ({})", target.display, index.digest()));
            targets.push(json!({ "reference": target.display, "result": what }));
        }
        Ok(json!({ "digest": index.digest(), "targets": targets, "transfer": progress.summary() }))
    }

    /// What a combine wants at its targets (read-only): each source's image
    /// for its platform, checked against its config, and the index over them.
    pub async fn desired_combine(
        &self,
        sources: &[(Platform, ImageRef)],
        context: &JobContext,
    ) -> Result<(Vec<(Located, Manifest)>, Manifest), RegistryError> {
        let mut images: Vec<(Located, Manifest, Descriptor)> = Vec::new();
        for (platform, image) in sources {
            context.step(format!("reading {image}"));
            let (source, manifest) = self.read(image, context).await?;
            let manifest = if manifest.is_index() {
                let index = manifest.index().map_err(RegistryError::fatal)?;
                let only: Vec<&Descriptor> = index.images().collect();
                let entry = index
                    .for_platform(platform)
                    .or_else(|| (only.len() == 1).then(|| only[0]))
                    .ok_or_else(|| {
                        RegistryError::fatal(format!(
                            "`{image}` has no {platform} image (it has {})",
                            list_platforms(&index.manifests)
                        ))
                    })?;
                source.store.manifest(&entry.digest).await?.ok_or_else(|| {
                    RegistryError::fatal(format!(
                        "`{image}` lists {} but does not have it",
                        entry.digest
                    ))
                })?
            } else {
                manifest
            };
            let config: ImageConfig = self.config(&source.store, &manifest).await?;
            let found = Platform::parse(&match &config.variant {
                Some(v) => format!("{}/{}/{v}", config.os, config.architecture),
                None => format!("{}/{}", config.os, config.architecture),
            })
            .map_err(|err| {
                RegistryError::fatal(format!(
                    "`{image}`: its config names an odd platform: {}",
                    err.message
                ))
            })?;
            if found != *platform {
                return Err(RegistryError::fatal(format!(
                    "`{image}` is a {found} image, but the plan lists it for {platform}"
                )));
            }
            let descriptor = Descriptor {
                media_type: manifest.media_type.clone(),
                digest: manifest.digest(),
                size: manifest.bytes.len() as u64,
                platform: Some(DescriptorPlatform::from_platform(platform)),
                annotations: None,
            };
            images.push((source, manifest, descriptor));
        }
        let entries: Vec<Descriptor> = images.iter().map(|(_, _, d)| d.clone()).collect();
        let index = build_index(&entries, None);
        Ok((images.into_iter().map(|(l, m, _)| (l, m)).collect(), index))
    }

    /// An image's config blob (a few KB), read as `T`.
    async fn config<T: serde::de::DeserializeOwned>(
        &self,
        store: &Store,
        manifest: &Manifest,
    ) -> Result<T, RegistryError> {
        let image = manifest.image().map_err(RegistryError::fatal)?;
        let mut stream = store.blob(&image.config.digest).await?;
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|err| RegistryError::fatal(format!("reading an image config: {err}")))?;
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

fn list_platforms(entries: &[Descriptor]) -> String {
    let names: Vec<String> = entries
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .filter_map(DescriptorPlatform::platform)
        .map(|p| p.to_string())
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
