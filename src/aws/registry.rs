//! The registry HTTP API v2 (the OCI distribution spec), as much of it as `docker pull` uses:
//! an image's manifest with ECR's registry credential (the request that makes ECR create the
//! cached repository and import the image), then blobs, which ECR answers with a redirect to a
//! presigned S3 URL ([`blob`]).
//!
//! It runs over the hyper and rustls stack the AWS SDK already brings in. The base URL is the
//! `proxyEndpoint` ECR returns, used as given (scheme, host, port and any path).

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

mod blob;
pub(crate) mod manifest;
pub(crate) use blob::{BlobFetch, BlobOutcome};

/// The most of a manifest read: OCI's own limit for a manifest a registry must accept.
const MANIFEST_LIMIT: usize = 4 * 1024 * 1024;

/// The manifest types `docker pull` accepts, multi-platform indexes first.
const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// ECR's registry credential: a secret like the GitLab token. No `Display`, a redacted `Debug`,
/// and the only way out is the Authorization header.
#[derive(Clone)]
pub(crate) struct Credential {
    basic: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(<redacted>)")
    }
}

impl Credential {
    /// From GetAuthorizationToken's `authorizationToken`: base64 of `AWS:<password>`, which is
    /// already the value of a Basic Authorization header.
    pub(crate) fn from_ecr_token(token: &str) -> Option<Self> {
        let decoded = aws_smithy_types::base64::decode(token).ok()?;
        let text = std::str::from_utf8(&decoded).ok()?;
        text.split_once(':')
            .filter(|(user, pass)| !user.is_empty() && !pass.is_empty())
            .map(|_| Credential {
                basic: format!("Basic {token}"),
            })
    }
}

/// A registry's answer to a manifest request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// `Docker-Content-Digest`, on success.
    pub(crate) digest: Option<String>,
    /// The first error of the registry's error body (`{"errors": [{"code", "message"}]}`).
    pub(crate) error: Option<RegistryError>,
    pub(crate) elapsed: Duration,
    /// `Content-Type`, on success: which kind of manifest the body is.
    pub(crate) media_type: Option<String>,
    /// The manifest, on success.
    pub(crate) body: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct RegistryError {
    #[serde(default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) message: String,
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<RegistryError>,
}

/// Why no answer came back at all.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransportError {
    #[error("{0} is not a URL a registry can be reached at")]
    BadUrl(String),
    #[error("{0} is plain HTTP to a host off this machine; the registry credential goes only over HTTPS (or to loopback)")]
    Insecure(String),
    #[error("no answer from {url} within {} s", timeout.as_secs())]
    Timeout { url: String, timeout: Duration },
    #[error("cannot reach {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("the answer from {url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
}

/// A client for registries, shared by every target of a run (it pools connections).
#[derive(Clone)]
pub(crate) struct Registry {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Registry {
    /// `timeout` bounds one request, answer included.
    pub(crate) fn new(timeout: Duration) -> Self {
        let connector = crate::http::connector();
        Registry {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        }
    }

    /// `GET {base}/v2/{name}/manifests/{reference}` with the credential and the manifest types
    /// `docker pull` accepts.
    pub(crate) async fn manifest(
        &self,
        base: &str,
        name: &str,
        reference: &str,
        credential: &Credential,
    ) -> Result<Answer, TransportError> {
        let url = format!(
            "{}/v2/{name}/manifests/{reference}",
            base.trim_end_matches('/')
        );
        let request = manifest_request(checked_uri(&url)?, credential);
        let started = Instant::now();
        let (parts, body) = self.exchange(request, url).await?;
        Ok(answer(parts, body, started))
    }

    /// Sends the request and reads the whole answer (at most [`MANIFEST_LIMIT`] bytes) within
    /// the timeout, naming `url` on failure.
    async fn exchange(
        &self,
        request: Request<Empty<Bytes>>,
        url: String,
    ) -> Result<(http::response::Parts, Bytes), TransportError> {
        let exchange = async {
            let response = self.client.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, MANIFEST_LIMIT)
                .collect()
                .await?
                .to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((parts, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Err(TransportError::Timeout {
                url,
                timeout: self.timeout,
            }),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                Err(TransportError::TooLarge {
                    url,
                    limit: MANIFEST_LIMIT,
                })
            }
            Ok(Err(e)) => Err(TransportError::Unreachable {
                url,
                cause: crate::aws::error::causes(e.as_ref()),
            }),
            Ok(Ok(answer)) => Ok(answer),
        }
    }
}

/// The URL as a URI, refused unless the credential would go over HTTPS or stay on this machine.
fn checked_uri(url: &str) -> Result<http::Uri, TransportError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| TransportError::BadUrl(url.to_owned()))?;
    let host = uri.host().unwrap_or_default();
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(uri),
        Some("http") if crate::http::is_loopback(host) => Ok(uri),
        Some("http") if !host.is_empty() => Err(TransportError::Insecure(url.to_owned())),
        _ => Err(TransportError::BadUrl(url.to_owned())),
    }
}

/// The request `docker pull` makes first: every manifest type it accepts, with the credential.
fn manifest_request(uri: http::Uri, credential: &Credential) -> Request<Empty<Bytes>> {
    let mut request = get(uri, Some(credential));
    request.headers_mut().insert(
        ACCEPT,
        http::HeaderValue::from_str(&MANIFEST_TYPES.join(", ")).expect("valid header"),
    );
    request
}

/// A GET with the User-Agent and, for the registry only, the credential: never to S3, which
/// refuses a presigned URL's request that carries a second way to sign in.
fn get(uri: http::Uri, credential: Option<&Credential>) -> Request<Empty<Bytes>> {
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header(http::header::USER_AGENT, crate::http::USER_AGENT);
    if let Some(c) = credential {
        request = request.header(AUTHORIZATION, &c.basic);
    }
    request.body(Empty::<Bytes>::new()).expect("valid request")
}

/// The digest and manifest on success; on failure the registry's first error, or the status's
/// reason when the body is not the registry's JSON.
fn answer(parts: http::response::Parts, body: Bytes, started: Instant) -> Answer {
    let status = parts.status.as_u16();
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let digest = header("docker-content-digest");
    let media_type = header(CONTENT_TYPE.as_str());
    let error = error_of(&parts, &body);
    let ok = error.is_none();
    Answer {
        status,
        digest: digest.filter(|_| ok),
        error,
        elapsed: started.elapsed(),
        media_type: media_type.filter(|_| ok),
        body: if ok { body } else { Bytes::new() },
    }
}

/// A failed answer's first registry error, or the status's reason when the body is not the
/// registry's JSON; `None` below 400.
fn error_of(parts: &http::response::Parts, body: &[u8]) -> Option<RegistryError> {
    let status = parts.status.as_u16();
    let is_json = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    (status >= 400).then(|| {
        is_json
            .then(|| serde_json::from_slice::<Errors>(body).ok())
            .flatten()
            .and_then(|e| e.errors.into_iter().next())
            .unwrap_or_else(|| RegistryError {
                code: String::new(),
                message: parts
                    .status
                    .canonical_reason()
                    .unwrap_or("error")
                    .to_owned(),
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_never_shows() {
        let token = aws_smithy_types::base64::encode("AWS:sekrit-password");
        let c = Credential::from_ecr_token(&token).unwrap();
        assert_eq!(format!("{c:?}"), "Credential(<redacted>)");
        assert!(Credential::from_ecr_token("not base64!").is_none());
        assert!(Credential::from_ecr_token(&aws_smithy_types::base64::encode("nocolon")).is_none());
    }

    #[tokio::test]
    async fn an_unreachable_registry_is_a_transport_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let c = Credential::from_ecr_token(&aws_smithy_types::base64::encode("AWS:x")).unwrap();
        let r = Registry::new(Duration::from_secs(5));
        let e = r
            .manifest(&format!("http://127.0.0.1:{port}/base"), "a/b", "1.0", &c)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("cannot reach"), "{e}");
        assert!(matches!(
            r.manifest("ftp://x", "a", "b", &c).await,
            Err(TransportError::BadUrl(_))
        ));
        assert!(matches!(
            r.manifest("http://registry.example.com", "a", "b", &c)
                .await,
            Err(TransportError::Insecure(_))
        ));
    }
}
