//! A build's cache flags, scoped so that parallel builds never overwrite
//! each other's cache: every job, and every platform of a split build, gets
//! its own ref (registry: `REPO:buildcache-JOB-PLATFORMS` next to the first
//! tag), scope (gha: `JOB-PLATFORMS`) or folder (local), and reads its own
//! and its siblings'. Explicit `cache_from`/`cache_to` entries follow as
//! written.

use crate::plan::resolved::{Cache, CacheKind, CacheMode, RunSettings};

/// `--cache-from` and `--cache-to` values for one build invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheFlags {
    pub from: Vec<String>,
    pub to: Vec<String>,
}

/// Where one invocation of a build is: its job, the repository of its first
/// tag (if any), its platforms' key, and the keys of its siblings (the other
/// platforms of a split build).
pub struct CacheScope<'a> {
    pub job: &'a str,
    pub repository: Option<&'a str>,
    pub first_tag: Option<&'a str>,
    pub key: &'a str,
    pub siblings: &'a [String],
    /// Where `local` caches live (the plan's folder).
    pub local_root: &'a std::path::Path,
}

pub fn cache_flags(run: &RunSettings, scope: &CacheScope<'_>) -> CacheFlags {
    let mut flags = match run.cache.as_ref().map(|c| &c.value) {
        Some(cache) => scoped(cache, scope),
        None => CacheFlags::default(),
    };
    flags.from.extend(run.cache_from.iter().cloned());
    flags.to.extend(run.cache_to.iter().cloned());
    flags
}

fn mode(cache: &Cache) -> &'static str {
    match cache.mode {
        CacheMode::Min => "min",
        CacheMode::Max => "max",
    }
}

fn scoped(cache: &Cache, scope: &CacheScope<'_>) -> CacheFlags {
    let name = |key: &str| tag_safe(&format!("{}-{key}", scope.job));
    let own_and_siblings =
        || std::iter::once(scope.key).chain(scope.siblings.iter().map(String::as_str));
    match cache.kind {
        CacheKind::Registry => {
            let refs: Vec<String> = match (&cache.reference, scope.repository) {
                (Some(reference), _) => vec![reference.clone()],
                (None, Some(repository)) => own_and_siblings()
                    .map(|key| format!("{repository}:buildcache-{}", name(key)))
                    .collect(),
                // No tag, no explicit ref: nowhere to keep a registry cache.
                (None, None) => return CacheFlags::default(),
            };
            CacheFlags {
                to: vec![format!(
                    "type=registry,ref={},mode={}",
                    refs[0],
                    mode(cache)
                )],
                from: refs
                    .iter()
                    .map(|r| format!("type=registry,ref={r}"))
                    .collect(),
            }
        }
        CacheKind::Inline => CacheFlags {
            to: vec!["type=inline".to_owned()],
            from: scope
                .first_tag
                .map(|tag| format!("type=registry,ref={tag}"))
                .into_iter()
                .collect(),
        },
        CacheKind::Gha => {
            let scopes: Vec<String> = match &cache.reference {
                Some(reference) => vec![reference.clone()],
                None => own_and_siblings().map(name).collect(),
            };
            CacheFlags {
                to: vec![format!("type=gha,scope={},mode={}", scopes[0], mode(cache))],
                from: scopes
                    .iter()
                    .map(|s| format!("type=gha,scope={s}"))
                    .collect(),
            }
        }
        CacheKind::Local => {
            let folders: Vec<String> = match &cache.reference {
                Some(reference) => vec![reference.clone()],
                None => own_and_siblings()
                    .map(|key| {
                        scope
                            .local_root
                            .join(".buildplan-cache")
                            .join(name(key))
                            .display()
                            .to_string()
                    })
                    .collect(),
            };
            CacheFlags {
                to: vec![format!(
                    "type=local,dest={},mode={}",
                    folders[0],
                    mode(cache)
                )],
                from: folders
                    .iter()
                    .map(|f| format!("type=local,src={f}"))
                    .collect(),
            }
        }
    }
}

/// Letters, digits, `.`, `_`, `-`; anything else becomes `-` (a tag and a
/// gha scope both take these).
pub fn tag_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(100)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::resolved::At;
    use crate::plan::source::{FileId, Origin, Span};

    fn settings(kind: CacheKind, reference: Option<&str>) -> RunSettings {
        RunSettings {
            cache: Some(At::new(
                Cache {
                    kind,
                    reference: reference.map(str::to_owned),
                    mode: CacheMode::Max,
                },
                Origin::new(FileId(0), Span::default()),
            )),
            ..RunSettings::default()
        }
    }

    fn scope<'a>(key: &'a str, siblings: &'a [String]) -> CacheScope<'a> {
        CacheScope {
            job: "app",
            repository: Some("r.test/app"),
            first_tag: Some("r.test/app:1"),
            key,
            siblings,
            local_root: std::path::Path::new("/plans"),
        }
    }

    #[test]
    fn each_platform_of_a_split_build_writes_its_own_cache_and_reads_its_siblings() {
        let siblings = vec!["linux-arm64".to_owned()];
        let flags = cache_flags(
            &settings(CacheKind::Registry, None),
            &scope("linux-amd64", &siblings),
        );
        assert_eq!(
            flags.to,
            ["type=registry,ref=r.test/app:buildcache-app-linux-amd64,mode=max"]
        );
        assert_eq!(
            flags.from,
            [
                "type=registry,ref=r.test/app:buildcache-app-linux-amd64",
                "type=registry,ref=r.test/app:buildcache-app-linux-arm64"
            ]
        );
        let gha = cache_flags(
            &settings(CacheKind::Gha, None),
            &scope("linux-amd64", &siblings),
        );
        assert_eq!(gha.to, ["type=gha,scope=app-linux-amd64,mode=max"]);
        assert_eq!(gha.from.len(), 2);
        let local = cache_flags(
            &settings(CacheKind::Local, None),
            &scope("linux-amd64", &[]),
        );
        assert_eq!(
            local.to,
            ["type=local,dest=/plans/.buildplan-cache/app-linux-amd64,mode=max"]
        );
        let inline = cache_flags(
            &settings(CacheKind::Inline, None),
            &scope("linux-amd64", &[]),
        );
        assert_eq!(inline.to, ["type=inline"]);
        assert_eq!(inline.from, ["type=registry,ref=r.test/app:1"]);
    }

    #[test]
    fn explicit_refs_and_extra_entries_are_kept_as_written() {
        let mut run = settings(CacheKind::Registry, Some("r.test/cache:app"));
        run.cache_from
            .push("type=registry,ref=r.test/cache:main".into());
        let flags = cache_flags(&run, &scope("linux-amd64", &[]));
        assert_eq!(flags.to, ["type=registry,ref=r.test/cache:app,mode=max"]);
        assert_eq!(
            flags.from,
            [
                "type=registry,ref=r.test/cache:app",
                "type=registry,ref=r.test/cache:main"
            ]
        );
        assert_eq!(
            cache_flags(&RunSettings::default(), &scope("k", &[])),
            CacheFlags::default()
        );
    }
}
