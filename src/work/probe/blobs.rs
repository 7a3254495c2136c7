//! The pull after the first manifest, as `docker pull` makes it for one platform: for an index,
//! the platform's manifest (checked against its digest); then the config blob and the smallest
//! layer, each through ECR's redirect to S3 and checked against its digest. At most 3 more
//! registry requests and 2 downloads: one blob of each kind proves the permission and the
//! path to S3 as well as all of them would.

use super::{explain, Blame, ImageRef};
use crate::registry::manifest::{choose, offered, Descriptor, Manifest, Platform};
use crate::registry::{Answer, BlobFetch, BlobOutcome, Credential, Registry};
use crate::rollout::Rollout;

/// What to pull: the image, the platform an index resolves to, and the largest blob downloaded.
#[derive(Debug, Clone)]
pub struct PullSpec {
    pub image: ImageRef,
    pub platform: Platform,
    /// A blob larger than this is not downloaded: only its request and redirect are checked.
    pub max_blob_bytes: u64,
}

/// One pull's context, after the first manifest was served.
pub(super) struct Pull<'a> {
    pub registry: &'a Registry,
    pub base: &'a str,
    pub name: &'a str,
    pub credential: &'a Credential,
    pub spec: &'a PullSpec,
    pub rollout: &'a Rollout,
    pub blame: &'a Blame,
}

/// What the rest of the pull got, and why it stopped if it did.
#[derive(Debug, Default)]
pub(super) struct Fetched {
    pub blobs: u32,
    pub bytes: u64,
    pub note: Option<String>,
    pub failure: Option<String>,
}

impl Pull<'_> {
    /// Resolves the manifest to the platform's image and fetches its config and smallest layer.
    pub async fn rest(&self, first: Answer) -> Fetched {
        let mut got = Fetched::default();
        let mut notes = Vec::new();
        let image = match self.image_manifest(first, &mut notes).await {
            Ok(image) => image,
            Err(why) => {
                got.failure = Some(why);
                return got;
            }
        };
        let (config, layers) = image;
        let smallest = layers.iter().min_by_key(|l| l.size);
        let blobs = std::iter::once(("config", &config)).chain(smallest.map(|l| ("layer", l)));
        for (kind, d) in blobs {
            if let Err(why) = self.blob(kind, d, &mut got, &mut notes).await {
                got.failure = Some(why);
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
    ) -> Result<(Descriptor, Vec<Descriptor>), String> {
        let platform = &self.spec.platform;
        let manifests = match Manifest::parse(first.media_type.as_deref(), &first.body)? {
            Manifest::Image { config, layers } => return Ok((config, layers)),
            Manifest::Index(manifests) => manifests,
        };
        let Some(chosen) = choose(&manifests, platform) else {
            return Err(format!(
                "the image index has no {platform} manifest (it offers {}): pass --platform",
                offered(&manifests)
            ));
        };
        notes.push(format!("{platform} manifest {}", chosen.digest));
        let answer = self
            .registry
            .manifest(self.base, self.name, &chosen.digest, self.credential)
            .await
            .map_err(|e| format!("the {platform} manifest: {e}"))?;
        if answer.status != 200 {
            return Err(format!(
                "the {platform} manifest {}: {}",
                chosen.digest,
                self.explain(&answer)
            ));
        }
        let got = sha256_digest(&answer.body);
        if chosen.digest.starts_with("sha256:") && got != chosen.digest {
            return Err(format!(
                "the {platform} manifest {}: digest mismatch: its {} bytes hash to {got}",
                chosen.digest,
                answer.body.len()
            ));
        }
        match Manifest::parse(answer.media_type.as_deref(), &answer.body)? {
            Manifest::Image { config, layers } => Ok((config, layers)),
            Manifest::Index(_) => Err(format!(
                "the {platform} manifest {} is itself an index, which docker pull does not follow",
                chosen.digest
            )),
        }
    }

    /// Fetches one blob and counts it; `Err` says why the pull fails there.
    async fn blob(
        &self,
        kind: &str,
        d: &Descriptor,
        got: &mut Fetched,
        notes: &mut Vec<String>,
    ) -> Result<(), String> {
        let max = self.spec.max_blob_bytes;
        let fetch = BlobFetch {
            base: self.base,
            name: self.name,
            digest: &d.digest,
            size: d.size,
            download: d.size <= max,
            credential: self.credential,
        };
        let what = format!("{kind} blob {}", d.digest);
        let outcome = self
            .registry
            .blob(&fetch)
            .await
            .map_err(|e| format!("{what}: {e}"))?;
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
                    "{what} of {} MiB not downloaded (over --max-blob-mib {}): request checked, {via}",
                    d.size.div_ceil(1024 * 1024),
                    max / (1024 * 1024)
                ));
                Ok(())
            }
            BlobOutcome::Refused(answer) => Err(format!("{what}: {}", self.explain(&answer))),
            BlobOutcome::StorageRefused {
                host,
                status,
                code,
                message,
            } => Err(format!(
                "{what}: S3 at {host} refused the download ECR redirected to: HTTP {status} {code}: {message}"
            )),
            BlobOutcome::StorageUnreachable { host, cause } => Err(format!(
                "{what}: the S3 endpoint {host} is unreachable from this network (ECR serves blobs from S3 through a presigned URL; from private subnets that takes a VPC gateway endpoint for S3 and a route to it): {cause}"
            )),
            BlobOutcome::Mismatch { bytes, got } => Err(format!(
                "{what}: digest mismatch: the {bytes} bytes downloaded hash to {got}"
            )),
        }
    }

    fn explain(&self, answer: &Answer) -> String {
        explain(answer, &self.spec.image, self.rollout, self.blame)
    }
}

/// `sha256:hex` of a body, as a registry writes a digest.
fn sha256_digest(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(body);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}
