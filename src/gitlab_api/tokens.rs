//! What the `token` commands ask of GitLab, in GitLab's terms: token details, the group's
//! tokens, minting, revoking, and storing the registry token in a CI/CD variable.

use gitlab::api::common::NameOrId;
use gitlab::api::groups::variables::{CreateGroupVariable, GroupVariable, UpdateGroupVariable};
use gitlab::api::personal_access_tokens::PersonalAccessTokenSelf;
use gitlab::api::{self, ApiError as CrateError, AsyncQuery, Pagination};
use serde::Deserialize;

use super::endpoints::{CreateGroupAccessToken, GroupAccessTokens, RevokeGroupAccessToken};
use super::{Gitlab, GitlabError};
use crate::rollout::TokenRole;
use crate::token::GitlabToken;

/// Every token ptc-rollout mints is named this, then its day: how it finds its own again.
pub const MINTED_NAME_PREFIX: &str = "ptc-rollout ";
/// The one scope a pull through cache token needs.
pub const REGISTRY_SCOPE: &str = "read_registry";

/// A token as GitLab describes it (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenInfo {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// In the group's list only (`personal_access_tokens/self` does not say it).
    #[serde(default)]
    pub access_level: Option<u64>,
    #[serde(default)]
    pub created_at: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub revoked: bool,
}

impl TokenInfo {
    /// Minted by ptc-rollout: its name, and only the registry scope. Anything else is the
    /// group's own business and never revoked.
    pub fn minted_by_ptc(&self) -> bool {
        self.name.starts_with(MINTED_NAME_PREFIX) && self.scopes == [REGISTRY_SCOPE]
    }

    /// GitLab's name for the role.
    pub fn role(&self) -> Option<&'static str> {
        crate::rollout::role_name(self.access_level?)
    }

    /// The creation day, `YYYY-MM-DD`, from GitLab's timestamp.
    pub fn created_on(&self) -> Option<&str> {
        self.created_at.as_deref().and_then(|t| t.get(..10))
    }
}

/// The date `days` after `today` (days since the Unix epoch), as GitLab takes `expires_at`.
pub fn expiry_date(today: i64, days: i64) -> String {
    let secs = (today + days) * 86_400;
    let text = aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    text.get(..10).unwrap_or_default().to_owned()
}

/// Sends one endpoint's request; a failure names `call` and says what to do.
async fn ask<T, E>(
    c: &Gitlab,
    call: &'static str,
    group: &str,
    endpoint: E,
) -> Result<T, GitlabError>
where
    E: AsyncQuery<T, Gitlab> + Sync,
{
    endpoint
        .query_async(c)
        .await
        .map_err(|e| GitlabError::from_crate(call, &c.auth, group, e))
}

/// `GET /personal_access_tokens/self`, signed in with the registry token: what it is.
pub async fn self_token(c: &Gitlab) -> Result<TokenInfo, GitlabError> {
    let endpoint = PersonalAccessTokenSelf::builder()
        .build()
        .expect("no parameters");
    ask(c, "GET /personal_access_tokens/self", "", endpoint).await
}

/// `GET /groups/:id/access_tokens`, every page.
pub async fn group_tokens(c: &Gitlab, group: &str) -> Result<Vec<TokenInfo>, GitlabError> {
    let endpoint = GroupAccessTokens {
        group: NameOrId::from(group),
    };
    let paged = api::paged(endpoint, Pagination::All);
    ask(c, "GET /groups/:id/access_tokens", group, paged).await
}

/// The answer to a mint: GitLab's details, and the value it shows this once.
#[derive(Deserialize)]
struct Minted {
    #[serde(flatten)]
    info: TokenInfo,
    token: GitlabToken,
}

/// `POST /groups/:id/access_tokens`: a token of `role` with only `read_registry`, named
/// `ptc-rollout DAY`. Never retried: a second attempt could mint a second token.
pub async fn mint(
    c: &Gitlab,
    group: &str,
    role: TokenRole,
    today: &str,
    expires_at: &str,
) -> Result<(TokenInfo, GitlabToken), GitlabError> {
    let name = format!("{MINTED_NAME_PREFIX}{today}");
    let endpoint = CreateGroupAccessToken {
        group: NameOrId::from(group),
        name: &name,
        scopes: &[REGISTRY_SCOPE],
        access_level: role.access_level(),
        expires_at,
    };
    let minted: Minted = endpoint.query_async(c).await.map_err(|e| {
        let mut e = GitlabError::from_crate("POST /groups/:id/access_tokens", &c.auth, group, e);
        if let Some(hint) = e
            .status
            .filter(|s| *s == 400)
            .and(mint_hint(&e.message, group, expires_at))
        {
            e.message = format!("{} ({hint})", e.message);
        }
        e
    })?;
    Ok((minted.info, minted.token))
}

/// What to do about a 400 from a mint, when GitLab's message (shown verbatim before it) says
/// which of its many causes it is: the lifetime, or the permission (which on GitLab.com also
/// covers the tier and the group's setting). Other messages speak for themselves.
fn mint_hint(message: &str, group: &str, expires_at: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    if lower.contains("expires at") || lower.contains("expires_at") {
        return Some(format!(
            "GitLab refused expires_at {expires_at}: a token lives at most 365 days on \
             GitLab.com, 400 where the instance allows it, less where an administrator set a \
             lower limit: pass a smaller --expires-in-days"
        ));
    }
    lower.contains("does not have permission").then(|| {
        format!(
            "the API token's user must be an Owner of group {group}; on GitLab.com group access \
             tokens need the Premium or Ultimate tier (not Free or a trial); and the group's \
             settings may turn off access token creation (Settings > General > Permissions). \
             A Free group can use a group deploy token with read_registry instead, by hand: \
             see the README, \"Rotating the token\""
        )
    })
}

/// `DELETE /groups/:id/access_tokens/:token_id`. A token already gone is as good as revoked.
pub async fn revoke(c: &Gitlab, group: &str, id: u64) -> Result<(), GitlabError> {
    let endpoint = RevokeGroupAccessToken {
        group: NameOrId::from(group),
        id,
    };
    match api::ignore(endpoint).query_async(c).await {
        Ok(()) => Ok(()),
        Err(CrateError::GitlabWithStatus { status, .. }) if status.as_u16() == 404 => Ok(()),
        Err(e) => Err(GitlabError::from_crate(
            "DELETE /groups/:id/access_tokens/:token_id",
            &c.auth,
            group,
            e,
        )),
    }
}

/// A CI/CD variable as GitLab describes it (its value is not read).
#[derive(Debug, Deserialize)]
struct Variable {
    #[serde(default)]
    masked: bool,
    #[serde(default)]
    protected: bool,
}

/// Where the registry token went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// The variable was created (masked, protected, raw) rather than updated.
    pub created: bool,
    pub masked: bool,
    pub protected: bool,
}

/// Whether the group has the variable: the read `token mint` makes before minting, so a
/// variable it cannot write stops it before a token exists.
pub async fn read_variable(
    c: &Gitlab,
    group: &str,
    key: &str,
) -> Result<Option<Stored>, GitlabError> {
    let endpoint = GroupVariable::builder()
        .group(group)
        .key(key)
        .build()
        .expect("group and key given");
    match endpoint.query_async(c).await {
        Ok(Variable { masked, protected }) => Ok(Some(Stored {
            created: false,
            masked,
            protected,
        })),
        Err(CrateError::GitlabWithStatus { status, msg })
            if status.as_u16() == 404 && msg.to_ascii_lowercase().contains("variable") =>
        {
            Ok(None)
        }
        Err(e) => Err(GitlabError::from_crate(
            "GET /groups/:id/variables/:key",
            &c.auth,
            group,
            e,
        )),
    }
}

/// Stores the token as the variable's value. An existing variable keeps every other setting
/// as it is (only `value` is sent); a new one is masked, protected and raw (no `$` expansion).
pub async fn store_variable(
    c: &Gitlab,
    group: &str,
    key: &str,
    existing: Option<Stored>,
    token: &GitlabToken,
) -> Result<Stored, GitlabError> {
    if let Some(found) = existing {
        let endpoint = UpdateGroupVariable::builder()
            .group(group)
            .key(key)
            .value(token.ci_value())
            .build()
            .expect("group, key and value given");
        let _: Variable = ask(c, "PUT /groups/:id/variables/:key", group, endpoint).await?;
        return Ok(found);
    }
    let endpoint = CreateGroupVariable::builder()
        .group(group)
        .key(key)
        .value(token.ci_value())
        .masked(true)
        .protected(true)
        .raw(true)
        .build()
        .expect("group, key and value given");
    let v: Variable = ask(c, "POST /groups/:id/variables", group, endpoint).await?;
    Ok(Stored {
        created: true,
        masked: v.masked,
        protected: v.protected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, scopes: &[&str]) -> TokenInfo {
        TokenInfo {
            id: 1,
            name: name.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            access_level: Some(10),
            created_at: Some("2026-11-28T08:00:00.000Z".into()),
            expires_at: Some("2027-11-28".into()),
            active: true,
            revoked: false,
        }
    }

    #[test]
    fn only_its_own_tokens_are_ptcs() {
        assert!(info("ptc-rollout 2026-11-28", &["read_registry"]).minted_by_ptc());
        assert!(!info("ptc-rollout 2026-11-28", &["read_registry", "api"]).minted_by_ptc());
        assert!(!info("deploy", &["read_registry"]).minted_by_ptc());
        assert!(!info("ptc-rollout", &["read_registry"]).minted_by_ptc());
        assert_eq!(info("x", &[]).role(), Some("Guest"));
        assert_eq!(info("x", &[]).created_on(), Some("2026-11-28"));
    }

    #[test]
    fn a_refused_mint_gets_the_hint_its_message_calls_for() {
        let lifetime = mint_hint(
            "400 Bad request - Expires at must be before 2027-12-01",
            "g",
            "2028-01-01",
        )
        .unwrap();
        assert!(lifetime.contains("--expires-in-days"), "{lifetime}");
        let permission = mint_hint(
            "400 Bad request - User does not have permission to create group access token",
            "g",
            "2027-01-01",
        )
        .unwrap();
        assert!(permission.contains("Owner of group g") && permission.contains("Premium"));
        assert!(!permission.contains("expires-in-days"));
        assert_eq!(
            mint_hint("400 Bad request - Scopes can't be blank", "g", "x"),
            None
        );
    }

    #[test]
    fn expiry_dates() {
        // 2026-11-28 is day 20785 of the Unix epoch.
        assert_eq!(expiry_date(20_785, 0), "2026-11-28");
        assert_eq!(expiry_date(20_785, 365), "2027-11-28");
        assert_eq!(expiry_date(20_785, 34), "2027-01-01");
    }
}
