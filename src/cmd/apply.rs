//! `apply`: plan (or load a saved plan), confirm, converge every target, validate every rule,
//! write the report. Three modes: a saved plan, `--yes` (one pass, no plan shown), and the
//! interactive plan-confirm-apply.

use std::sync::Arc;

use futures::stream;

use super::conclude::conclude;
use super::error::{refuse_if, CommandError};
use super::input::{check_junit_path, confirm, token_inputs};
use super::plan::totals;
use super::reporter::{Destination, Output};
use super::session::{open, Listed, Ran, Session};
use crate::cli::ApplyArgs;
use crate::exit;
use crate::plan_file::PlanFile;
use crate::rows::Results;
use crate::runner::{Job, Limits, Pass, Runner, Stop};
use crate::target::Outcome;
use tokio::sync::watch;

pub async fn run(
    args: ApplyArgs,
    output: Output,
    interrupt: watch::Receiver<bool>,
) -> Result<i32, CommandError> {
    // All input first: nothing reaches AWS until every check has passed.
    let (session, (token, saved)) = open(&args.targets, output, interrupt, |rollout| {
        let (token, mut problems) = token_inputs(
            rollout,
            args.token_file.as_deref(),
            args.report.as_deref(),
            args.yes,
            "review `ptc-rollout plan` first, then pass --yes",
        );
        problems.extend(check_junit_path(args.junit.as_deref()).err());
        let saved = args
            .plan
            .as_deref()
            .map(|p| PlanFile::load(p, rollout))
            .transpose()?;
        refuse_if(problems)?;
        Ok((Arc::new(token.expect("checked above")), saved))
    })
    .await?;
    let runner = session.runner(Limits {
        max_failures: args.max_failures,
        canary: !args.no_canary,
    });
    let report = Destination {
        junit: args.junit.as_deref(),
        ..args.report.as_deref().into()
    };
    let (planned, recheck) = match saved {
        Some(plan) => (within_narrowing(&session, plan), true),
        // Confirmed up front: one pass, each target read, decided and converged as soon as
        // its account is listed.
        None if args.yes => {
            let (ran, listed) = session.pass_listed(&runner, Pass::Apply(token)).await;
            return conclude(&session, "Apply", report, &ran, listed);
        }
        None => match plan_everything(&session, &runner).await {
            Ok(planned) => (planned, false),
            Err(Ended::Interrupted(rows)) => {
                return conclude(&session, "Apply", report, &rows, Listed::Whole)
            }
            Err(Ended::ListingCut) => return Ok(exit::TARGET_FAILED),
        },
    };
    if !confirmed(&session, &planned, args.yes).await {
        eprintln!("Apply cancelled; nothing was changed.");
        return Ok(exit::TARGET_FAILED);
    }
    let jobs = stream::iter(planned.into_iter().map(move |p| Job::planned(p, recheck)));
    let ran = session.pass(&runner, Pass::Apply(token), jobs).await;
    conclude(&session, "Apply", report, &ran, Listed::Whole)
}

/// A saved plan is carried out as it stands, within the narrowing flags.
fn within_narrowing(session: &Session, plan: PlanFile) -> Results {
    let r = &session.rollout;
    plan.targets
        .into_iter()
        .filter(|t| r.regions.contains(&t.target.region))
        .filter(|t| {
            r.accounts
                .as_ref()
                .is_none_or(|a| a.contains(&t.target.account_id))
        })
        .collect()
}

/// Why the interactive plan ends the run before anything is written.
enum Ended {
    /// Interrupted while planning: every row says nothing was written.
    Interrupted(Ran),
    ListingCut,
}

/// Plans every target.
async fn plan_everything(session: &Session, runner: &Arc<Runner>) -> Result<Results, Ended> {
    let ((planned, stop), listed) = session.pass_listed(runner, Pass::Plan).await;
    if listed == Listed::Cut {
        return Err(Ended::ListingCut);
    }
    if stop != Some(Stop::Interrupted) {
        return Ok(planned);
    }
    let why = "not attempted: the run was interrupted while planning";
    let rows: Results = planned
        .into_iter()
        .map(|p| {
            let at = p.checked_at;
            Box::new(Job::planned(p, false).not_started(why, at))
        })
        .collect();
    Err(Ended::Interrupted((rows, stop)))
}

/// Shows the plan's totals and asks, unless `--yes` or there is nothing to change.
async fn confirmed(session: &Session, planned: &Results, yes: bool) -> bool {
    if !session.output.quiet {
        eprintln!("{}", totals(planned));
    }
    let changing = planned
        .iter()
        .filter(|r| r.outcome == Outcome::Pending)
        .count();
    changing == 0 || yes || confirm(&format!("Apply these changes to {changing} targets?")).await
}
