//! What a pull needs of a manifest: for an image index (OCI index, Docker manifest list), the
//! manifest of one platform; for an image manifest, its config and layers. Plain data.

use std::fmt;

use serde::Deserialize;

use crate::config::Problem;

/// The platform `docker pull` resolves an index to, `OS/ARCH[/VARIANT]` (`--platform`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Platform {
    pub(crate) os: String,
    architecture: String,
    pub(crate) variant: Option<String>,
}

impl Default for Platform {
    /// `linux/amd64`, what a pull on most build and cluster nodes asks for.
    fn default() -> Self {
        Platform {
            os: "linux".to_owned(),
            architecture: "amd64".to_owned(),
            variant: None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(v) => write!(f, "/{v}"),
            None => Ok(()),
        }
    }
}

impl Platform {
    /// `--platform`'s value, as Docker writes it: `linux/amd64`, `linux/arm64/v8`; the
    /// architecture's other names (`x86_64`, `aarch64`) are taken as containerd normalises them.
    pub(crate) fn parse(flag: &str, text: &str) -> Result<Self, Problem> {
        let parts: Vec<&str> = text.split('/').collect();
        let word = |s: &&str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        match parts.as_slice() {
            [os, arch, rest @ ..] if rest.len() <= 1 && parts.iter().all(word) => Ok(normalised(
                os,
                arch,
                rest.first().copied(),
            )),
            _ => Err(Problem::new(
                flag,
                format!("{text:?} is not a platform"),
                "give OS/ARCH or OS/ARCH/VARIANT in lowercase, as docker pull --platform takes it, e.g. linux/amd64 or linux/arm64/v8",
            )),
        }
    }
}

/// containerd's normalisation: architecture aliases, and the variants that go without saying
/// (`arm64` is `v8`, `amd64` has none).
fn normalised(os: &str, arch: &str, variant: Option<&str>) -> Platform {
    let (architecture, variant) = match (arch, variant) {
        ("x86_64" | "x86-64" | "amd64", Some("v1")) | ("x86_64" | "x86-64" | "amd64", None) => {
            ("amd64", None)
        }
        ("x86_64" | "x86-64", v) => ("amd64", v),
        ("aarch64" | "arm64", Some("v8") | None) => ("arm64", None),
        ("aarch64", v) => ("arm64", v),
        ("armhf", _) => ("arm", Some("v7")),
        ("armel", _) => ("arm", Some("v6")),
        (a, v) => (a, v),
    };
    Platform {
        os: os.to_owned(),
        architecture: architecture.to_owned(),
        variant: variant.map(str::to_owned),
    }
}

/// Why a manifest cannot be used for a pull.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ManifestError {
    #[error("the manifest is not JSON a registry serves ({0})")]
    NotJson(String),
    #[error("the image index lists no manifests")]
    EmptyIndex,
    #[error("a manifest of type {0} that a pull cannot use (no config)")]
    NoConfig(String),
    #[error("the manifest names {0:?}, which is not a sha256 or sha512 digest")]
    BadDigest(String),
}

/// A digest a pull can check: `sha256:` and 64, or `sha512:` and 128, lowercase hex digits.
fn is_checkable_digest(d: &str) -> bool {
    let hex = |h: &str, n: usize| {
        h.len() == n
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match d.split_once(':') {
        Some(("sha256", h)) => hex(h, 64),
        Some(("sha512", h)) => hex(h, 128),
        _ => false,
    }
}

/// A content descriptor: what a manifest says of another object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub(crate) media_type: String,
    pub(crate) digest: String,
    /// Required by the spec: the most bytes a download of it may read.
    pub(crate) size: u64,
    #[serde(default)]
    pub(crate) platform: Option<DescribedPlatform>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct DescribedPlatform {
    #[serde(default)]
    pub(crate) os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    pub(crate) variant: Option<String>,
}

/// A manifest, as far as a pull reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Manifest {
    /// One manifest per platform.
    Index(Vec<Descriptor>),
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

impl Manifest {
    /// Reads a manifest body. `Content-Type` decides when it names a kind; else the body's own
    /// `mediaType`, else its shape (an OCI manifest may leave `mediaType` out).
    pub(crate) fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, ManifestError> {
        let raw: Raw =
            serde_json::from_slice(body).map_err(|e| ManifestError::NotJson(e.to_string()))?;
        let named = raw.manifests.iter().flatten();
        let named = named
            .chain(raw.config.iter())
            .chain(raw.layers.iter().flatten());
        if let Some(bad) = named.map(|d| &d.digest).find(|d| !is_checkable_digest(d)) {
            return Err(ManifestError::BadDigest(bad.clone()));
        }
        let kind = content_type
            .map(|c| c.split(';').next().unwrap_or_default().trim().to_owned())
            .filter(|c| c.contains("manifest") || c.contains("index"))
            .or(raw.media_type)
            .unwrap_or_default();
        let is_index = kind.ends_with("image.index.v1+json")
            || kind.ends_with("manifest.list.v2+json")
            || (kind.is_empty() && raw.manifests.is_some());
        if is_index {
            return match raw.manifests {
                Some(m) if !m.is_empty() => Ok(Manifest::Index(m)),
                _ => Err(ManifestError::EmptyIndex),
            };
        }
        match raw.config {
            Some(config) => Ok(Manifest::Image {
                config,
                layers: raw.layers.unwrap_or_default(),
            }),
            None => Err(ManifestError::NoConfig(if kind.is_empty() {
                "unknown".to_owned()
            } else {
                kind
            })),
        }
    }
}

/// The index's manifest for `platform`, as containerd picks it: both sides normalised (so
/// `arm64` and `arm64/v8` are one platform); a variant asked for must match; without one, the
/// preferred variant of the architecture (for `arm`, v7 then v6 then v5), else its first entry.
pub(crate) fn choose<'m>(
    manifests: &'m [Descriptor],
    platform: &Platform,
) -> Option<&'m Descriptor> {
    let want = normalised(
        &platform.os,
        &platform.architecture,
        platform.variant.as_deref(),
    );
    let offered = |d: &&Descriptor| {
        d.platform
            .as_ref()
            .map(|p| normalised(&p.os, &p.architecture, p.variant.as_deref()))
    };
    let same_arch = |d: &&'m Descriptor| {
        offered(d).is_some_and(|p| p.os == want.os && p.architecture == want.architecture)
    };
    if want.variant.is_some() {
        return manifests
            .iter()
            .filter(same_arch)
            .find(|d| offered(d).is_some_and(|p| p.variant == want.variant));
    }
    let preference: &[&str] = if want.architecture == "arm" {
        &["v7", "v6", "v5"]
    } else {
        &[]
    };
    preference
        .iter()
        .find_map(|v| {
            manifests
                .iter()
                .filter(same_arch)
                .find(|d| offered(d).is_some_and(|p| p.variant.as_deref() == Some(v)))
        })
        .or_else(|| manifests.iter().find(same_arch))
}

/// The platforms an index offers, for a message.
pub(crate) fn offered(manifests: &[Descriptor]) -> String {
    let list: Vec<String> = manifests
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .map(|p| match &p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect();
    if list.is_empty() {
        "none named".to_owned()
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
      "manifests":[
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":10,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":10,"platform":{"os":"linux","architecture":"amd64"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","size":10,"platform":{"os":"linux","architecture":"arm","variant":"v6"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd","size":10,"platform":{"os":"linux","architecture":"arm","variant":"v7"}}]}"#;

    #[test]
    fn an_index_resolves_to_the_platform_asked() {
        let Manifest::Index(m) = Manifest::parse(None, INDEX.as_bytes()).unwrap() else {
            panic!("an index")
        };
        let pick = |p: &str| {
            choose(&m, &Platform::parse("--platform", p).unwrap()).map(|d| &d.digest[7..8])
        };
        assert_eq!(&choose(&m, &Platform::default()).unwrap().digest[7..8], "b");
        assert_eq!(pick("linux/x86_64"), Some("b"));
        assert_eq!(pick("linux/arm64"), Some("a"));
        assert_eq!(pick("linux/aarch64"), Some("a"));
        assert_eq!(pick("linux/arm64/v8"), Some("a"));
        assert_eq!(pick("linux/arm64/v7"), None);
        assert_eq!(pick("linux/arm"), Some("d"), "v7 first, as Docker prefers");
        assert_eq!(pick("linux/arm/v6"), Some("c"));
        assert_eq!(pick("windows/amd64"), None);
        assert_eq!(
            offered(&m),
            "linux/arm64/v8, linux/amd64, linux/arm/v6, linux/arm/v7"
        );
    }

    #[test]
    fn an_image_manifest_names_its_blobs() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let body = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{}","size":5}},
            "layers":[{{"mediaType":"l","digest":"{}","size":9}},{{"mediaType":"l","digest":"{}","size":3}}]}}"#,
            d('c'),
            d('1'),
            d('2')
        );
        let body = body.as_bytes();
        let m = Manifest::parse(
            Some("application/vnd.docker.distribution.manifest.v2+json"),
            body,
        )
        .unwrap();
        let Manifest::Image { config, layers } = m else {
            panic!("an image")
        };
        assert_eq!((config.digest, layers.len()), (d('c'), 2));
        assert!(Manifest::parse(None, b"{}").is_err());
        assert!(Manifest::parse(None, b"not json").is_err());
        let unknown = br#"{"config":{"digest":"md5:abc","size":1},"layers":[]}"#;
        assert_eq!(
            Manifest::parse(None, unknown),
            Err(ManifestError::BadDigest("md5:abc".into()))
        );
        let sizeless = format!(r#"{{"config":{{"digest":"{}"}}}}"#, d('c'));
        assert!(Manifest::parse(None, sizeless.as_bytes()).is_err());
    }

    #[test]
    fn platforms_are_checked() {
        assert_eq!(
            Platform::parse("--platform", "linux/arm64/v8")
                .unwrap()
                .to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("--platform", "linux/x86_64")
                .unwrap()
                .to_string(),
            "linux/amd64"
        );
        for bad in [
            "linux",
            "Linux/amd64",
            "linux/amd64/v8/x",
            "linux//amd64",
            "",
        ] {
            assert_eq!(
                Platform::parse("--platform", bad).unwrap_err().field,
                "--platform"
            );
        }
    }
}
