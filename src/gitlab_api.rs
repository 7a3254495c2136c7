//! GitLab's REST API v4, for the token's life: who the registry token is, the group's tokens,
//! minting and revoking them, and the group CI/CD variable that holds the registry token.
//!
//! The endpoints, their parameters, pagination and GitLab's error shapes come from the
//! maintained `gitlab` crate; requests go over ptc-rollout's one HTTP stack ([`crate::http`])
//! through the crate's `AsyncClient` trait. Idempotent requests are retried on 429 and 5xx;
//! nothing is retried on 401 (a refused token stays refused; GitLab.com also bans an address
//! for 15 minutes after 300 failed Git or registry logins in one minute), nor a POST, which
//! could mint a second token.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use gitlab::api::{ApiError as CrateError, AsyncClient, RestClient};
use http::request::Builder as RequestBuilder;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::token::{ApiToken, GitlabToken};

mod endpoints;
mod tokens;

pub use tokens::{
    expiry_date, group_tokens, mint, read_variable, revoke, self_token, store_variable,
    variable_holds, Holds, Stored, TokenInfo, MINTED_NAME_PREFIX, REGISTRY_SCOPE,
};

/// Attempts for an idempotent request (GET, PUT, DELETE) that met a 429, a 5xx or no answer.
const ATTEMPTS: u32 = 3;
/// One request's bound, answer included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Which token a client signs in with: it decides what a 401 or 403 means to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// The registry token (`upstream.token_env` or `--token-file`).
    Registry,
    /// The API token, from this variable.
    Api(String),
}

/// A GitLab API client signed in with one token.
pub struct Gitlab {
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
    pub fn with_api_token(api_url: &url::Url, token: &ApiToken, env: &str) -> Self {
        Self::new(api_url, token.header(), Auth::Api(env.to_owned()))
    }

    /// A client signed in with the registry token itself (`personal_access_tokens/self`).
    pub fn with_registry_token(api_url: &url::Url, token: &GitlabToken) -> Self {
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
            Ok(Err(e)) => Err(Transport::Unreachable(crate::error::causes(e.as_ref()))),
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
pub enum Transport {
    #[error("no answer within {0} s")]
    Timeout(u64),
    #[error("cannot reach GitLab: {0}")]
    Unreachable(String),
    #[error("cannot build the request: {0}")]
    Request(String),
}

impl RestClient for Gitlab {
    type Error = Transport;

    fn rest_endpoint(&self, endpoint: &str) -> Result<url::Url, CrateError<Transport>> {
        Ok(self.base.join(endpoint)?)
    }
}

#[async_trait::async_trait]
impl AsyncClient for Gitlab {
    async fn rest_async(
        &self,
        request: RequestBuilder,
        body: Vec<u8>,
    ) -> Result<Response<Bytes>, CrateError<Transport>> {
        let request = request
            .header("PRIVATE-TOKEN", self.header.clone())
            .header(http::header::USER_AGENT, crate::http::USER_AGENT)
            .body(Bytes::from(body))
            .map_err(|e| CrateError::client(Transport::Request(e.to_string())))?;
        self.send(&request).await.map_err(CrateError::client)
    }
}

/// A GitLab call that failed: which call, GitLab's status and message, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GitLab {call}: {message}")]
pub struct GitlabError {
    /// `METHOD /path`, with `:id` placeholders as GitLab's documentation names them.
    pub call: &'static str,
    pub status: Option<u16>,
    pub message: String,
}

impl GitlabError {
    /// The registry token was refused by GitLab where a command needs it active.
    pub fn inactive_registry_token() -> Self {
        GitlabError {
            call: "GET /personal_access_tokens/self",
            status: Some(401),
            message: hint(401, "", &Auth::Registry, "").unwrap_or_default(),
        }
    }

    /// Says what GitLab answered and, for the statuses a user can fix, how.
    fn from_crate(call: &'static str, auth: &Auth, group: &str, e: CrateError<Transport>) -> Self {
        let (status, said) = match e {
            CrateError::GitlabWithStatus { status, msg } => (Some(status), msg),
            CrateError::GitlabObjectWithStatus { status, obj }
            | CrateError::GitlabUnrecognizedWithStatus { status, obj } => {
                (Some(status), obj.to_string())
            }
            CrateError::GitlabService { status, .. } => (
                Some(status),
                status.canonical_reason().unwrap_or("error").to_owned(),
            ),
            other => (None, other.to_string()),
        };
        let hint = status.and_then(|s| hint(s.as_u16(), call, auth, group));
        // GitLab's messages often start with the status ("401 Unauthorized"); say it once.
        let said = match status {
            Some(s) if !said.starts_with(s.as_str()) => format!("{s}: {said}"),
            _ => said,
        };
        let message = match hint {
            Some(h) => format!("{said} ({h})"),
            None => said,
        };
        GitlabError {
            call,
            status: status.map(|s| s.as_u16()),
            message,
        }
    }
}

/// The group's token list, which GitLab refuses to a valid token of a non-Owner with a 401
/// (lib/api/resource_access_tokens.rb: `next unauthorized! unless current_user.can?(
/// :read_resource_access_tokens, resource)`), the same status as a wrong token.
const GROUP_TOKENS: &str = "GET /groups/:id/access_tokens";

fn hint(status: u16, call: &str, auth: &Auth, group: &str) -> Option<String> {
    Some(match (status, auth) {
        (401, Auth::Registry) => {
            "the registry token is wrong, expired or revoked on GitLab; \
            not retried: mint a new one with `ptc-rollout token mint` and roll it out with `rotate`"
                .to_owned()
        }
        (401, Auth::Api(env)) if call == GROUP_TOKENS => format!(
            "the API token in {env} is wrong, expired or revoked, or it is valid but its user is \
             not an Owner of group {group} (GitLab answers both with 401); not retried (a \
             refused token stays refused): set {env} to a valid token of a group Owner"
        ),
        (401, Auth::Api(env)) => format!(
            "the API token in {env} is wrong, expired or revoked; not retried (a refused \
             token stays refused): set {env} to a valid token"
        ),
        (403, Auth::Api(env)) => format!(
            "the API token in {env} lacks the Owner role on group {group} or the api scope: \
             use a token of an Owner with the api scope"
        ),
        (404, _) => format!(
            "no group {group}, or the token cannot see it: check gitlab.group (full path or id)"
        ),
        (429, _) => "GitLab's rate limit: try again later".to_owned(),
        _ => return None,
    })
}
