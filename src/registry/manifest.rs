//! What a pull needs of a manifest: for an image index (OCI index, Docker manifest list), the
//! manifest of one platform; for an image manifest, its config and layers. Plain data.

use std::fmt;

use serde::Deserialize;

use crate::rollout::Problem;

/// The platform `docker pull` resolves an index to, `OS/ARCH[/VARIANT]` (`--platform`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
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
    /// `--platform`'s value, as Docker writes it: `linux/amd64`, `linux/arm64/v8`.
    pub fn parse(flag: &str, text: &str) -> Result<Self, Problem> {
        let parts: Vec<&str> = text.split('/').collect();
        let word = |s: &&str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        match parts.as_slice() {
            [os, arch, rest @ ..] if rest.len() <= 1 && parts.iter().all(word) => Ok(Platform {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: rest.first().map(|v| (*v).to_owned()),
            }),
            _ => Err(Problem::new(
                flag,
                format!("{text:?} is not a platform"),
                "give OS/ARCH or OS/ARCH/VARIANT in lowercase, as docker pull --platform takes it, e.g. linux/amd64 or linux/arm64/v8",
            )),
        }
    }
}

/// A content descriptor: what a manifest says of another object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<DescribedPlatform>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DescribedPlatform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

/// A manifest, as far as a pull reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
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
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, String> {
        let raw: Raw = serde_json::from_slice(body)
            .map_err(|e| format!("the manifest is not JSON a registry serves ({e})"))?;
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
                _ => Err("the image index lists no manifests".to_owned()),
            };
        }
        match raw.config {
            Some(config) => Ok(Manifest::Image {
                config,
                layers: raw.layers.unwrap_or_default(),
            }),
            None => Err(format!(
                "a manifest of type {} that a pull cannot use (no config)",
                if kind.is_empty() { "unknown" } else { &kind }
            )),
        }
    }
}

/// The index's manifest for `platform`, as Docker picks it: the OS and architecture must match;
/// a variant asked for must match too, and without one the first entry of the architecture is
/// taken.
pub fn choose<'m>(manifests: &'m [Descriptor], platform: &Platform) -> Option<&'m Descriptor> {
    manifests.iter().find(|d| {
        d.platform.as_ref().is_some_and(|p| {
            p.os == platform.os
                && p.architecture == platform.architecture
                && platform
                    .variant
                    .as_ref()
                    .is_none_or(|v| p.variant.as_ref() == Some(v))
        })
    })
}

/// The platforms an index offers, for a message.
pub fn offered(manifests: &[Descriptor]) -> String {
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
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":10,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":10,"platform":{"os":"linux","architecture":"amd64"}}]}"#;

    #[test]
    fn an_index_resolves_to_the_platform_asked() {
        let Manifest::Index(m) = Manifest::parse(None, INDEX.as_bytes()).unwrap() else {
            panic!("an index")
        };
        let pick = |p: &str| {
            choose(&m, &Platform::parse("--platform", p).unwrap()).map(|d| d.digest.as_str())
        };
        assert_eq!(
            choose(&m, &Platform::default()).unwrap().digest,
            "sha256:bb"
        );
        assert_eq!(pick("linux/arm64"), Some("sha256:aa"));
        assert_eq!(pick("linux/arm64/v8"), Some("sha256:aa"));
        assert_eq!(pick("linux/arm64/v7"), None);
        assert_eq!(pick("windows/amd64"), None);
        assert_eq!(offered(&m), "linux/arm64/v8, linux/amd64");
    }

    #[test]
    fn an_image_manifest_names_its_blobs() {
        let body = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:c","size":5},
            "layers":[{"mediaType":"l","digest":"sha256:l1","size":9},{"mediaType":"l","digest":"sha256:l2","size":3}]}"#;
        let m = Manifest::parse(
            Some("application/vnd.docker.distribution.manifest.v2+json"),
            body,
        )
        .unwrap();
        let Manifest::Image { config, layers } = m else {
            panic!("an image")
        };
        assert_eq!((config.digest.as_str(), layers.len()), ("sha256:c", 2));
        assert!(Manifest::parse(None, b"{}").is_err());
        assert!(Manifest::parse(None, b"not json").is_err());
    }

    #[test]
    fn platforms_are_checked() {
        assert_eq!(
            Platform::parse("--platform", "linux/arm64/v8")
                .unwrap()
                .to_string(),
            "linux/arm64/v8"
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
