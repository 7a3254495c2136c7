//! `token revoke-old`: revoke the group's other ptc-rollout tokens, but only once every target
//! is proven to no longer need them: each holds the current token (by its version id; the
//! secret's value is never read) under a valid rule. Otherwise nothing is revoked.

use std::sync::Arc;

use tokio::sync::watch;

use super::{registry_token_info, side_and_api};
use crate::cli::TokenRevokeArgs;
use crate::cmd::conclude::print_stop;
use crate::cmd::error::{refuse_if, CommandError};
use crate::cmd::input::read_token;
use crate::cmd::input::{check_output_path, confirm, confirmation_possible};
use crate::cmd::reporter::Output;
use crate::cmd::session::{Listed, Session};
use crate::compliance::{self, CurrentToken};
use crate::exit;
use crate::gitlab_api::{self, Gitlab, GitlabError, TokenInfo};
use crate::rollout::{GitlabSide, Rollout};
use crate::runner::{Limits, Pass, Stop};
use crate::token::{ApiToken, GitlabToken};

pub(crate) async fn run(
    args: TokenRevokeArgs,
    output: Output,
    interrupt: watch::Receiver<bool>,
) -> Result<i32, CommandError> {
    // Every target, always (no narrowing flags): a narrowed check could not prove the old
    // tokens unused.
    let rollout = Rollout::load(&args.config)?;
    let (side, token, api) = inputs(&rollout, &args)?;
    let Some(current) = registry_token_info(&side, &token).await? else {
        return Err(GitlabError::inactive_registry_token().into());
    };
    let c = Gitlab::with_api_token(&side.api_url, &api, &side.api_token_env);
    let old: Vec<TokenInfo> = gitlab_api::group_tokens(&c, &side.group)
        .await?
        .into_iter()
        .filter(|t| t.active && t.minted_by_ptc() && t.id != current.id)
        .collect();
    // Nothing to revoke: no need to check the targets, unless a report of the check is asked.
    if old.is_empty() && args.report.is_none() {
        if !output.quiet {
            eprintln!(
                "No other active token minted by ptc-rollout in group {}: nothing to revoke.",
                side.group
            );
        }
        return Ok(exit::SUCCESS);
    }
    let session = Session::start(rollout, output, args.concurrency.into(), interrupt).await?;
    let runner = session.runner(Limits::default());
    let pass = Pass::Inspect(Some(Arc::new(token)));
    let ((results, stop), listed) = session.pass_listed(&runner, pass).await;
    if let Some(path) = &args.report {
        let now = CurrentToken::Active {
            expires_on: current.expires_at.clone(),
            short_role: None,
        };
        let rows = compliance::rows(&results, 0, Some(&now));
        crate::files::write_atomically(path, |w| {
            compliance::write_csv(w, &rows).map_err(std::io::Error::other)
        })
        .map_err(|source| CommandError::Report {
            path: path.clone(),
            source,
        })?;
    }
    print_stop(stop.as_ref());
    if stop == Some(Stop::Interrupted) {
        return Ok(exit::INTERRUPTED);
    }
    let behind: Vec<String> = results
        .iter()
        .filter_map(|r| {
            compliance::revocation_blocker(r).map(|why| {
                let t = &r.target;
                format!("{} {} ({}): {why}", t.account_id, t.region, t.account_name)
            })
        })
        .collect();
    if !behind.is_empty() || listed == Listed::Cut {
        for line in &behind {
            eprintln!("still needs an old token: {line}");
        }
        if listed == Listed::Cut {
            eprintln!("the Organization was not listed to its end: targets may be missing");
        }
        eprintln!(
            "Revoked nothing: {} of {} targets are not proven on the current token {:?} (id {}). Run `ptc-rollout rotate`, then revoke-old again.",
            behind.len(),
            results.len(),
            current.name,
            current.id
        );
        return Ok(exit::TARGET_FAILED);
    }
    if old.is_empty() {
        if !output.quiet {
            eprintln!("All {} targets are valid and hold the current token; no other active token minted by ptc-rollout: nothing to revoke.", results.len());
        }
        return Ok(exit::SUCCESS);
    }
    if !output.quiet {
        eprintln!(
            "All {} targets are valid and hold the current token {:?} (id {}).",
            results.len(),
            current.name,
            current.id
        );
    }
    if !args.yes && !confirm(&question(&old, &side)).await {
        eprintln!("Revocation cancelled; nothing was revoked.");
        return Ok(exit::TARGET_FAILED);
    }
    revoke_all(&c, &side, &old, output).await
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

fn question(old: &[TokenInfo], side: &GitlabSide) -> String {
    let names: Vec<String> = old
        .iter()
        .map(|t| format!("{:?} (id {})", t.name, t.id))
        .collect();
    format!("Revoke {} in group {}?", names.join(", "), side.group)
}

/// Revokes each old token; one failure does not stop the others, and each is named.
async fn revoke_all(
    c: &Gitlab,
    side: &GitlabSide,
    old: &[TokenInfo],
    output: Output,
) -> Result<i32, CommandError> {
    let mut failed = 0;
    for t in old {
        match gitlab_api::revoke(c, &side.group, t.id).await {
            Ok(()) if output.quiet => {}
            Ok(()) => eprintln!("revoked {:?} (id {})", t.name, t.id),
            Err(e) => {
                failed += 1;
                eprintln!("error: not revoked {:?} (id {}): {e}", t.name, t.id);
            }
        }
    }
    Ok(if failed == 0 {
        exit::SUCCESS
    } else {
        exit::GITLAB_FAILED
    })
}
