//! The pull after the first manifest, as `docker pull` makes it for one platform: for an index,
//! the platform's manifest (checked against its digest); then the config blob and the smallest
//! layer, each through ECR's redirect to S3 and checked against its digest. At most 3 more
//! registry requests and 2 downloads: one blob of each kind proves the permission and the
//! path to S3 as well as all of them would.

use super::{explain, Asked, Blame, ImageRef};
use crate::aws::registry::manifest::{
    choose, offered, Descriptor, Manifest, ManifestError, Platform,
};
use crate::aws::registry::{Answer, BlobFetch, BlobOutcome, Credential, Registry};
use crate::config::Rollout;

/// Why the pull failed after the first manifest.
#[derive(Debug, thiserror::Error)]
pub(super) enum PullError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("the image index has no {platform} manifest (it offers {offered}): pass --platform")]
    NoPlatform { platform: Platform, offered: String },
    #[error("the {platform} manifest {digest}: {cause}")]
    PlatformManifest {
        platform: Platform,
        digest: String,
        cause: String,
    },
    #[error("{kind} blob {digest}: {cause}")]
    Blob {
        kind: &'static str,
        digest: String,
        cause: String,
    },
}

/// What to pull: the image, the platform an index resolves to, and the largest blob downloaded.
#[derive(Debug, Clone)]
pub(crate) struct PullSpec {
    pub(crate) image: ImageRef,
    pub(crate) platform: Platform,
    /// A blob larger than this is not downloaded: only its request and redirect are checked.
    pub(crate) max_blob_bytes: u64,
}

/// One pull's context, after the first manifest was served.
pub(super) struct Pull<'a> {
    pub(crate) registry: &'a Registry,
    pub(crate) base: &'a str,
    pub(crate) name: &'a str,
    pub(crate) credential: &'a Credential,
    pub(crate) spec: &'a PullSpec,
    pub(crate) rollout: &'a Rollout,
    pub(crate) blame: &'a Blame,
}

/// What the rest of the pull got, and why it stopped if it did.
#[derive(Debug, Default)]
pub(super) struct Fetched {
    pub(crate) blobs: u32,
    pub(crate) bytes: u64,
    pub(crate) note: Option<String>,
    pub(crate) failure: Option<String>,
}

impl Pull<'_> {
    /// Resolves the manifest to the platform's image and fetches its config and smallest layer.
    pub(super) async fn rest(&self, first: Answer) -> Fetched {
        let mut got = Fetched::default();
        let mut notes = Vec::new();
        let image = match self.image_manifest(first, &mut notes).await {
            Ok(image) => image,
            Err(why) => {
                got.failure = Some(why.to_string());
                return got;
            }
        };
        let (config, layers) = image;
        let smallest = layers.iter().min_by_key(|l| l.size);
        let blobs = std::iter::once(("config", &config)).chain(smallest.map(|l| ("layer", l)));
        for (kind, d) in blobs {
            if let Err(why) = self.blob(kind, d, &mut got, &mut notes).await {
                got.failure = Some(why.to_string());
                break;
            }
        }
        if smallest.is_none() {
            notes.push("the image has no layers".to_owned());
        }
        got.note = (!notes.is_empty()).then(|| notes.join("; "));
        got
    }

    /// The image manifest's config and layers: the first manifest itself, or for an index the
    /// platform's manifest, fetched by digest and checked against it.
    async fn image_manifest(
        &self,
        first: Answer,
        notes: &mut Vec<String>,
    ) -> Result<(Descriptor, Vec<Descriptor>), PullError> {
        let platform = &self.spec.platform;
        let manifests = match Manifest::parse(first.media_type.as_deref(), &first.body)? {
            Manifest::Image { config, layers } => return Ok((config, layers)),
            Manifest::Index(manifests) => manifests,
        };
        let Some(chosen) = choose(&manifests, platform) else {
            return Err(PullError::NoPlatform {
                platform: platform.clone(),
                offered: offered(&manifests),
            });
        };
        notes.push(format!("{platform} manifest {}", chosen.digest));
        let failed = |cause: String| PullError::PlatformManifest {
            platform: platform.clone(),
            digest: chosen.digest.clone(),
            cause,
        };
        let answer = self
            .registry
            .manifest(self.base, self.name, &chosen.digest, self.credential)
            .await
            .map_err(|e| failed(e.to_string()))?;
        if answer.status != 200 {
            return Err(failed(self.explain(&answer, Asked::Manifest)));
        }
        let got = digest_of(&chosen.digest, &answer.body);
        if got != chosen.digest {
            return Err(failed(format!(
                "digest mismatch: its {} bytes hash to {got}",
                answer.body.len()
            )));
        }
        match Manifest::parse(answer.media_type.as_deref(), &answer.body)? {
            Manifest::Image { config, layers } => Ok((config, layers)),
            // An index within an index: rare, and not what a platform's pull resolves to.
            Manifest::Index(_) => Err(failed(
                "an image index again, where a platform's image manifest was expected".to_owned(),
            )),
        }
    }

    /// Fetches one blob and counts it; `Err` says why the pull fails there.
    async fn blob(
        &self,
        kind: &'static str,
        d: &Descriptor,
        got: &mut Fetched,
        notes: &mut Vec<String>,
    ) -> Result<(), PullError> {
        let max = self.spec.max_blob_bytes;
        let fetch = BlobFetch {
            base: self.base,
            name: self.name,
            digest: &d.digest,
            size: d.size,
            download: d.size <= max,
            credential: self.credential,
        };
        let failed = |cause: String| PullError::Blob {
            kind,
            digest: d.digest.clone(),
            cause,
        };
        let outcome = self
            .registry
            .blob(&fetch)
            .await
            .map_err(|e| failed(e.to_string()))?;
        match outcome {
            BlobOutcome::Verified { bytes, .. } => {
                got.blobs += 1;
                got.bytes += bytes;
                Ok(())
            }
            BlobOutcome::NotDownloaded { storage } => {
                let via = storage.map_or("served by the registry".to_owned(), |host| {
                    format!("redirected to {host}")
                });
                notes.push(format!(
                    "{kind} blob {} of {} MiB not downloaded (over --max-blob-mib {}): request checked, {via}",
                    d.digest,
                    d.size.div_ceil(1024 * 1024),
                    max / (1024 * 1024)
                ));
                Ok(())
            }
            BlobOutcome::Refused(answer) => Err(failed(self.explain(&answer, Asked::Blob))),
            BlobOutcome::StorageRefused {
                host,
                s3,
                status,
                code,
                message,
            } => Err(failed(format!(
                "{} refused the download ECR redirected to: HTTP {status} {code}: {message}",
                store(&host, s3)
            ))),
            BlobOutcome::StorageUnreachable { host, s3, cause } => Err(failed(format!(
                "{} is unreachable from this network{}: {cause}",
                store(&host, s3),
                if s3 {
                    " (ECR serves blobs from S3 through a presigned URL; from private subnets that takes a VPC gateway endpoint for S3 and a route to it)"
                } else {
                    ""
                }
            ))),
            BlobOutcome::BrokeOff { host, bytes, cause } => Err(failed(format!(
                "the download from {} broke off after {bytes} bytes: {cause}",
                host.unwrap_or_else(|| "the registry".to_owned())
            ))),
            BlobOutcome::Mismatch { bytes, got } => Err(failed(format!(
                "digest mismatch: the {bytes} bytes downloaded hash to {got}"
            ))),
            BlobOutcome::TooLong { size } => Err(failed(format!(
                "more bytes came than the manifest's {size}: the image or the cache is corrupt"
            ))),
        }
    }

    fn explain(&self, answer: &Answer, asked: Asked) -> String {
        explain(answer, asked, &self.spec.image, self.rollout, self.blame)
    }
}

/// How the place a blob was redirected to is named: S3, or whatever store it is.
fn store(host: &str, s3: bool) -> String {
    if s3 {
        format!("the S3 endpoint {host}")
    } else {
        format!("the blob store {host} ECR redirected to")
    }
}

/// A body's digest in the algorithm `like` names (sha256 or sha512), as a registry writes it.
fn digest_of(like: &str, body: &[u8]) -> String {
    use sha2::{Digest, Sha256, Sha512};
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    if like.starts_with("sha512:") {
        format!("sha512:{}", hex(&Sha512::digest(body)))
    } else {
        format!("sha256:{}", hex(&Sha256::digest(body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_is_named_for_what_it_is() {
        assert!(store("127.0.0.1", false).starts_with("the blob store 127.0.0.1"));
        assert_eq!(
            store("b.s3.amazonaws.com", true),
            "the S3 endpoint b.s3.amazonaws.com"
        );
    }
}
