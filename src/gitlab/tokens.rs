//! What the `token` commands ask of GitLab, in GitLab's terms: token details, the group's
//! tokens, minting, revoking, and storing the registry token in a CI/CD variable.

use aws_smithy_types::date_time::{DateTime, Format};
use http::Method;
use serde::Deserialize;

use super::endpoints::{body, NewGroupToken, NewVariable, VariableUpdate};
use super::{Failure, Gitlab, GitlabError};
use crate::config::secrets::GitlabToken;
use crate::config::TokenRole;

/// Every token ptc-rollout mints is named this, then its minute (`YYYY-MM-DDTHH:MMZ`, UTC;
/// before, its day alone): how it finds its own again.
const MINTED_NAME_PREFIX: &str = "ptc-rollout ";
/// The one scope a pull through cache token needs.
const REGISTRY_SCOPE: &str = "read_registry";

/// A token as GitLab describes it (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct TokenInfo {
    pub(crate) id: u64,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) scopes: Vec<String>,
    /// In the group's list only (`personal_access_tokens/self` does not say it).
    #[serde(default)]
    pub(crate) access_level: Option<u64>,
    #[serde(default)]
    pub(crate) created_at: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub(crate) expires_at: Option<String>,
    #[serde(default)]
    pub(crate) active: bool,
    #[serde(default)]
    pub(crate) revoked: bool,
}

impl TokenInfo {
    /// Minted by ptc-rollout: its name, and only the registry scope. Anything else is the
    /// group's own business and never revoked.
    pub(crate) fn minted_by_ptc(&self) -> bool {
        self.name.starts_with(MINTED_NAME_PREFIX) && self.scopes == [REGISTRY_SCOPE]
    }

    /// GitLab's name for the role.
    pub(crate) fn role(&self) -> Option<&'static str> {
        crate::config::role_name(self.access_level?)
    }

    /// Whether GitLab created this token before `other`: by `created_at`, then by id (GitLab
    /// numbers tokens in creation order) when the times are equal or not known.
    pub(crate) fn created_before(&self, other: &TokenInfo) -> bool {
        match (self.created(), other.created()) {
            (Some(a), Some(b)) if a != b => a < b,
            _ => self.id < other.id,
        }
    }

    /// GitLab's `created_at` (ISO 8601, e.g. `2021-01-20T22:11:48.151Z`).
    fn created(&self) -> Option<DateTime> {
        DateTime::from_str(self.created_at.as_deref()?, Format::DateTimeWithOffset).ok()
    }

    /// The creation day, `YYYY-MM-DD`, from GitLab's timestamp.
    pub(crate) fn created_on(&self) -> Option<&str> {
        self.created_at.as_deref().and_then(|t| t.get(..10))
    }
}

/// The date `days` after `today` (days since the Unix epoch), as GitLab takes `expires_at`.
pub(crate) fn expiry_date(today: i64, days: i64) -> String {
    let secs = (today + days) * 86_400;
    let text = aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    text.get(..10).unwrap_or_default().to_owned()
}

/// The name of a token minted at `now`: [`MINTED_NAME_PREFIX`] and the UTC minute, so two
/// tokens minted on one day can be told apart.
pub(super) fn minted_name(now: std::time::SystemTime) -> String {
    let text = DateTime::from_secs(DateTime::from(now).secs())
        .fmt(Format::DateTime)
        .unwrap_or_default();
    format!(
        "{MINTED_NAME_PREFIX}{}Z",
        text.get(..16).unwrap_or_default()
    )
}

/// A failure of `call`, named, with what to do.
fn failed(c: &Gitlab, call: &'static str, group: &str, f: Failure) -> GitlabError {
    GitlabError::new(call, &c.auth, group, f)
}

/// `GET /personal_access_tokens/self`, signed in with the registry token: what it is.
pub(crate) async fn self_token(c: &Gitlab) -> Result<TokenInfo, GitlabError> {
    let url = c.url(&["personal_access_tokens", "self"]);
    c.json(Method::GET, &url, None)
        .await
        .map_err(|f| failed(c, "GET /personal_access_tokens/self", "", f))
}

/// `GET /groups/:id/access_tokens`, every page.
pub(crate) async fn group_tokens(c: &Gitlab, group: &str) -> Result<Vec<TokenInfo>, GitlabError> {
    c.all(&["groups", group, "access_tokens"])
        .await
        .map_err(|f| failed(c, "GET /groups/:id/access_tokens", group, f))
}

/// The answer to a mint: GitLab's details, and the value it shows this once.
#[derive(Deserialize)]
struct Minted {
    #[serde(flatten)]
    info: TokenInfo,
    token: GitlabToken,
}

/// `POST /groups/:id/access_tokens`: a token of `role` with only `read_registry`, named
/// [`minted_name`] of the clock's minute. Never retried: a second attempt could mint a second token.
pub(crate) async fn mint(
    c: &Gitlab,
    group: &str,
    role: TokenRole,
    expires_at: &str,
) -> Result<(TokenInfo, GitlabToken), GitlabError> {
    let name = minted_name(std::time::SystemTime::now());
    let request = NewGroupToken {
        name: &name,
        scopes: &[REGISTRY_SCOPE],
        access_level: role.access_level(),
        expires_at,
    };
    let url = c.url(&["groups", group, "access_tokens"]);
    let answer = c.json(Method::POST, &url, body(&request)).await;
    let minted: Minted = answer.map_err(|f| {
        let mut e = failed(c, "POST /groups/:id/access_tokens", group, f);
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
/// which of its many causes it is: the lifetime, or the permission. GitLab's
/// ResourceAccessTokens::CreateService answers "User does not have permission to create ...
/// access token" whenever `create_resource_access_tokens` is not allowed, which its policy
/// specs deny to non-Owners, on GitLab.com without a paid plan, and where the group setting
/// `resource_access_token_creation_allowed` is off. Other messages speak for themselves.
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
             see docs/token.md, \"Rotating the token\""
        )
    })
}

/// `DELETE /groups/:id/access_tokens/:token_id`. A token already gone is as good as revoked.
pub(crate) async fn revoke(c: &Gitlab, group: &str, id: u64) -> Result<(), GitlabError> {
    let url = c.url(&["groups", group, "access_tokens", &id.to_string()]);
    match c.call(Method::DELETE, &url, None).await {
        Ok(_) => Ok(()),
        Err(f) if f.gone() => Ok(()),
        Err(f) => Err(failed(
            c,
            "DELETE /groups/:id/access_tokens/:token_id",
            group,
            f,
        )),
    }
}

/// The description of a variable `token mint` created, then the id of the token it holds: a
/// hidden variable never shows its value, so a read back after a lost answer compares this,
/// written in the same request as the value.
const HOLDS_ID: &str = "ptc-rollout registry token, id ";

fn holds_id(id: u64) -> String {
    format!("{HOLDS_ID}{id}")
}

/// A CI/CD variable as GitLab describes it. No `Debug`: its value is the registry token.
#[derive(Deserialize)]
struct Variable {
    #[serde(default)]
    masked: bool,
    #[serde(default)]
    protected: bool,
    /// GitLab 17.4+; absent (not hidden) from an older GitLab.
    #[serde(default)]
    hidden: bool,
    /// `null` for a hidden variable (GitLab never shows its value again).
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

impl Variable {
    fn ours(&self) -> bool {
        self.description
            .as_deref()
            .is_some_and(|d| d.starts_with(HOLDS_ID))
    }
}

/// Where the registry token went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stored {
    /// The variable was created (masked and hidden, protected, raw) rather than updated.
    pub(crate) created: bool,
    pub(crate) masked: bool,
    pub(crate) protected: bool,
    pub(crate) hidden: bool,
    /// Created by `token mint` (its description says so): the description follows the token.
    pub(crate) ours: bool,
}

/// The read of the group's variable `key`: `None` if GitLab says there is no such variable.
async fn variable(c: &Gitlab, group: &str, key: &str) -> Result<Option<Variable>, GitlabError> {
    let url = c.url(&["groups", group, "variables", key]);
    match c.json(Method::GET, &url, None).await {
        Ok(v) => Ok(Some(v)),
        Err(f) if f.not_found("variable") => Ok(None),
        Err(f) => Err(failed(c, "GET /groups/:id/variables/:key", group, f)),
    }
}

/// Whether the group has the variable: the read `token mint` makes before minting, so a
/// variable it cannot write stops it before a token exists.
pub(crate) async fn read_variable(
    c: &Gitlab,
    group: &str,
    key: &str,
) -> Result<Option<Stored>, GitlabError> {
    Ok(variable(c, group, key).await?.map(|v| Stored {
        created: false,
        masked: v.masked,
        protected: v.protected,
        hidden: v.hidden,
        ours: v.ours(),
    }))
}

/// Stores the token as the variable's value. An existing variable keeps every other setting
/// as it is (only `value` is sent; a hidden one's value can still be replaced); a new one is
/// masked and hidden (GitLab 17.4+: not even a group Owner can reveal it; an older GitLab
/// ignores the parameter and makes it masked only), protected and raw (no `$` expansion), and
/// described with the id of the token it holds, which its later writes keep up to date.
pub(crate) async fn store_variable(
    c: &Gitlab,
    group: &str,
    key: &str,
    existing: Option<Stored>,
    (token, id): (&GitlabToken, u64),
) -> Result<Stored, GitlabError> {
    let description = holds_id(id);
    if let Some(found) = existing {
        let request = VariableUpdate {
            value: token.ci_value(),
            description: found.ours.then_some(&*description),
        };
        let url = c.url(&["groups", group, "variables", key]);
        let _: Variable = (c.json(Method::PUT, &url, body(&request)).await)
            .map_err(|f| failed(c, "PUT /groups/:id/variables/:key", group, f))?;
        return Ok(found);
    }
    let request = NewVariable {
        key,
        value: token.ci_value(),
        masked: true,
        // GitLab 17.4+ (the group-level variables API's `masked_and_hidden`): Owners cannot
        // reveal it in the UI; older GitLab ignores the parameter.
        masked_and_hidden: true,
        protected: true,
        raw: true,
        description: &description,
    };
    let url = c.url(&["groups", group, "variables"]);
    let v: Variable = (c.json(Method::POST, &url, body(&request)).await)
        .map_err(|f| failed(c, "POST /groups/:id/variables", group, f))?;
    Ok(Stored {
        created: true,
        masked: v.masked,
        protected: v.protected,
        hidden: v.hidden,
        ours: true,
    })
}

/// What the variable holds, read back after a store whose answer was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holds {
    /// The token: the store happened.
    Token {
        masked: bool,
        protected: bool,
        hidden: bool,
    },
    /// Another value, or no variable at all: the store did not happen.
    Other,
    /// A hidden variable, whose value GitLab never shows: cannot tell.
    Hidden,
}

/// Reads the variable back and compares its value with `token` (in constant time; neither
/// is ever shown); a hidden one's description with the token's `id`, when mint wrote it.
pub(crate) async fn variable_holds(
    c: &Gitlab,
    group: &str,
    key: &str,
    (token, id): (&GitlabToken, u64),
) -> Result<Holds, GitlabError> {
    match variable(c, group, key).await? {
        Some(v) => {
            let holds = match v.value.as_deref() {
                Some(value) => token.is(value),
                None if v.ours() => v.description.as_deref() == Some(&*holds_id(id)),
                None => return Ok(Holds::Hidden),
            };
            Ok(if holds {
                Holds::Token {
                    masked: v.masked,
                    protected: v.protected,
                    hidden: v.hidden,
                }
            } else {
                Holds::Other
            })
        }
        None => Ok(Holds::Other),
    }
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
    fn minted_names_carry_the_minute_and_old_day_names_stay_ours() {
        // 2026-11-28T08:05:59Z.
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(20_785 * 86_400 + 29_159);
        let name = minted_name(at);
        assert_eq!(name, "ptc-rollout 2026-11-28T08:05Z");
        assert!(info(&name, &["read_registry"]).minted_by_ptc());
        assert!(info("ptc-rollout 2026-11-28", &["read_registry"]).minted_by_ptc());
    }

    #[test]
    fn older_is_by_creation_time_then_id() {
        let at = |id, created: Option<&str>| TokenInfo {
            id,
            created_at: created.map(str::to_owned),
            ..info("t", &[])
        };
        let early = at(9, Some("2026-11-28T08:00:00.000Z"));
        let late = at(3, Some("2026-11-28T09:00:00.000+01:00"));
        let later = at(4, Some("2026-11-28T08:00:00.001Z"));
        assert!(
            late.created_before(&early),
            "09:00+01:00 is 08:00Z, id 3 < 9"
        );
        assert!(early.created_before(&later) && !later.created_before(&early));
        assert!(at(1, None).created_before(&at(2, Some("2020-01-01T00:00:00Z"))));
        assert!(
            !at(2, None).created_before(&at(2, None)),
            "not before itself"
        );
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
