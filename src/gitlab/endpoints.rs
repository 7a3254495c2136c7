//! The endpoints the `token` commands call, GitLab REST API v4: their paths, JSON request
//! bodies (docs.gitlab.com/api/group_access_tokens, /api/group_level_variables) and offset
//! pagination (docs.gitlab.com/api/rest: `page`, `per_page` at most 100, `x-next-page`).

use http::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{decode, Failure, Gitlab};

/// `POST /groups/:id/access_tokens`: a new token, whose value GitLab shows in this answer only.
#[derive(Debug, Serialize)]
pub(super) struct NewGroupToken<'a> {
    pub(crate) name: &'a str,
    pub(crate) scopes: &'a [&'a str],
    /// 10 Guest, 20 Reporter, 30 Developer, 40 Maintainer, 50 Owner.
    pub(crate) access_level: u64,
    /// `YYYY-MM-DD`.
    pub(crate) expires_at: &'a str,
}

/// `POST /groups/:id/variables`. No `Debug`: `value` is the registry token.
#[derive(Serialize)]
pub(super) struct NewVariable<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: &'a str,
    pub(crate) masked: bool,
    /// GitLab 17.4+; an older GitLab ignores it.
    pub(crate) masked_and_hidden: bool,
    pub(crate) protected: bool,
    /// No `$` expansion.
    pub(crate) raw: bool,
    pub(crate) description: &'a str,
}

/// `PUT /groups/:id/variables/:key`: only what is given changes. No `Debug`: `value` is the
/// registry token.
#[derive(Serialize)]
pub(super) struct VariableUpdate<'a> {
    pub(crate) value: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<&'a str>,
}

/// A request body as JSON.
pub(super) fn body(request: &impl Serialize) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(request).expect("strings, numbers and booleans serialize"))
}

/// The largest page GitLab serves (docs.gitlab.com/api/rest, "Offset-based pagination").
const PER_PAGE: usize = 100;

impl Gitlab {
    /// `GET` every page of a list. GitLab says the next page in `x-next-page` (empty on the
    /// last); a full page is followed regardless, as some endpoints leave the header blank
    /// while more pages exist, and an empty page ends the list, as some announce a next page
    /// that holds nothing (gitlab-org/gitlab!196834, #471566).
    pub(super) async fn all<T: DeserializeOwned>(
        &self,
        segments: &[&str],
    ) -> Result<Vec<T>, Failure> {
        let mut items = Vec::new();
        let mut page = 1u64;
        loop {
            let mut url = self.url(segments);
            url.query_pairs_mut()
                .append_pair("per_page", &PER_PAGE.to_string())
                .append_pair("page", &page.to_string());
            let answer = self.call(Method::GET, &url, None).await?;
            let batch: Vec<T> = decode(answer.body())?;
            let full = batch.len() >= PER_PAGE;
            let empty = batch.is_empty();
            items.extend(batch);
            let said = answer.headers().get("x-next-page");
            let next = said
                .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
                .or(full.then_some(page + 1));
            match next {
                Some(n) if n > page && !empty => page = n,
                _ => return Ok(items),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secrets::GitlabToken;

    #[test]
    fn paths_and_bodies() {
        let token = GitlabToken::new("glpat-abcdefgh".into()).unwrap();
        let c = Gitlab::with_registry_token(
            &url::Url::parse("https://gitlab.example.com/api/v4").unwrap(),
            &token,
        );
        assert_eq!(
            c.url(&["groups", "parent/child", "access_tokens"]).as_str(),
            "https://gitlab.example.com/api/v4/groups/parent%2Fchild/access_tokens"
        );
        let mint = NewGroupToken {
            name: "ptc-rollout 2026-11-28T08:05Z",
            scopes: &["read_registry"],
            access_level: 10,
            expires_at: "2027-11-28",
        };
        assert_eq!(
            String::from_utf8(body(&mint).unwrap()).unwrap(),
            r#"{"name":"ptc-rollout 2026-11-28T08:05Z","scopes":["read_registry"],"access_level":10,"expires_at":"2027-11-28"}"#
        );
        let update = VariableUpdate {
            value: "v",
            description: None,
        };
        assert_eq!(
            String::from_utf8(body(&update).unwrap()).unwrap(),
            r#"{"value":"v"}"#
        );
    }
}
