//! `apply`: plan (or load a saved plan), confirm, converge every target, validate every rule,
//! write the report.

use tokio::sync::watch;

use super::plan::totals;
use super::{
    conclude, confirm, finish_listing, load_rollout, refuse, token_inputs, with_reporter, Session,
};
use crate::cli::ApplyArgs;
use crate::exit;
use crate::plan_file::PlanFile;
use crate::cmd::reporter::Output;
use futures::StreamExt;

use crate::rows::Results;
use crate::runner::{ApplyJob, Limits, Stop, Work};
use crate::target::Outcome;

pub async fn run(args: ApplyArgs, output: Output, interrupt: watch::Receiver<bool>) -> i32 {
    // All input first: nothing reaches AWS until every check has passed.
    let rollout = match load_rollout(&args.targets) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let (token, problems) = token_inputs(
        &rollout,
        args.token_file.as_deref(),
        args.report.as_deref(),
        args.yes,
        "review `ptc-rollout plan` first, then pass --yes",
    );
    let saved = match args.plan.as_deref().map(|p| PlanFile::load(p, &rollout)) {
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
        Some(Ok(plan)) => Some(plan),
        None => None,
    };
    if !problems.is_empty() {
        return refuse(&problems);
    }
    let token = token.expect("checked above");

    let session = match Session::start(rollout).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let limits = Limits {
        max_failures: args.max_failures,
        canary: !args.no_canary,
    };
    let runner = session.runner(args.targets.concurrency.into(), limits, &interrupt);
    let (planned, recheck): (Results, bool) = match saved {
        // A saved plan is carried out as it stands, within the narrowing flags.
        Some(plan) => {
            let r = &session.rollout;
            let planned = plan
                .targets
                .into_iter()
                .filter(|t| r.regions.contains(&t.target.region))
                .filter(|t| {
                    r.accounts
                        .as_ref()
                        .is_none_or(|a| a.contains(&t.target.account_id))
                })
                .collect::<Results>();
            (planned, true)
        }
        // Confirmed up front: one pass, each target read, decided and converged as soon as its
        // account is listed.
        None if args.yes => {
            let (targets, listing) = session.list_targets();
            let jobs = targets.map(ApplyJob::fresh).boxed();
            let (results, stop) =
                with_reporter(
                    output,
                    |tx| async move { runner.apply(jobs, token, &tx).await },
                )
                .await;
            let listed = finish_listing(listing).await;
            return conclude(
                output,
                "Apply",
                args.report.as_deref().into(),
                &session.rollout,
                &results,
                stop.as_ref(),
                listed,
            );
        }
        // Interactive: plan everything, show the totals, ask, then converge what was planned.
        None => {
            let (targets, listing) = session.list_targets();
            let planner = runner.clone();
            let (planned, stop) =
                with_reporter(output, |tx| async move { planner.plan(targets, &tx).await }).await;
            if let Err(code) = finish_listing(listing).await {
                return code;
            }
            if stop == Some(Stop::Interrupted) {
                // Interrupted while planning: nothing was written; every row says so.
                let why = "not attempted: the run was interrupted while planning";
                let rows: Results = planned
                    .into_iter()
                    .map(|p| {
                        let at = p.checked_at;
                        Box::new(ApplyJob::planned(p, false).not_started(why, at))
                    })
                    .collect();
                return conclude(
                    output,
                    "Apply",
                    args.report.as_deref().into(),
                    &session.rollout,
                    &rows,
                    stop.as_ref(),
                    Ok(()),
                );
            }
            (planned, false)
        }
    };
    if !output.quiet {
        eprintln!("{}", totals(&planned));
    }
    let changing = planned
        .iter()
        .filter(|r| r.outcome == Outcome::Pending)
        .count();
    if changing > 0
        && !args.yes
        && !confirm(&format!("Apply these changes to {changing} targets?")).await
    {
        eprintln!("Apply cancelled; nothing was changed.");
        return exit::TARGET_FAILED;
    }
    let jobs = futures::stream::iter(
        planned
            .into_iter()
            .map(move |p| ApplyJob::planned(p, recheck)),
    );
    let (results, stop) =
        with_reporter(
            output,
            |tx| async move { runner.apply(jobs, token, &tx).await },
        )
        .await;
    conclude(
        output,
        "Apply",
        args.report.as_deref().into(),
        &session.rollout,
        &results,
        stop.as_ref(),
        Ok(()),
    )
}
