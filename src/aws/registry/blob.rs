//! A blob as `docker pull` fetches it: `GET {base}/v2/NAME/blobs/DIGEST` with the registry
//! credential, which ECR answers with a 307 to a presigned S3 URL (authorised by
//! `ecr:GetDownloadUrlForLayer`); the download then goes to S3 **without** the registry's
//! `Authorization` header, since S3 refuses a request signed two ways (S3's 400 InvalidArgument
//! "Only one auth mechanism allowed"). ECR's user guide says the layers are served from S3,
//! which is why private subnets need its S3 gateway endpoint ("Amazon ECR interface VPC
//! endpoints"), and that a pull needs `ecr:GetDownloadUrlForLayer`. The bytes are streamed
//! into their digest's hash, never held whole.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::LOCATION;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use sha2::{Digest, Sha256, Sha512};

use super::{answer, checked_uri, get, Answer, Credential, Registry, TransportError};

/// The most of an error body read (S3's XML, the registry's JSON).
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// One blob to fetch.
pub(crate) struct BlobFetch<'a> {
    /// The registry's base URL (`proxyEndpoint`).
    pub(crate) base: &'a str,
    /// The repository's name in the registry.
    pub(crate) name: &'a str,
    /// `sha256:...` (or `sha512:...`), from the manifest.
    pub(crate) digest: &'a str,
    /// The size the manifest gives: more bytes than this are not read.
    pub(crate) size: u64,
    /// `false`: only the registry's request and its redirect are checked (a blob too large to
    /// download in a probe).
    pub(crate) download: bool,
    pub(crate) credential: &'a Credential,
}

/// What came of a blob request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlobOutcome {
    /// Downloaded and its digest checked; `storage` is the host the registry redirected to.
    Verified { bytes: u64, storage: Option<String> },
    /// Not downloaded (`download: false`); the registry answered with a redirect to `storage`,
    /// or served the blob itself (`None`).
    NotDownloaded { storage: Option<String> },
    /// The registry refused the blob request.
    Refused(Answer),
    /// The storage the registry redirected to refused the download (its status, and S3's code
    /// and message when it is S3).
    StorageRefused {
        host: String,
        s3: bool,
        status: u16,
        code: String,
        message: String,
    },
    /// The storage the registry redirected to could not be reached at all.
    StorageUnreachable {
        host: String,
        s3: bool,
        cause: String,
    },
    /// The download started, then broke off (a stall, a reset); `host` is `None` when the
    /// registry served the blob itself.
    BrokeOff {
        host: Option<String>,
        bytes: u64,
        cause: String,
    },
    /// The bytes do not hash to the digest.
    Mismatch { bytes: u64, got: String },
    /// More bytes came than the manifest says the blob has.
    TooLong { size: u64 },
}

/// Redirects followed for one blob, as Docker bounds them.
const MAX_REDIRECTS: usize = 10;
/// The slowest download a blob's deadline allows for, past the request timeout: 256 KiB/s.
const FLOOR_BYTES_PER_SEC: u64 = 256 * 1024;

impl Registry {
    /// Fetches one blob as `docker pull` does, following redirects without the registry's
    /// credential: the redirect goes to storage that a presigned URL authorises (S3 refuses a
    /// second way to sign in). `Err` only when the registry itself gave no answer.
    pub(crate) async fn blob(&self, f: &BlobFetch<'_>) -> Result<BlobOutcome, TransportError> {
        let url = format!(
            "{}/v2/{}/blobs/{}",
            f.base.trim_end_matches('/'),
            f.name,
            f.digest
        );
        let registry = url::Url::parse(&url).map_err(|_| TransportError::BadUrl(url.clone()))?;
        let started = Instant::now();
        let rsp = self
            .respond(get(checked_uri(&url)?, Some(f.credential)), &url)
            .await?;
        let status = rsp.status();
        if status.is_redirection() {
            let target = location(&registry, &rsp);
            drop(self.small_body(rsp.into_body()).await);
            let Some(target) = target else {
                return Ok(no_location(status.as_u16()));
            };
            let host = target.host_str().unwrap_or_default().to_owned();
            if !f.download {
                return Ok(BlobOutcome::NotDownloaded {
                    storage: Some(host),
                });
            }
            return Ok(self.download_from(f, target).await);
        }
        if status.is_success() {
            if !f.download {
                drop(rsp);
                return Ok(BlobOutcome::NotDownloaded { storage: None });
            }
            return Ok(self.verify(f, rsp.into_body(), None, started).await);
        }
        let (parts, body) = rsp.into_parts();
        let body = self.small_body(body).await;
        Ok(BlobOutcome::Refused(answer(parts, body, started)))
    }

    /// The download from where the registry redirected, following further redirects, never
    /// with the credential; the digest checked.
    async fn download_from(&self, f: &BlobFetch<'_>, mut target: url::Url) -> BlobOutcome {
        let started = Instant::now();
        for _ in 0..MAX_REDIRECTS {
            let host = target.host_str().unwrap_or_default().to_owned();
            let s3 = is_s3(&target);
            let shown = shown(&target);
            let unreachable = |cause: String| BlobOutcome::StorageUnreachable {
                host: host.clone(),
                s3,
                cause,
            };
            let uri = match checked_uri(target.as_str()) {
                Ok(uri) => uri,
                // The URL's query is a presigned credential: never shown.
                Err(_) => return unreachable(format!("{shown} is not a URL a download can use")),
            };
            let rsp = match self.respond(get(uri, None), &shown).await {
                Ok(rsp) => rsp,
                Err(TransportError::Unreachable { cause, .. }) => return unreachable(cause),
                Err(e) => return unreachable(e.to_string()),
            };
            let status = rsp.status();
            if status.is_redirection() {
                let next = location(&target, &rsp);
                drop(self.small_body(rsp.into_body()).await);
                match next {
                    Some(next) => {
                        target = next;
                        continue;
                    }
                    None => return no_location(status.as_u16()),
                }
            }
            if !status.is_success() {
                let body = self.small_body(rsp.into_body()).await;
                let text = String::from_utf8_lossy(&body);
                return BlobOutcome::StorageRefused {
                    host,
                    s3,
                    status: status.as_u16(),
                    code: xml_element(&text, "Code").unwrap_or_default(),
                    message: xml_element(&text, "Message").unwrap_or_default(),
                };
            }
            return self.verify(f, rsp.into_body(), Some(host), started).await;
        }
        BlobOutcome::StorageUnreachable {
            host: target.host_str().unwrap_or_default().to_owned(),
            s3: is_s3(&target),
            cause: format!("more than {MAX_REDIRECTS} redirects"),
        }
    }

    /// Sends a request and waits for the answer's head within the timeout. `url` names the
    /// request in an error: without a presigned URL's query.
    async fn respond(
        &self,
        request: Request<Empty<Bytes>>,
        url: &str,
    ) -> Result<http::Response<Incoming>, TransportError> {
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Err(_) => Err(TransportError::Timeout {
                url: url.to_owned(),
                timeout: self.timeout,
            }),
            Ok(Err(e)) => Err(TransportError::Unreachable {
                url: url.to_owned(),
                cause: crate::aws::error::causes(&e),
            }),
            Ok(Ok(rsp)) => Ok(rsp),
        }
    }

    /// Streams the body into the digest's hash; at most `f.size` bytes are read. A body that
    /// stalls for the timeout, or outlasts the blob's deadline, is cut off.
    async fn verify(
        &self,
        f: &BlobFetch<'_>,
        mut body: Incoming,
        host: Option<String>,
        started: Instant,
    ) -> BlobOutcome {
        let deadline = self.timeout + Duration::from_secs(f.size / FLOOR_BYTES_PER_SEC);
        let mut hash = Hasher::for_digest(f.digest);
        let mut bytes = 0u64;
        let broke_off = |bytes, cause| BlobOutcome::BrokeOff {
            host: host.clone(),
            bytes,
            cause,
        };
        loop {
            let left = deadline.saturating_sub(started.elapsed());
            let wait = self.timeout.min(left);
            let frame = match tokio::time::timeout(wait, body.frame()).await {
                Err(_) if left <= self.timeout => {
                    return broke_off(bytes, format!("not done within {} s", deadline.as_secs()))
                }
                Err(_) => return broke_off(bytes, stalled(self.timeout, bytes)),
                Ok(None) => break,
                Ok(Some(Err(e))) => return broke_off(bytes, crate::aws::error::causes(&e)),
                Ok(Some(Ok(frame))) => frame,
            };
            if let Some(data) = frame.data_ref() {
                bytes += data.len() as u64;
                if bytes > f.size {
                    return BlobOutcome::TooLong { size: f.size };
                }
                hash.update(data);
            }
        }
        let got = hash.finish();
        if got == f.digest {
            BlobOutcome::Verified {
                bytes,
                storage: host,
            }
        } else {
            BlobOutcome::Mismatch { bytes, got }
        }
    }

    /// An answer's body, at most [`ERROR_BODY_LIMIT`] bytes (empty if it cannot be read).
    async fn small_body(&self, body: Incoming) -> Bytes {
        let read = http_body_util::Limited::new(body, ERROR_BODY_LIMIT).collect();
        match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            _ => Bytes::new(),
        }
    }
}

/// Whether a URL is S3's, where ECR's private registries redirect blobs: an S3 host, or a URL
/// presigned for S3 (SigV4's credential scope names the service), whatever its host.
fn is_s3(url: &url::Url) -> bool {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let s3_host = (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
        && (host.contains(".s3.") || host.contains(".s3-") || host.starts_with("s3."));
    s3_host
        || url
            .query_pairs()
            .any(|(k, v)| k == "X-Amz-Credential" && v.ends_with("/s3/aws4_request"))
}

/// A redirect without a `Location` a client can follow.
fn no_location(status: u16) -> BlobOutcome {
    BlobOutcome::Refused(Answer {
        status,
        error: Some(super::RegistryError {
            code: String::new(),
            message: "a redirect without a usable Location".to_owned(),
        }),
        ..Answer::default()
    })
}

/// A URL as errors show it: scheme, host, port and path. A presigned URL's query is a
/// credential (signature, access key, session token).
fn shown(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

fn stalled(timeout: Duration, bytes: u64) -> String {
    format!(
        "the download stalled for {} s after {bytes} bytes",
        timeout.as_secs()
    )
}

/// The redirect's target, resolved against the request's URL (a relative `Location` is legal).
fn location(base: &url::Url, rsp: &http::Response<Incoming>) -> Option<url::Url> {
    let raw = rsp.headers().get(LOCATION)?.to_str().ok()?;
    base.join(raw).ok()
}

/// The text of the first `<name>` element (S3's error XML), unescaped of XML's five entities.
fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&format!("</{name}>"))?;
    Some(
        text[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// The hash a digest names: sha256 (what registries use) or sha512.
enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    fn for_digest(digest: &str) -> Self {
        if digest.starts_with("sha512:") {
            Hasher::Sha512(Sha512::new())
        } else {
            Hasher::Sha256(Sha256::new())
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// `algorithm:hex`, as a digest is written.
    fn finish(self) -> String {
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        match self {
            Hasher::Sha256(h) => format!("sha256:{}", hex(&h.finalize())),
            Hasher::Sha512(h) => format!("sha512:{}", hex(&h.finalize())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_errors_are_read() {
        let body = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
        assert_eq!(xml_element(body, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(
            xml_element(body, "Message").as_deref(),
            Some("Request has expired")
        );
        assert_eq!(xml_element("<a>&amp;&lt;</a>", "a").as_deref(), Some("&<"));
        assert_eq!(xml_element("nothing", "Code"), None);
    }

    #[test]
    fn s3_is_told_from_other_stores() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(is_s3(&u(
            "https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/k"
        )));
        assert!(is_s3(&u(
            "http://127.0.0.1:9/b/k?X-Amz-Credential=AK%2F20261201%2Fus-east-1%2Fs3%2Faws4_request"
        )));
        assert!(!is_s3(&u("https://d1234.cloudfront.net/k?Signature=x")));
    }

    #[test]
    fn a_presigned_url_is_shown_without_its_query() {
        let u = url::Url::parse("https://b.s3.us-east-1.amazonaws.com/k/sha256?X-Amz-Signature=abc&X-Amz-Credential=AKIA").unwrap();
        assert_eq!(shown(&u), "https://b.s3.us-east-1.amazonaws.com/k/sha256");
    }

    #[test]
    fn digests_are_written_as_registries_do() {
        let mut h = Hasher::for_digest("sha256:x");
        h.update(b"");
        assert_eq!(
            h.finish(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(Hasher::for_digest("sha512:x")
            .finish()
            .starts_with("sha512:"));
    }
}
