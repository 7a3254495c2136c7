//! The group access token endpoints the `gitlab` crate does not define yet (it has the project
//! ones), written against its `Endpoint` trait as its own are: GitLab REST API v4,
//! docs.gitlab.com/api/group_access_tokens.

use std::borrow::Cow;

use gitlab::api::common::NameOrId;
use gitlab::api::{BodyError, Endpoint, FormParams, Pageable};
use http::Method;

/// `GET /groups/:id/access_tokens`: every token of the group, active or not (paged).
pub struct GroupAccessTokens<'a> {
    pub group: NameOrId<'a>,
}

impl Endpoint for GroupAccessTokens<'_> {
    fn method(&self) -> Method {
        Method::GET
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!("groups/{}/access_tokens", self.group).into()
    }
}

impl Pageable for GroupAccessTokens<'_> {}

/// `POST /groups/:id/access_tokens`: a new token, whose value GitLab shows in this answer only.
pub struct CreateGroupAccessToken<'a> {
    pub group: NameOrId<'a>,
    pub name: &'a str,
    pub scopes: &'a [&'a str],
    /// 10 Guest, 20 Reporter, 30 Developer, 40 Maintainer, 50 Owner.
    pub access_level: u64,
    /// `YYYY-MM-DD`.
    pub expires_at: &'a str,
}

impl Endpoint for CreateGroupAccessToken<'_> {
    fn method(&self) -> Method {
        Method::POST
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!("groups/{}/access_tokens", self.group).into()
    }

    fn body(&self) -> Result<Option<(&'static str, Vec<u8>)>, BodyError> {
        let mut params = FormParams::default();
        params
            .push("name", self.name)
            .push("access_level", self.access_level)
            .push("expires_at", self.expires_at);
        for scope in self.scopes {
            params.push("scopes[]", *scope);
        }
        params.into_body()
    }
}

/// `DELETE /groups/:id/access_tokens/:token_id`: revokes the token (GitLab answers 204).
pub struct RevokeGroupAccessToken<'a> {
    pub group: NameOrId<'a>,
    pub id: u64,
}

impl Endpoint for RevokeGroupAccessToken<'_> {
    fn method(&self) -> Method {
        Method::DELETE
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!("groups/{}/access_tokens/{}", self.group, self.id).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_body() {
        let create = CreateGroupAccessToken {
            group: NameOrId::from("parent/child"),
            name: "ptc-rollout 2026-11-28",
            scopes: &["read_registry"],
            access_level: 10,
            expires_at: "2027-11-28",
        };
        assert_eq!(create.endpoint(), "groups/parent%2Fchild/access_tokens");
        let (mime, body) = create.body().unwrap().unwrap();
        assert_eq!(mime, "application/x-www-form-urlencoded");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "name=ptc-rollout+2026-11-28&access_level=10&expires_at=2027-11-28&scopes%5B%5D=read_registry"
        );
        let revoke = RevokeGroupAccessToken {
            group: NameOrId::from(4242),
            id: 7,
        };
        assert_eq!(revoke.endpoint(), "groups/4242/access_tokens/7");
    }
}
