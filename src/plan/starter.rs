//! The starter plan `plan init` writes: one build per Dockerfile found,
//! named after its folder, for both common platforms, tagged under a
//! registry the user fills in. Pure: given the Dockerfiles' paths (relative
//! to the plan's folder), it returns the text.

use crate::plan::yaml::quoted;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::resolve::{safe_name, unique_name};

/// The modeline and schema file name `plan init` writes next to the plan.
pub const SCHEMA_FILE: &str = "plan.schema.json";

/// The plan text for these Dockerfiles (paths relative to the plan folder,
/// with `/` separators), in the order given.
pub fn starter_plan(dockerfiles: &[PathBuf]) -> String {
    let mut text = format!(
        "# yaml-language-server: $schema={SCHEMA_FILE}\n\
         # Written by `plan init`: one build per Dockerfile found. Set `registry`,\n\
         # then `plan validate`, `plan diff`, `plan apply`. The plan reference is in\n\
         # buildplan's README.\n\
         version: 1\n\n\
         vars:\n  \
           registry: registry.example.com/my-team   # where images are pushed\n  \
           tag: latest                              # e.g. --var tag=$GITHUB_SHA\n\n\
         builds:\n"
    );
    let mut taken = BTreeSet::new();
    for dockerfile in dockerfiles {
        let folder = dockerfile.parent().unwrap_or(Path::new(""));
        let file = dockerfile
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = unique_name(&job_name(folder, &file), &mut taken);
        let context = if folder.as_os_str().is_empty() {
            ".".to_owned()
        } else {
            slashes(folder)
        };
        text.push_str(&format!("  {name}:\n    context: {}\n", quoted(&context)));
        if file != "Dockerfile" {
            text.push_str(&format!("    dockerfile: {}\n", quoted(&file)));
        }
        text.push_str(&format!(
            "    platforms: [linux/amd64, linux/arm64]\n    tags: [\"{{{{ registry }}}}/{name}:{{{{ tag }}}}\"]\n"
        ));
    }
    text
}

/// `api/Dockerfile` is `api`; `tools.Dockerfile` or `Dockerfile.tools` in
/// the root is `tools`; the root's own `Dockerfile` is `app`.
fn job_name(folder: &Path, file: &str) -> String {
    let from_file = file
        .strip_suffix(".Dockerfile")
        .or_else(|| file.strip_suffix(".dockerfile"))
        .or_else(|| file.strip_prefix("Dockerfile."));
    let raw = match (from_file, folder.file_name()) {
        (Some(stem), Some(dir)) => format!("{}-{stem}", dir.to_string_lossy()),
        (Some(stem), None) => stem.to_owned(),
        (None, Some(dir)) => dir.to_string_lossy().into_owned(),
        (None, None) => "app".to_owned(),
    };
    safe_name(&raw.to_ascii_lowercase(), "app")
}

fn slashes(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_folders_and_files() {
        let text = starter_plan(&[
            PathBuf::from("Dockerfile"),
            PathBuf::from("services/API/Dockerfile"),
            PathBuf::from("tools.Dockerfile"),
            PathBuf::from("web/Dockerfile.dev"),
            PathBuf::from("other/api/Dockerfile"),
        ]);
        for expected in [
            "  app:\n    context: \".\"\n",
            "  api:\n    context: \"services/API\"\n",
            "  tools:\n    context: \".\"\n    dockerfile: \"tools.Dockerfile\"\n",
            "  web-dev:\n    context: \"web\"\n    dockerfile: \"Dockerfile.dev\"\n",
            "  api-2:\n    context: \"other/api\"\n",
        ] {
            assert!(text.contains(expected), "{expected}\n---\n{text}");
        }
        assert!(text.starts_with("# yaml-language-server: $schema=plan.schema.json\n"));
        assert_eq!(quoted("a\"b\\c\nd"), "\"a\\\"b\\\\c\\u000ad\"");
    }
}
