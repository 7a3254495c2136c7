//! `token status|mint|revoke-old`: the registry token's life on GitLab (`[gitlab]`). Every
//! input is checked before the first GitLab or AWS call; GitLab's refusals end the command
//! with exit 5 and a line saying which call, what GitLab said and what to do.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cli::args::TokenStatusArgs;
use crate::cli::error::{refuse_if, CommandError};
use crate::cli::input::read_token;
use crate::cli::output::printer::Printer;
use crate::cli::output::token_role;
use crate::cli::output::token_status::{Shown, Status};
use crate::cli::output::Finished;
use crate::config::secrets::{ApiToken, GitlabToken};
use crate::config::{GitlabSide, Problem, Rollout, TokenRole, REPORTER};
use crate::gitlab::{self, Gitlab, GitlabError, TokenInfo};
use crate::outputs::compliance::CurrentToken;

mod mint;
mod revoke;

pub(crate) use mint::run as mint;
pub(crate) use revoke::run as revoke_old;

/// The rollout file's `[gitlab]`, which every `token` command needs.
pub(crate) fn gitlab_side(rollout: &Rollout) -> Result<&GitlabSide, Problem> {
    rollout.gitlab.as_ref().ok_or_else(|| {
        Problem::new(
            "[gitlab]",
            "the rollout file has no [gitlab] table",
            "add [gitlab] with group = \"FULL/PATH\" (see docs/token.md, \"Rotating the token\")",
        )
    })
}

/// Today, in days since the Unix epoch (UTC), as GitLab dates tokens.
pub(crate) fn today() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    secs.div_euclid(86_400)
}

/// GitLab's view of the registry token: its details, or `None` when GitLab refuses it (401:
/// revoked, expired or wrong). Any other failure is an error.
pub(crate) async fn registry_token_info(
    side: &GitlabSide,
    token: &GitlabToken,
) -> Result<Option<TokenInfo>, GitlabError> {
    let c = Gitlab::with_registry_token(&side.api_url, token);
    match gitlab::self_token(&c).await {
        Ok(info) => Ok(Some(info).filter(|i| i.active)),
        Err(e) if e.status == Some(401) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the compliance export needs of GitLab: the registry token's expiry and, with the API
/// token (`gitlab.api_token_env` set), its role. A role that could not be read is said once
/// on stderr and left unknown, never guessed.
pub(crate) async fn current_token(
    side: &GitlabSide,
    token: &GitlabToken,
    printer: Printer,
) -> Result<CurrentToken, GitlabError> {
    Ok(match registry_token_info(side, token).await? {
        Some(info) => CurrentToken::Active {
            short_role: token_level(side, info.id, printer)
                .await
                .filter(|l| *l < REPORTER && side.token_role != TokenRole::Guest),
            expires_on: info.expires_at,
        },
        None => CurrentToken::Inactive,
    })
}

/// The registry token's access level, from the group's token list (the only place GitLab says
/// it), read with the API token. `None`, said once, without the API token or when GitLab
/// refuses the list.
pub(crate) async fn token_level(side: &GitlabSide, id: u64, printer: Printer) -> Option<u64> {
    let env = &side.api_token_env;
    let unknown = |why: String| {
        token_role::unknown(printer, why);
        None
    };
    let api = match optional_api_token(side) {
        None => return unknown(format!("set {env} to read it from the group's token list")),
        Some(Err(p)) => return unknown(p.to_string()),
        Some(Ok(api)) => api,
    };
    let c = Gitlab::with_api_token(&side.api_url, &api, env);
    match gitlab::group_tokens(&c, &side.group).await {
        Ok(tokens) => match tokens.iter().find(|t| t.id == id) {
            Some(t) => t.access_level,
            None => unknown(format!(
                "it is not one of group {}'s access tokens",
                side.group
            )),
        },
        Err(e) => unknown(e.to_string()),
    }
}

/// Days from `today` to a `YYYY-MM-DD` expiry date: the days the token is still usable, today
/// included. GitLab expires a token at 00:00 UTC on that date, so 0 (or less) is expired.
pub(crate) fn days_left(today: i64, date: Option<&str>) -> Option<i64> {
    date.and_then(crate::config::parse_date).map(|d| d - today)
}

/// A token as `status` shows it.
impl Shown {
    pub(crate) fn of(t: &TokenInfo, today: i64) -> Self {
        Shown {
            id: t.id,
            name: t.name.clone(),
            scopes: t.scopes.clone(),
            role: t.role(),
            access_level: t.access_level,
            created_on: t.created_on().map(str::to_owned),
            expires_on: t.expires_at.clone(),
            days_left: days_left(today, t.expires_at.as_deref()),
            active: t.active,
        }
    }
}

/// The API token where a command can do without it: `None` when `gitlab.api_token_env` is not
/// set, its refusal when it is set but unusable.
fn optional_api_token(side: &GitlabSide) -> Option<Result<ApiToken, Problem>> {
    let env = &side.api_token_env;
    std::env::var_os(env).map(|_| ApiToken::from_env(env))
}

/// `token status`.
pub(crate) async fn status(args: TokenStatusArgs) -> Result<Finished, CommandError> {
    let rollout = Rollout::load(&args.config)?;
    let (side, token) = status_inputs(&rollout, args.token_file.as_deref())?;
    // The API token is optional here: without it, the group's other tokens are not listed.
    let api = optional_api_token(side)
        .transpose()
        .map_err(|p| CommandError::Refused(vec![p]))?;
    let today = today();
    let info = registry_token_info(side, &token).await?;
    let group = match &api {
        Some(api) => {
            let c = Gitlab::with_api_token(&side.api_url, api, &side.api_token_env);
            Some(gitlab::group_tokens(&c, &side.group).await?)
        }
        None => None,
    };
    // The group's list says the role, which `personal_access_tokens/self` does not.
    let current = info.map(|mut i| {
        if let Some(listed) = group.iter().flatten().find(|t| t.id == i.id) {
            i.access_level = listed.access_level;
        }
        Shown::of(&i, today)
    });
    let others: Option<Vec<Shown>> = group.map(|tokens| {
        tokens
            .iter()
            .filter(|t| {
                t.active && t.minted_by_ptc() && Some(t.id) != current.as_ref().map(|c| c.id)
            })
            .map(|t| Shown::of(t, today))
            .collect()
    });
    let warning = current
        .as_ref()
        .and_then(|c| role_warning(side, c.access_level));
    // An older token ptc-rollout minted still active is a rotation left unfinished (a job that
    // failed after its mint): due too, so the next scheduled run finishes it.
    let unfinished = others.as_ref().is_some_and(|o| !o.is_empty());
    let due = match (&current, args.due_within_days) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(c), Some(n)) => c.days_left.is_some_and(|d| d <= 0 || d < n) || unfinished,
    };
    Ok(Finished::TokenStatus(Box::new(Status {
        format: args.format,
        group: side.group.clone(),
        api_token_env: side.api_token_env.clone(),
        current,
        others,
        warning,
        due,
    })))
}

/// `[gitlab]` and the API token its `api_token_env` names, for `mint` and `revoke-old`;
/// problems are noted.
pub(crate) fn side_and_api<'r>(
    rollout: &'r Rollout,
    problems: &mut Vec<Problem>,
) -> (Option<&'r GitlabSide>, Option<ApiToken>) {
    let side = gitlab_side(rollout).map_err(|p| problems.push(p)).ok();
    let api = side.and_then(|s| {
        ApiToken::from_env(&s.api_token_env)
            .map_err(|p| problems.push(p))
            .ok()
    });
    (side, api)
}

fn status_inputs<'r>(
    rollout: &'r Rollout,
    token_file: Option<&Path>,
) -> Result<(&'r GitlabSide, GitlabToken), CommandError> {
    let mut problems = Vec::new();
    let side = gitlab_side(rollout).map_err(|p| problems.push(p)).ok();
    let token = read_token(rollout, token_file, &mut problems);
    refuse_if(problems)?;
    Ok((side.expect("checked"), token.expect("checked")))
}

/// What a registry token below Reporter cannot do, and the fix; `None` for Reporter and up, or
/// when the role is not known.
pub(crate) fn role_warning(side: &GitlabSide, level: Option<u64>) -> Option<String> {
    let level = level.filter(|l| *l < REPORTER)?;
    let role = crate::config::role_name(level).unwrap_or("below Reporter");
    let chosen = if side.token_role == TokenRole::Guest {
        " (gitlab.token_role = \"guest\": fine only while every image is in a public project)"
    } else {
        ""
    };
    Some(format!(
        "the registry token's role is {role}: pulls of images from private projects fail (GitLab lets a {role} pull only from public projects){chosen}; `ptc-rollout token mint` makes a Reporter token (gitlab.token_role = \"reporter\", the default), then `rotate`"
    ))
}
