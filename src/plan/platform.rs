//! Platforms (`os/arch[/variant]`), parsed and normalized the way
//! containerd does, so `linux/arm64/v8`, `linux/aarch64` and `arm64` are all
//! `linux/arm64`.

use std::fmt;

use serde::Serialize;

use super::diagnostic::did_you_mean;

/// Each part is one of the names plan knows (the lists below), so a
/// platform holds no text of its own: it is copied, never allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    pub os: &'static str,
    pub architecture: &'static str,
    pub variant: Option<&'static str>,
}

const OPERATING_SYSTEMS: &[&str] = &[
    "linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix",
    "android", "ios", "plan9", "wasip1", "js",
];

const ARCHITECTURES: &[&str] = &[
    "amd64", "arm64", "arm", "386", "ppc64le", "ppc64", "s390x", "riscv64", "mips64le", "mips64",
    "mipsle", "mips", "loong64", "wasm",
];

/// Why a platform string is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlatformError {
    pub message: String,
    pub help: String,
}

impl Platform {
    pub fn parse(text: &str) -> Result<Self, PlatformError> {
        let trimmed = text.trim();
        let lower = if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(trimmed.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(trimmed)
        };
        let mut parts = lower.split('/');
        let parts = [parts.next(), parts.next(), parts.next(), parts.next()];
        let (os, arch, variant) = match parts {
            // A bare architecture means Linux, as in `--platform=arm64`.
            [Some(arch), None, ..] if !arch.is_empty() && !OPERATING_SYSTEMS.contains(&arch) => {
                ("linux", arch, None)
            }
            [Some(os), Some(arch), None, _] => (os, arch, None),
            [Some(os), Some(arch), Some(variant), None] => (os, arch, Some(variant)),
            _ => {
                return Err(PlatformError {
                    message: format!("`{text}` is not a platform"),
                    help: "write a platform as `os/arch` or `os/arch/variant`, e.g. `linux/amd64` or `linux/arm/v7`".into(),
                });
            }
        };
        let Some(os) = known(OPERATING_SYSTEMS, os) else {
            return Err(PlatformError {
                message: format!("unknown operating system `{os}` in platform `{text}`"),
                help: suggestion(os, OPERATING_SYSTEMS, "operating systems"),
            });
        };
        let (architecture, implied_variant) = normalize_architecture(arch);
        let Some(architecture) = known(ARCHITECTURES, architecture) else {
            return Err(PlatformError {
                message: format!("unknown architecture `{arch}` in platform `{text}`"),
                help: suggestion(arch, ARCHITECTURES, "architectures"),
            });
        };
        if variant == Some("") {
            return Err(PlatformError {
                message: format!("empty variant in platform `{text}`"),
                help: format!("drop the trailing `/`: `{os}/{architecture}`"),
            });
        }
        let variant = match normalize_variant(architecture, variant.or(implied_variant)) {
            None => None,
            Some(variant) => {
                let variants = known_variants(architecture);
                let Some(variant) = known(variants, variant) else {
                    return Err(PlatformError {
                        message: format!(
                            "unknown variant `{variant}` of {architecture} in platform `{text}`"
                        ),
                        help: if variants.is_empty() {
                            format!("{architecture} has no variants: write `{os}/{architecture}`")
                        } else {
                            suggestion(variant, variants, &format!("{architecture} variants"))
                        },
                    });
                };
                Some(variant)
            }
        };
        Ok(Self {
            os,
            architecture,
            variant,
        })
    }
}

/// `name` as it is spelled in `names` (whose entries live for the whole run).
fn known(names: &[&'static str], name: &str) -> Option<&'static str> {
    names.iter().copied().find(|known| *known == name)
}

fn suggestion(word: &str, known: &[&str], what: &str) -> String {
    match did_you_mean(word, known.iter().copied()) {
        Some(close) => format!("did you mean `{close}`? Known {what}: {}", known.join(", ")),
        None => format!("known {what}: {}", known.join(", ")),
    }
}

/// Aliases people and `uname -m` use, mapped to Go's names.
fn normalize_architecture(arch: &str) -> (&str, Option<&str>) {
    match arch {
        "x86_64" | "x86-64" | "amd64" => ("amd64", None),
        "aarch64" | "arm64" => ("arm64", None),
        "armhf" => ("arm", Some("v7")),
        "armel" => ("arm", Some("v6")),
        "i386" | "i686" | "386" => ("386", None),
        other => (other, None),
    }
}

/// The variants containerd and the Go toolchain know, per architecture
/// (after normalization: `arm64/v8` and `amd64/v1` are no variant at all).
fn known_variants(architecture: &str) -> &'static [&'static str] {
    match architecture {
        "arm" => &["v5", "v6", "v7", "v8"],
        "arm64" => &[
            "v8.1", "v8.2", "v8.3", "v8.4", "v8.5", "v8.6", "v8.7", "v8.8", "v8.9", "v9", "v9.0",
            "v9.1", "v9.2", "v9.3", "v9.4", "v9.5",
        ],
        "amd64" => &["v2", "v3", "v4"],
        "ppc64le" => &["power8", "power9", "power10"],
        _ => &[],
    }
}

fn normalize_variant<'a>(architecture: &str, variant: Option<&'a str>) -> Option<&'a str> {
    match (architecture, variant) {
        ("arm64", Some("v8" | "8")) | ("amd64", Some("v1")) => None,
        ("arm", None | Some("7")) => Some("v7"),
        ("arm", Some("6")) => Some("v6"),
        ("arm", Some("5")) => Some("v5"),
        (_, variant) => variant,
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(text: &str) -> String {
        Platform::parse(text).unwrap().to_string()
    }

    #[test]
    fn normalizes_like_containerd() {
        assert_eq!(normal("linux/amd64"), "linux/amd64");
        assert_eq!(normal("linux/arm64/v8"), "linux/arm64");
        assert_eq!(normal("linux/aarch64"), "linux/arm64");
        assert_eq!(normal("arm64"), "linux/arm64");
        assert_eq!(normal("amd64"), "linux/amd64");
        assert_eq!(normal("linux/arm"), "linux/arm/v7");
        assert_eq!(normal("linux/armhf"), "linux/arm/v7");
        assert_eq!(normal("Linux/X86_64"), "linux/amd64");
        assert_eq!(normal("linux/arm/v6"), "linux/arm/v6");
    }

    #[test]
    fn rejects_nonsense_with_a_suggestion() {
        let err = Platform::parse("linux/amd46").unwrap_err();
        assert!(err.message.contains("amd46"), "{err:?}");
        assert!(err.help.contains("amd64"), "{err:?}");
        assert!(
            Platform::parse("linx/amd64")
                .unwrap_err()
                .help
                .contains("linux")
        );
        assert!(Platform::parse("linux/amd64/v1/x").is_err());
        assert!(Platform::parse("").is_err());
        assert!(Platform::parse("linux").is_err());
    }
}
