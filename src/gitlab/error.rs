//! GitLab's error shapes, read as GitLab writes them (lib/api/helpers.rb: `render_api_error!`
//! answers `{"message": ...}`, a string or a model's errors by field; Grape's validation and the
//! OAuth guard answer `{"error": ...}`), and what they mean to the user.

use bytes::Bytes;
use http::{Response, StatusCode};

use super::{Auth, Transport};

/// Why a call failed, before it is told to the user.
#[derive(Debug)]
pub(super) enum Failure {
    /// No answer at all.
    Transport(Transport),
    /// GitLab answered with an error status; `said` is its message, verbatim, `json` whether
    /// it came in GitLab's JSON (not a proxy's page).
    Refused {
        status: StatusCode,
        said: String,
        json: bool,
    },
    /// A success whose body is not what GitLab's API documents.
    Unexpected(String),
}

impl Failure {
    /// GitLab's answer with a status other than 2xx.
    pub(super) fn refused(rsp: &Response<Bytes>) -> Self {
        let status = rsp.status();
        let json = serde_json::from_slice::<serde_json::Value>(rsp.body()).ok();
        let mut said = said(status, json.as_ref());
        if status.is_redirection() {
            if let Some(to) = rsp.headers().get(http::header::LOCATION) {
                said = format!("{said}, to {}", String::from_utf8_lossy(to.as_bytes()));
            }
        }
        Failure::Refused {
            status,
            said,
            json: json.is_some(),
        }
    }

    /// A 404 in GitLab's words: what was asked for is not there (or not visible).
    pub(super) fn gone(&self) -> bool {
        matches!(self, Failure::Refused { status, json: true, .. }
            if *status == StatusCode::NOT_FOUND)
    }

    /// A 404 whose message names what was not found (GitLab's "404 GroupVariable Not Found",
    /// "404 group Access Token Not Found"), as opposed to a route or proxy that is not there.
    pub(super) fn not_found(&self, what: &str) -> bool {
        matches!(self, Failure::Refused { said, .. }
            if self.gone() && said.to_ascii_lowercase().contains(what))
    }
}

/// GitLab's message: `message`, else `error` (a string as it is, an object as compact JSON),
/// else the whole JSON body; a body that is not JSON (a proxy's page) by the status's name.
fn said(status: StatusCode, body: Option<&serde_json::Value>) -> String {
    let Some(value) = body else {
        return status.canonical_reason().unwrap_or("error").to_owned();
    };
    match value.get("message").or_else(|| value.get("error")) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => value.to_string(),
    }
}

/// A GitLab call that failed: which call, GitLab's status and message, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GitLab {call}: {message}")]
pub struct GitlabError {
    /// `METHOD /path`, with `:id` placeholders as GitLab's documentation names them.
    pub(crate) call: &'static str,
    pub(crate) status: Option<u16>,
    pub(crate) message: String,
}

impl GitlabError {
    /// The registry token was refused by GitLab where a command needs it active.
    pub(crate) fn inactive_registry_token() -> Self {
        GitlabError {
            call: "GET /personal_access_tokens/self",
            status: Some(401),
            message: hint(401, "", &Auth::Registry, "").unwrap_or_default(),
        }
    }

    /// Says what GitLab answered and, for the statuses a user can fix, how.
    pub(super) fn new(call: &'static str, auth: &Auth, group: &str, failure: Failure) -> Self {
        let (status, said) = match failure {
            Failure::Refused { status, said, .. } => (status, said),
            Failure::Transport(t) => return Self::unanswered(call, t.to_string()),
            Failure::Unexpected(why) => return Self::unanswered(call, why),
        };
        let hint = hint(status.as_u16(), call, auth, group);
        // GitLab's messages often start with the status ("401 Unauthorized"); say it once.
        let said = if said.starts_with(status.as_str()) {
            said
        } else {
            format!("{status}: {said}")
        };
        let message = match hint {
            Some(h) => format!("{said} ({h})"),
            None => said,
        };
        GitlabError {
            call,
            status: Some(status.as_u16()),
            message,
        }
    }

    fn unanswered(call: &'static str, message: String) -> Self {
        GitlabError {
            call,
            status: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(status: u16, body: &str) -> Failure {
        let rsp = Response::builder()
            .status(status)
            .body(Bytes::from(body.to_owned()))
            .unwrap();
        Failure::refused(&rsp)
    }

    fn message(status: u16, body: &str) -> String {
        GitlabError::new("PUT /x", &Auth::Registry, "g", failure(status, body)).message
    }

    #[test]
    fn gitlabs_error_shapes_are_shown_verbatim_with_the_status_once() {
        assert_eq!(
            message(
                400,
                r#"{"message": "400 Bad request - Scopes can't be blank"}"#
            ),
            "400 Bad request - Scopes can't be blank"
        );
        assert_eq!(
            message(400, r#"{"error": "name is missing"}"#),
            "400 Bad Request: name is missing"
        );
        assert_eq!(
            message(400, r#"{"message": {"value": ["is invalid"]}}"#),
            r#"400 Bad Request: {"value":["is invalid"]}"#
        );
        assert_eq!(
            message(409, r#"{"reason": "x"}"#),
            r#"409 Conflict: {"reason":"x"}"#
        );
        assert_eq!(
            message(502, "<html>bad gateway</html>"),
            "502 Bad Gateway: Bad Gateway"
        );
        assert!(message(429, "{}").ends_with("(GitLab's rate limit: try again later)"));
    }

    #[test]
    fn a_not_found_names_what_is_missing() {
        assert!(
            failure(404, r#"{"message": "404 GroupVariable Not Found"}"#).not_found("variable")
        );
        assert!(!failure(404, r#"{"error": "404 Not Found"}"#).not_found("variable"));
        assert!(!failure(403, r#"{"message": "variable"}"#).not_found("variable"));
        assert!(failure(404, r#"{"error": "404 Not Found"}"#).gone());
        assert!(!failure(404, "<html>Not Found</html>").gone());
    }
}
