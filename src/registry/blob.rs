//! A blob as `docker pull` fetches it: `GET {base}/v2/NAME/blobs/DIGEST` with the registry
//! credential, which ECR answers with a 307 to a presigned S3 URL (authorised by
//! `ecr:GetDownloadUrlForLayer`); the download then goes to S3 **without** the registry's
//! `Authorization` header, since S3 refuses a request signed two ways. The bytes are streamed
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
pub struct BlobFetch<'a> {
    /// The registry's base URL (`proxyEndpoint`).
    pub base: &'a str,
    /// The repository's name in the registry.
    pub name: &'a str,
    /// `sha256:...` (or `sha512:...`), from the manifest.
    pub digest: &'a str,
    /// The size the manifest gives: more bytes than this are not read.
    pub size: u64,
    /// `false`: only the registry's request and its redirect are checked (a blob too large to
    /// download in a probe).
    pub download: bool,
    pub credential: &'a Credential,
}

/// What came of a blob request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobOutcome {
    /// Downloaded and its digest checked; `storage` is the host the registry redirected to.
    Verified { bytes: u64, storage: Option<String> },
    /// Not downloaded (`download: false`); the registry answered with a redirect to `storage`,
    /// or served the blob itself (`None`).
    NotDownloaded { storage: Option<String> },
    /// The registry refused the blob request.
    Refused(Answer),
    /// The storage the registry redirected to refused the download (S3's status, code and
    /// message).
    StorageRefused {
        host: String,
        status: u16,
        code: String,
        message: String,
    },
    /// The storage the registry redirected to could not be reached.
    StorageUnreachable { host: String, cause: String },
    /// The bytes do not hash to the digest (or there are more of them than the manifest says).
    Mismatch { bytes: u64, got: String },
}

impl Registry {
    /// Fetches one blob as `docker pull` does, following the registry's redirect without its
    /// credential. `Err` only when the registry itself gave no answer.
    pub async fn blob(&self, f: &BlobFetch<'_>) -> Result<BlobOutcome, TransportError> {
        let url = format!(
            "{}/v2/{}/blobs/{}",
            f.base.trim_end_matches('/'),
            f.name,
            f.digest
        );
        let started = Instant::now();
        let rsp = self
            .respond(get(checked_uri(&url)?, Some(f.credential)), &url)
            .await?;
        let status = rsp.status();
        if status.is_redirection() {
            let Some(target) = location(&url, &rsp) else {
                return Ok(BlobOutcome::Refused(Answer {
                    status: status.as_u16(),
                    error: Some(super::RegistryError {
                        code: String::new(),
                        message: "a redirect without a usable Location".to_owned(),
                    }),
                    ..Answer::default()
                }));
            };
            let host = target.host_str().unwrap_or_default().to_owned();
            if !f.download {
                return Ok(BlobOutcome::NotDownloaded {
                    storage: Some(host),
                });
            }
            return Ok(self.download_from(f, target.as_str(), host).await);
        }
        if status.is_success() {
            if !f.download {
                return Ok(BlobOutcome::NotDownloaded { storage: None });
            }
            return match self.verify(f, rsp.into_body()).await {
                Ok(outcome) => Ok(outcome),
                Err(cause) => Err(TransportError::Unreachable { url, cause }),
            };
        }
        let (parts, body) = rsp.into_parts();
        let body = self.small_body(body).await;
        Ok(BlobOutcome::Refused(answer(parts, body, started)))
    }

    /// The download from where the registry redirected: no credential, the digest checked.
    async fn download_from(&self, f: &BlobFetch<'_>, target: &str, host: String) -> BlobOutcome {
        let unreachable = |cause: String| BlobOutcome::StorageUnreachable {
            host: host.clone(),
            cause,
        };
        let uri = match checked_uri(target) {
            Ok(uri) => uri,
            Err(e) => return unreachable(e.to_string()),
        };
        let rsp = match self.respond(get(uri, None), target).await {
            Ok(rsp) => rsp,
            Err(TransportError::Unreachable { cause, .. }) => return unreachable(cause),
            Err(e) => return unreachable(e.to_string()),
        };
        if !rsp.status().is_success() {
            let status = rsp.status().as_u16();
            let body = self.small_body(rsp.into_body()).await;
            let text = String::from_utf8_lossy(&body);
            return BlobOutcome::StorageRefused {
                host,
                status,
                code: xml_element(&text, "Code").unwrap_or_default(),
                message: xml_element(&text, "Message").unwrap_or_default(),
            };
        }
        match self.verify(f, rsp.into_body()).await {
            Ok(BlobOutcome::Verified { bytes, .. }) => BlobOutcome::Verified {
                bytes,
                storage: Some(host),
            },
            Ok(other) => other,
            Err(cause) => unreachable(cause),
        }
    }

    /// Sends a request and waits for the answer's head within the timeout.
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
                cause: crate::error::causes(&e),
            }),
            Ok(Ok(rsp)) => Ok(rsp),
        }
    }

    /// Streams the body into the digest's hash; at most `f.size` bytes are read. A body that
    /// stalls for the timeout is cut off (`Err` with the cause).
    async fn verify(&self, f: &BlobFetch<'_>, mut body: Incoming) -> Result<BlobOutcome, String> {
        let mut hash = Hasher::for_digest(f.digest);
        let mut bytes = 0u64;
        loop {
            let frame = match tokio::time::timeout(self.timeout, body.frame()).await {
                Err(_) => return Err(stalled(self.timeout, bytes)),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(crate::error::causes(&e)),
                Ok(Some(Ok(frame))) => frame,
            };
            if let Some(data) = frame.data_ref() {
                bytes += data.len() as u64;
                if bytes > f.size {
                    return Ok(BlobOutcome::Mismatch {
                        bytes,
                        got: format!("more than the manifest's {} bytes", f.size),
                    });
                }
                hash.update(data);
            }
        }
        let got = hash.finish();
        Ok(if got == f.digest {
            BlobOutcome::Verified {
                bytes,
                storage: None,
            }
        } else {
            BlobOutcome::Mismatch { bytes, got }
        })
    }

    /// An error answer's body, at most [`ERROR_BODY_LIMIT`] bytes (empty if it cannot be read).
    async fn small_body(&self, body: Incoming) -> Bytes {
        let read = http_body_util::Limited::new(body, ERROR_BODY_LIMIT).collect();
        match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            _ => Bytes::new(),
        }
    }
}

fn stalled(timeout: Duration, bytes: u64) -> String {
    format!(
        "the download stalled for {} s after {bytes} bytes",
        timeout.as_secs()
    )
}

/// The redirect's target, resolved against the request's URL (a relative `Location` is legal).
fn location(url: &str, rsp: &http::Response<Incoming>) -> Option<url::Url> {
    let raw = rsp.headers().get(LOCATION)?.to_str().ok()?;
    url::Url::parse(url).ok()?.join(raw).ok()
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
