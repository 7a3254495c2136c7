//! GitLab's REST API v4, for the token's life: who the registry token is, the group's tokens,
//! minting and revoking them, and the group CI/CD variable that holds the registry token.
//!
//! Typed requests and answers (serde) over ptc-rollout's one HTTP stack ([`crate::http`]):
//! the endpoints, their bodies and pagination in [`endpoints`], GitLab's error shapes in
//! [`error`]. Idempotent requests are retried on 429 and 5xx; nothing is retried on 401 (a
//! refused token stays refused; GitLab.com also bans an address for 15 minutes after 300
//! failed Git or registry logins in one minute), nor a POST, which could mint a second token.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;

use crate::config::secrets::{ApiToken, GitlabToken};

mod endpoints;
mod error;
mod tokens;

use error::Failure;
pub(crate) use error::GitlabError;

pub(crate) use tokens::{
    expiry_date, group_tokens, mint, read_variable, revoke, self_token, store_variable,
    variable_holds, Holds, Stored, TokenInfo,
};

/// Attempts for an idempotent request (GET, PUT, DELETE) that met a 429, a 5xx or no answer.
const ATTEMPTS: u32 = 3;
/// One request's bound, answer included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Which token a client signs in with: it decides what a 401 or 403 means to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    /// The registry token (`upstream.token_env` or `--token-file`).
    Registry,
    /// The API token, from this variable.
    Api(String),
}

/// A GitLab API client signed in with one token.
pub(crate) struct Gitlab {
    base: url::Url,
    header: HeaderValue,
    auth: Auth,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    backoff: Duration,
}

impl fmt::Debug for Gitlab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gitlab")
            .field("base", &self.base.as_str())
            .field("auth", &self.auth)
            .finish()
    }
}

impl Gitlab {
    /// A client signed in with the API token (`gitlab.api_token_env`).
    pub(crate) fn with_api_token(api_url: &url::Url, token: &ApiToken, env: &str) -> Self {
        Self::new(api_url, token.header(), Auth::Api(env.to_owned()))
    }

    /// A client signed in with the registry token itself (`personal_access_tokens/self`).
    pub(crate) fn with_registry_token(api_url: &url::Url, token: &GitlabToken) -> Self {
        Self::new(api_url, token.header(), Auth::Registry)
    }

    fn new(api_url: &url::Url, header: HeaderValue, auth: Auth) -> Self {
        // `Url::join` replaces the last segment unless the base ends with a slash.
        let mut base = api_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Gitlab {
            base,
            header,
            auth,
            client: Client::builder(TokioExecutor::new()).build(crate::http::connector()),
            backoff: Duration::from_millis(500),
        }
    }

    /// Sends one request, retrying only what is safe to repeat.
    async fn send(&self, request: &Request<Bytes>) -> Result<Response<Bytes>, Transport> {
        let idempotent = matches!(
            *request.method(),
            Method::GET | Method::PUT | Method::DELETE
        );
        let mut attempt = 1;
        loop {
            let answer = self.once(request).await;
            let retry_in = match &answer {
                Ok(rsp) => retryable(rsp.status()).then(|| retry_after(rsp)),
                Err(_) => Some(None),
            };
            match retry_in {
                Some(wait) if idempotent && attempt < ATTEMPTS => {
                    let wait = wait.unwrap_or(self.backoff * 2u32.pow(attempt - 1));
                    tracing::info!(method = %request.method(), path = request.uri().path(),
                        attempt, wait_ms = wait.as_millis() as u64, "GitLab: retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => return answer,
            }
        }
    }

    async fn once(&self, request: &Request<Bytes>) -> Result<Response<Bytes>, Transport> {
        let mut copy = Request::new(Full::new(request.body().clone()));
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.headers_mut() = request.headers().clone();
        let exchange = async {
            let response = self.client.request(copy).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Response::from_parts(parts, body))
        };
        let answer = match tokio::time::timeout(TIMEOUT, exchange).await {
            Err(_) => Err(Transport::Timeout(TIMEOUT.as_secs())),
            Ok(Err(e)) => Err(Transport::Unreachable(crate::aws::error::causes(
                e.as_ref(),
            ))),
            Ok(Ok(answer)) => Ok(answer),
        };
        tracing::debug!(method = %request.method(), path = request.uri().path(),
            status = answer.as_ref().map(|r| r.status().as_u16()).unwrap_or(0), "GitLab call");
        answer
    }
}

/// 429 and the 5xx that mean "try again": never 401, 403, 404 or 400.
fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// GitLab's `Retry-After` on a 429, in seconds, bounded so a run cannot hang on it.
fn retry_after(rsp: &Response<Bytes>) -> Option<Duration> {
    rsp.headers()
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(60)))
}

/// No answer from GitLab at all.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Transport {
    #[error("no answer within {0} s")]
    Timeout(u64),
    #[error("cannot reach GitLab: {0}")]
    Unreachable(String),
    #[error("cannot build the request: {0}")]
    Request(String),
}

impl Gitlab {
    /// The API URL of `segments`, each percent-encoded as one path segment (a group's full
    /// path `a/b` travels as `a%2Fb`, as GitLab's API takes it).
    fn url(&self, segments: &[&str]) -> url::Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has a path")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// One request, signed in, with `body` as JSON; GitLab's answer if it is a success.
    async fn call(
        &self,
        method: Method,
        url: &url::Url,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Bytes>, Failure> {
        let mut request = Request::builder()
            .method(method)
            .uri(url.as_str())
            .header("PRIVATE-TOKEN", self.header.clone())
            .header(http::header::USER_AGENT, crate::http::USER_AGENT)
            .header(http::header::ACCEPT, "application/json");
        if body.is_some() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Bytes::from(body.unwrap_or_default()))
            .map_err(|e| Failure::Transport(Transport::Request(e.to_string())))?;
        let answer = self.send(&request).await.map_err(Failure::Transport)?;
        if answer.status().is_success() {
            Ok(answer)
        } else {
            Err(Failure::refused(&answer))
        }
    }

    /// A request whose answer is one JSON document.
    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &url::Url,
        body: Option<Vec<u8>>,
    ) -> Result<T, Failure> {
        decode(self.call(method, url, body).await?.body())
    }
}

/// GitLab's JSON answer as `T`. serde's message is left out: it can quote a value of the
/// answer, and some answers hold a token.
fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| {
        Failure::Unexpected(format!(
            "GitLab's answer is not what its API documents ({} at line {} column {})",
            match e.classify() {
                serde_json::error::Category::Data => "unexpected fields or types",
                serde_json::error::Category::Eof => "cut short",
                _ => "not JSON",
            },
            e.line(),
            e.column()
        ))
    })
}
