//! `apply`: plan (or load a saved plan), confirm, converge every target, validate every rule,
//! write the report. Three modes: a saved plan, `--yes` (one pass, no plan shown), and the
//! interactive plan-confirm-apply; each goes through the rollout file's `[[waves]]` in order,
//! if it has some (see [`crate::cli::waves`]).

use std::sync::Arc;

use futures::stream;

use crate::cli::args::ApplyArgs;
use crate::cli::context::{open, Context, Listed, Ran};
use crate::cli::error::{refuse_if, CommandError};
use crate::cli::exit;
use crate::cli::input::{check_junit_path, confirm, token_inputs};
use crate::cli::output::plan::tell_totals;
use crate::cli::output::printer::Printer;
use crate::cli::output::results::Concluded;
use crate::cli::output::{Cancelled, Finished};
use crate::cli::waves::{check_wave, only, run_in_waves, InWaves};
use crate::config::secrets::Tokens;
use crate::data::target::{Outcome, Target};
use crate::data::waves::Waves;
use crate::engine::runner::{Job, Limits, Pass, Runner, Stop};
use crate::outputs::csv_report::Results;
use crate::outputs::plan_file::PlanFile;
use tokio::sync::watch;

pub(crate) async fn run(
    args: ApplyArgs,
    output: Printer,
    interrupt: watch::Receiver<bool>,
) -> Result<Finished, CommandError> {
    // All input first: nothing reaches AWS until every check has passed.
    let (ctx, (token, saved, wave)) = open(&args.targets, output, interrupt, |rollout| {
        let (token, mut problems) = token_inputs(
            rollout,
            args.token_file.as_deref(),
            args.report.as_deref(),
            args.yes,
            "review `ptc-rollout plan` first, then pass --yes",
        );
        problems.extend(
            check_junit_path(args.junit.as_deref(), ("--report", args.report.as_deref())).err(),
        );
        let saved = args
            .plan
            .as_deref()
            .map(|p| PlanFile::load(p, rollout))
            .transpose()?;
        let wave = check_wave(rollout, args.wave.as_deref()).map_err(|p| problems.push(p));
        refuse_if(problems)?;
        Ok((Arc::new(token), saved, wave.ok().flatten()))
    })
    .await?;
    let runner = ctx.runner(Limits {
        max_failures: args.max_failures,
        canary: !args.no_canary,
        adopt_rules: args.adopt_rules,
    });
    if !ctx.rollout.waves.is_empty() {
        return in_waves(&ctx, &runner, &args, Pass::Apply(token), saved, wave).await;
    }
    let concluded = |ran| {
        Concluded::new(&ctx, "Apply", ran)
            .to(args.report.as_deref(), args.junit.as_deref())
            .finished()
    };
    let (planned, recheck) = match saved {
        Some(plan) => (within_narrowing(&ctx, plan), true),
        // Confirmed up front: one pass, each target read, decided and converged as soon as
        // its account is listed.
        None if args.yes => {
            let ran = ctx.pass_listed(&runner, Pass::Apply(token)).await;
            return Ok(concluded(ran));
        }
        None => match plan_everything(&ctx, &runner, &token).await {
            Ok(planned) => (planned, false),
            Err(Ended::Interrupted(rows)) => return Ok(concluded((rows, Listed::Whole))),
            Err(Ended::ListingCut) => return Ok(Finished::Told(exit::TARGET_FAILED)),
        },
    };
    if !confirmed(&ctx, &planned, args.yes).await {
        return Ok(Finished::Cancelled(Cancelled::Apply));
    }
    let jobs = stream::iter(planned.into_iter().map(move |p| Job::planned(p, recheck)));
    let ran = ctx.pass(&runner, Pass::Apply(token), jobs).await;
    Ok(concluded((ran, Listed::Whole)))
}

/// A saved plan is carried out as it stands, within the narrowing flags.
fn within_narrowing(ctx: &Context, plan: PlanFile) -> Results {
    let r = &ctx.rollout;
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
async fn plan_everything(
    ctx: &Context,
    runner: &Arc<Runner>,
    token: &Arc<Tokens>,
) -> Result<Results, Ended> {
    let plan = Pass::Plan(Some(token.clone()));
    let ((planned, stop), listed) = ctx.pass_listed(runner, plan).await;
    if listed == Listed::Cut {
        return Err(Ended::ListingCut);
    }
    unless_interrupted(planned, stop).map_err(|ran| Ended::Interrupted(*ran))
}

/// The plan, unless it was interrupted: then every row says nothing was written.
fn unless_interrupted(planned: Results, stop: Option<Stop>) -> Result<Results, Box<Ran>> {
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
    Err(Box::new((rows, stop)))
}

/// Shows the plan's totals and asks, unless `--yes` or there is nothing to change.
async fn confirmed(ctx: &Context, planned: &Results, yes: bool) -> bool {
    tell_totals(ctx.output, planned);
    let changing = planned
        .iter()
        .filter(|r| r.outcome == Outcome::Pending)
        .count();
    changing == 0
        || yes
        || confirm(
            ctx.output,
            &format!("Apply these changes to {changing} targets?"),
        )
        .await
}

/// `apply` with `[[waves]]`: the saved plan's waves, or the Organization listed once and its
/// targets put in waves (then planned and confirmed unless `--yes`); then one pass per wave.
async fn in_waves(
    ctx: &Context,
    runner: &Arc<Runner>,
    args: &ApplyArgs,
    pass: Pass,
    saved: Option<PlanFile>,
    wave: Option<usize>,
) -> Result<Finished, CommandError> {
    let (waves, jobs) = match saved {
        Some(mut plan) => {
            let waves = std::mem::take(&mut plan.waves);
            let planned = within_narrowing(ctx, plan);
            let (planned, _) = waves.split(planned, |p| p.target.account_id.as_str());
            (waves, planned_jobs(only(planned, wave), true))
        }
        None => {
            let InWaves { waves, targets } = ctx.partition().await?;
            let targets = only(targets, wave);
            if args.yes {
                (waves, fresh_jobs(targets))
            } else {
                let all = stream::iter(targets.into_iter().flatten().map(Job::fresh));
                let token = match &pass {
                    Pass::Apply(token) => Some(token.clone()),
                    _ => None,
                };
                let (planned, stop) = ctx.pass(runner, Pass::Plan(token), all).await;
                let planned = match unless_interrupted(planned, stop) {
                    Ok(planned) => planned,
                    Err(rows) => return Ok(conclude_in_waves(ctx, args, waves, *rows)),
                };
                if !confirmed(ctx, &planned, false).await {
                    return Ok(Finished::Cancelled(Cancelled::Apply));
                }
                let (planned, _) = waves.split(planned, |p| p.target.account_id.as_str());
                (waves, planned_jobs(planned, false))
            }
        }
    };
    let ran = run_in_waves(ctx, runner, pass, &waves, jobs, args.max_failures).await;
    Ok(conclude_in_waves(ctx, args, waves, ran))
}

fn fresh_jobs(targets: Vec<Vec<Target>>) -> Vec<Vec<Job>> {
    targets
        .into_iter()
        .map(|wave| wave.into_iter().map(Job::fresh).collect())
        .collect()
}

fn planned_jobs(planned: Vec<Results>, recheck: bool) -> Vec<Vec<Job>> {
    planned
        .into_iter()
        .map(|wave| wave.into_iter().map(|p| Job::planned(p, recheck)).collect())
        .collect()
}

/// The report of a run in waves carries each target's wave.
fn conclude_in_waves(ctx: &Context, args: &ApplyArgs, waves: Waves, ran: Ran) -> Finished {
    Concluded {
        waves: Some(waves),
        ..Concluded::new(ctx, "Apply", (ran, Listed::Whole))
            .to(args.report.as_deref(), args.junit.as_deref())
    }
    .finished()
}
