//! `token revoke-old`: revoke the ptc-rollout tokens GitLab created before the current one,
//! but only once every target is proven to no longer need them: each has a valid rule whose
//! credential is ptc-rollout's secret, holding the current token (by its version id; the
//! secret's value is never read). Otherwise nothing is revoked. A token newer than the current
//! one is never a candidate: run with an older token, revoke-old refuses.

use std::sync::Arc;

use tokio::sync::watch;

use super::{registry_token_info, side_and_api};
use crate::cli::args::TokenRevokeArgs;
use crate::cli::context::Context;
use crate::cli::error::{refuse_if, CommandError};
use crate::cli::input::read_token;
use crate::cli::input::{check_junit_path, check_output_path, confirm, confirmation_possible};
use crate::cli::output::printer::Printer;
use crate::cli::output::results::write_junit;
use crate::cli::output::revocation::{self, Check, Ended, Revoked};
use crate::cli::output::{Cancelled, Finished};
use crate::config::secrets::{ApiToken, GitlabToken, TokenSource};
use crate::config::{GitlabSide, Problem, Rollout};
use crate::engine::runner::{Limits, Pass};
use crate::gitlab::{self, Gitlab, GitlabError, TokenInfo};
use crate::outputs::compliance::{self, CurrentToken};

pub(crate) async fn run(
    args: TokenRevokeArgs,
    output: Printer,
    interrupt: watch::Receiver<bool>,
) -> Result<Finished, CommandError> {
    // Every target, always (no narrowing flags): a narrowed check could not prove the old
    // tokens unused.
    let rollout = Rollout::load(&args.config)?;
    let (side, token, api) = inputs(&rollout, &args)?;
    let Some(current) = registry_token_info(&side, &token).await? else {
        return Err(GitlabError::inactive_registry_token().into());
    };
    let c = Gitlab::with_api_token(&side.api_url, &api, &side.api_token_env);
    let old = older_tokens(gitlab::group_tokens(&c, &side.group).await?, &current)
        .map_err(|newer| stale_token(&rollout, &args, &side, &current, &newer))?;
    // Nothing to revoke: no need to check the targets, unless a report of the check is asked.
    if old.is_empty() && args.report.is_none() && args.junit.is_none() {
        return Ok(Finished::Revocation(Ended::NothingOld(side.group)));
    }
    let ctx = Context::start(rollout, output, args.concurrency.into(), interrupt).await?;
    let runner = ctx.runner(Limits::default());
    let pass = Pass::Inspect(Some(Arc::new(ctx.rollout.tokens_of(token))));
    let ((results, stop), listed) = ctx.pass_listed(&runner, pass).await;
    if let Some(path) = &args.report {
        let now = CurrentToken::Active {
            expires_on: current.expires_at.clone(),
            short_role: None,
        };
        let rows = compliance::rows(&ctx.rollout, &results, 0, Some(&now));
        crate::outputs::atomic_file::write_atomically(path, |w| {
            compliance::write_csv(w, &rows).map_err(std::io::Error::other)
        })
        .map_err(|source| CommandError::Report {
            path: path.clone(),
            source,
        })?;
    }
    write_junit(args.junit.as_deref(), || {
        crate::outputs::junit::from_revocation("ptc-rollout token revoke-old", &results)
    })?;
    let check = Check::of((&results, stop), listed, &current);
    if check.interrupted() {
        return Ok(Finished::Revocation(Ended::Interrupted(check)));
    }
    if !check.proven() {
        return Ok(Finished::Revocation(Ended::NotProven(check)));
    }
    if old.is_empty() {
        return Ok(Finished::Revocation(Ended::ProvenNothingOld(check)));
    }
    revocation::proven(output, &check);
    if !args.yes && !confirm(output, &question(&old, &side)).await {
        return Ok(Finished::Cancelled(Cancelled::Revocation));
    }
    let revoked = revoke_all(&c, &side, &old).await;
    Ok(Finished::Revocation(Ended::Revoked(revoked)))
}

/// The checks before any call: `[gitlab]`, both tokens, the report path, confirmation.
fn inputs(
    rollout: &Rollout,
    args: &TokenRevokeArgs,
) -> Result<(GitlabSide, GitlabToken, ApiToken), CommandError> {
    let mut problems = Vec::new();
    let (side, api) = side_and_api(rollout, &mut problems);
    let token = read_token(rollout, args.token_file.as_deref(), &mut problems);
    if let Err(p) = check_output_path("--report", args.report.as_deref()) {
        problems.push(p);
    }
    problems.extend(
        check_junit_path(args.junit.as_deref(), ("--report", args.report.as_deref())).err(),
    );
    problems.extend(confirmation_possible(
        args.yes,
        "review the check's result, then pass --yes",
    ));
    refuse_if(problems)?;
    Ok((
        side.expect("checked").clone(),
        token.expect("checked"),
        api.expect("checked"),
    ))
}

/// The group's active tokens ptc-rollout minted before `current`, or, when GitLab holds one
/// created after it (the token given is not the newest), those newer ones.
fn older_tokens(
    group: Vec<TokenInfo>,
    current: &TokenInfo,
) -> Result<Vec<TokenInfo>, Vec<TokenInfo>> {
    // The group's list dates the current token as it dates the others, when it lists it.
    let current = group.iter().find(|t| t.id == current.id).unwrap_or(current);
    let (old, newer): (Vec<_>, Vec<_>) = group
        .iter()
        .filter(|t| t.active && t.minted_by_ptc() && t.id != current.id)
        .cloned()
        .partition(|t| t.created_before(current));
    if newer.is_empty() {
        Ok(old)
    } else {
        Err(newer)
    }
}

/// The refusal when the token given is older than one ptc-rollout minted since: revoking by it
/// could revoke the token a later mint stored and a rotate is rolling out. Nothing is checked
/// or revoked; exit 2, the token source being the input to fix.
fn stale_token(
    rollout: &Rollout,
    args: &TokenRevokeArgs,
    side: &GitlabSide,
    current: &TokenInfo,
    newer: &[TokenInfo],
) -> CommandError {
    let names: Vec<String> = newer
        .iter()
        .map(|t| {
            let created = t.created_at.as_deref().unwrap_or("unknown");
            format!("{:?} (id {}, created {created})", t.name, t.id)
        })
        .collect();
    let stored = match &side.ci_variable {
        Some(key) => {
            format!("token mint stored it in the group CI/CD variable {key} (gitlab.ci_variable)")
        }
        None => {
            "token mint stored it only in its --out file (gitlab.ci_variable is not set)".to_owned()
        }
    };
    CommandError::Refused(vec![Problem::new(
        TokenSource::choose(args.token_file.as_deref(), rollout.gitlab_token_env()).field(),
        format!(
            "the registry token given is {:?} (id {}), but ptc-rollout minted a newer one that is active in group {}: {}; {stored}. Revoked nothing",
            current.name,
            current.id,
            side.group,
            names.join(", ")
        ),
        "run revoke-old with the newest token, once rotate has written it into every target",
    )])
}

fn question(old: &[TokenInfo], side: &GitlabSide) -> String {
    let names: Vec<String> = old
        .iter()
        .map(|t| format!("{:?} (id {})", t.name, t.id))
        .collect();
    format!("Revoke {} in group {}?", names.join(", "), side.group)
}

/// Revokes each old token; one failure does not stop the others, and each is named.
async fn revoke_all(c: &Gitlab, side: &GitlabSide, old: &[TokenInfo]) -> Vec<Revoked> {
    let mut revoked = Vec::new();
    for t in old {
        let refused = gitlab::revoke(c, &side.group, t.id).await.err();
        revoked.push(Revoked {
            name: t.name.clone(),
            id: t.id,
            refused: refused.map(|e| e.to_string()),
        });
    }
    revoked
}
