//! What the step after `plan apply` reads: bake's metadata file
//! (`--metadata-file`), and under GitHub Actions `changed` and `digests` in
//! `$GITHUB_OUTPUT` and the summary in `$GITHUB_STEP_SUMMARY`.

use std::io::Write as _;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::apply::published::Published;

/// bake's `--metadata-file` format: one key per job, with
/// `containerimage.digest`, `containerimage.descriptor` and `image.name`
/// (the tags, comma-separated), so signing steps written for bake read it
/// unchanged. A name two jobs share (`build.app`, `sync.app`) is keyed by
/// address instead.
pub fn metadata(published: &[Published]) -> Value {
    let mut uses: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for job in published {
        *uses.entry(job.name.as_str()).or_default() += 1;
    }
    let mut out = Map::new();
    for job in published {
        let shared = uses[job.name.as_str()] > 1;
        let key = if shared { &job.address } else { &job.name };
        let mut entry = Map::new();
        entry.insert("image.name".into(), json!(job.tags.join(",")));
        if let Some(digest) = &job.digest {
            entry.insert("containerimage.digest".into(), json!(digest));
            let mut descriptor = Map::new();
            if let Some(media_type) = &job.media_type {
                descriptor.insert("mediaType".into(), json!(media_type));
            }
            descriptor.insert("digest".into(), json!(digest));
            if let Some(size) = job.size {
                descriptor.insert("size".into(), json!(size));
            }
            entry.insert(
                "containerimage.descriptor".into(),
                Value::Object(descriptor),
            );
        }
        out.insert(key.clone(), Value::Object(entry));
    }
    Value::Object(out)
}

/// `$GITHUB_OUTPUT` lines: `changed` (did any job do work) and `digests`
/// (JSON, job address → digest).
pub fn github_output(changed: bool, published: &[Published]) -> String {
    let digests: Map<String, Value> = published
        .iter()
        .filter_map(|p| Some((p.address.clone(), json!(p.digest.as_ref()?))))
        .collect();
    // One line each: JSON without newlines needs no heredoc delimiter.
    format!("changed={changed}\ndigests={}\n", Value::Object(digests))
}

/// Appends to a file GitHub gives the step (it may hold other steps' lines).
pub fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, address: &str, digest: Option<&str>) -> Published {
        Published {
            name: name.into(),
            address: address.into(),
            tags: vec![format!("r.test/{name}:1"), format!("r.test/{name}:latest")],
            digest: digest.map(Into::into),
            media_type: Some("application/vnd.oci.image.index.v1+json".into()),
            size: Some(500),
            unread: None,
        }
    }

    #[test]
    fn metadata_is_bakes_format() {
        let jobs = [
            job("app", "build.app", Some("sha256:aa")),
            job("mirror", "sync.mirror", None),
            job("x", "build.x", Some("sha256:bb")),
            job("x", "sync.x", Some("sha256:cc")),
        ];
        let value = metadata(&jobs);
        assert_eq!(value["app"]["containerimage.digest"], "sha256:aa");
        assert_eq!(
            value["app"]["containerimage.descriptor"],
            json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:aa", "size": 500})
        );
        assert_eq!(value["app"]["image.name"], "r.test/app:1,r.test/app:latest");
        assert!(value["mirror"].get("containerimage.digest").is_none());
        assert_eq!(value["build.x"]["containerimage.digest"], "sha256:bb");
        assert_eq!(value["sync.x"]["containerimage.digest"], "sha256:cc");
    }

    #[test]
    fn github_output_is_two_lines() {
        let text = github_output(true, &[job("app", "build.app", Some("sha256:aa"))]);
        assert_eq!(
            text,
            "changed=true\ndigests={\"build.app\":\"sha256:aa\"}\n"
        );
    }
}
