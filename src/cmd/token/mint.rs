//! `token mint`: a new group access token (read_registry, Reporter unless `gitlab.token_role`
//! says Guest), stored where the next run reads it, never shown. The old token keeps working
//! until `token revoke-old`.

use super::{side_and_api, today};
use crate::cli::TokenMintArgs;
use crate::cmd::error::{refuse_if, CommandError};
use crate::cmd::input::check_output_path;
use crate::cmd::reporter::Output;
use crate::exit;
use crate::gitlab_api::{self, expiry_date, Gitlab, Stored, TokenInfo};
use crate::rollout::{GitlabSide, Problem, Rollout, TokenRole};
use crate::token::{ApiToken, GitlabToken};

pub(crate) async fn run(args: TokenMintArgs, output: Output) -> Result<i32, CommandError> {
    let rollout = Rollout::load(&args.config)?;
    let (side, api) = inputs(&rollout, &args)?;
    let c = Gitlab::with_api_token(&side.api_url, &api, &side.api_token_env);
    // Read the variable first: a variable that cannot be written stops here, before a token
    // exists that would have nowhere to go.
    let existing = match &side.ci_variable {
        Some(key) => Some(gitlab_api::read_variable(&c, &side.group, key).await?),
        None => None,
    };
    let today = today();
    let expires_at = expiry_date(today, args.expires_in_days);
    let (info, token) = gitlab_api::mint(
        &c,
        &side.group,
        side.token_role,
        &expiry_date(today, 0),
        &expires_at,
    )
    .await?;
    let stored = match store(&c, side, &args, existing, &token).await {
        Ok(stored) => stored,
        Err(why) => return Err(unstored(&c, side, &info, &args, why).await),
    };
    if !output.quiet {
        eprintln!(
            "Minted {:?} (id {}, read_registry, {}) in group {}, expiring {}.",
            info.name,
            info.id,
            side.token_role.name(),
            side.group,
            expires_at
        );
        if side.token_role == TokenRole::Guest {
            eprintln!(
                "note: a Guest token pulls only images of public projects (gitlab.token_role = \"guest\"); pulls from private projects need Reporter"
            );
        }
        say_where(side, &args, stored);
        eprintln!(
            "The old token keeps working. Next: `ptc-rollout rotate` with the new token, then `ptc-rollout token revoke-old`."
        );
    }
    Ok(exit::SUCCESS)
}

/// The checks before any call: `[gitlab]`, the API token, and somewhere to store the token.
fn inputs<'r>(
    rollout: &'r Rollout,
    args: &TokenMintArgs,
) -> Result<(&'r GitlabSide, ApiToken), CommandError> {
    let mut problems = Vec::new();
    let (side, api) = side_and_api(rollout, &mut problems);
    if side.is_some_and(|s| s.ci_variable.is_none()) && args.out.is_none() {
        problems.push(Problem::new(
            "--out",
            "nowhere to store the new token: [gitlab] has no ci_variable",
            "set gitlab.ci_variable to the group CI/CD variable the jobs read, or pass --out FILE",
        ));
    }
    if let Err(p) = check_output_path("--out", args.out.as_deref()) {
        problems.push(p);
    }
    if args.out.as_deref() == Some(std::path::Path::new("-")) {
        problems.push(Problem::new(
            "--out",
            "the token never goes to standard output",
            "name a file (it is created with mode 0600)",
        ));
    }
    refuse_if(problems)?;
    Ok((side.expect("checked"), api.expect("checked")))
}

/// Writes the file, then the variable. Says what failed, never the token.
async fn store(
    c: &Gitlab,
    side: &GitlabSide,
    args: &TokenMintArgs,
    existing: Option<Option<Stored>>,
    token: &GitlabToken,
) -> Result<Option<Stored>, String> {
    if let Some(path) = &args.out {
        crate::files::write_atomically(path, |w| token.write_to(w))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    match (&side.ci_variable, existing) {
        (Some(key), Some(existing)) => {
            gitlab_api::store_variable(c, &side.group, key, existing, token)
                .await
                .map(Some)
                .map_err(|e| e.to_string())
        }
        _ => Ok(None),
    }
}

/// The new token could not be stored: revoke it, so no token exists that nobody holds, and
/// remove the file written for it.
async fn unstored(
    c: &Gitlab,
    side: &GitlabSide,
    info: &TokenInfo,
    args: &TokenMintArgs,
    why: String,
) -> CommandError {
    if let Some(path) = &args.out {
        let _ = std::fs::remove_file(path);
    }
    let fate = match gitlab_api::revoke(c, &side.group, info.id).await {
        Ok(()) => "it was revoked again; nothing changed".to_owned(),
        Err(e) => format!(
            "revoking it failed too ({e}): revoke {:?} (id {}) in the group's access tokens",
            info.name, info.id
        ),
    };
    CommandError::Unstored(format!(
        "minted {:?} (id {}) but could not store it: {why}; {fate}",
        info.name, info.id
    ))
}

fn say_where(side: &GitlabSide, args: &TokenMintArgs, stored: Option<Stored>) {
    if let (Some(key), Some(s)) = (&side.ci_variable, stored) {
        let how = if s.created { "created" } else { "updated" };
        eprintln!(
            "Stored in CI/CD variable {key} of group {} ({how}; masked: {}, protected: {}).",
            side.group, s.masked, s.protected
        );
        if !s.masked {
            eprintln!(
                "warning: CI/CD variable {key} is not masked: GitLab shows its value in job logs that print it; mark it Masked in the group's CI/CD settings"
            );
        }
    }
    if let Some(path) = &args.out {
        eprintln!("Written to {} (mode 0600).", path.display());
    }
}
