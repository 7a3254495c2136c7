//! `destroy`: remove the rules and secrets ptc-rollout manages, after showing what would go and
//! asking. Secrets go through Secrets Manager's recovery window unless `--force-delete-secrets`.

use std::sync::Arc;

use futures::stream;
use tokio::sync::watch;

use crate::cli::args::DestroyArgs;
use crate::cli::context::{open, Context, Listed};
use crate::cli::error::{refuse_if, CommandError};
use crate::cli::exit;
use crate::cli::input::{check_junit_path, check_output_path, confirm, confirmation_possible};
use crate::cli::output::reporter::{self, Destination, Printer};
use crate::cli::output::results::{conclude, exit_code};
use crate::data::target::{Action, Outcome, RuleState, TargetResult};
use crate::engine::runner::{Job, Limits, Pass, Removal, Runner, Stop};
use crate::outputs::csv_report::Results;

pub(crate) async fn run(
    args: DestroyArgs,
    output: Printer,
    interrupt: watch::Receiver<bool>,
) -> Result<i32, CommandError> {
    let (ctx, ()) = open(&args.targets, output, interrupt, |_| {
        let mut problems: Vec<_> = check_output_path("--report", args.report.as_deref())
            .err()
            .into_iter()
            .collect();
        problems.extend(
            check_junit_path(args.junit.as_deref(), ("--report", args.report.as_deref())).err(),
        );
        problems.extend(confirmation_possible(
            args.yes,
            "review what would be removed, then pass --yes",
        ));
        refuse_if(problems)
    })
    .await?;
    let removal = Removal {
        recovery_days: args.recovery_days,
        force: args.force_delete_secrets,
    };
    let runner = ctx.runner(Limits::default());
    let ran = if args.yes {
        let (ran, listed) = ctx.pass_listed(&runner, Pass::Destroy(removal)).await;
        if listed == Listed::Cut {
            return Ok(exit::TARGET_FAILED);
        }
        ran
    } else {
        let planned = match plan_removal(&ctx, &runner, removal).await? {
            Ok(planned) => planned,
            Err(code) => return Ok(code),
        };
        if !confirmed(output, &planned, &args).await {
            output.always("Destroy cancelled; nothing was changed.");
            return Ok(exit::TARGET_FAILED);
        }
        let jobs = stream::iter(planned.into_iter().map(|p| Job::planned(p, false)));
        ctx.pass(&runner, Pass::Destroy(removal), jobs).await
    };
    conclude(
        &ctx,
        "Destroy",
        Destination {
            junit: args.junit.as_deref(),
            ..args.report.as_deref().into()
        },
        &ran,
        Listed::Whole,
    )
}

/// Reads what would be removed and shows it; the exit code instead when the run ends here
/// (interrupted, or nothing to remove).
async fn plan_removal(
    ctx: &Context,
    runner: &Arc<Runner>,
    removal: Removal,
) -> Result<Result<Results, i32>, CommandError> {
    let ((planned, stop), listed) = ctx.pass_listed(runner, Pass::PlanDestroy(removal)).await;
    if listed == Listed::Cut {
        return Ok(Err(exit::TARGET_FAILED));
    }
    if stop == Some(Stop::Interrupted) {
        return Ok(Err(exit::INTERRUPTED));
    }
    ctx.output.data(plan_table(&planned));
    if !planned.iter().any(|r| r.outcome == Outcome::Pending) {
        ctx.output
            .always("Nothing managed by ptc-rollout to remove.");
        return Ok(Err(exit_code(&planned, None)));
    }
    Ok(Ok(planned))
}

/// Asks before removing, saying how secrets go.
async fn confirmed(printer: Printer, planned: &Results, args: &DestroyArgs) -> bool {
    let removing = planned
        .iter()
        .filter(|r| r.outcome == Outcome::Pending)
        .count();
    let window = if args.force_delete_secrets {
        "at once, without recovery".to_owned()
    } else {
        format!("with a {}-day recovery window", args.recovery_days)
    };
    let question = format!("Remove the managed rule and secret ({window}) in {removing} targets?");
    confirm(printer, &question).await
}

/// What would be removed per target, and what would be left alone.
fn plan_table(planned: &[Box<TargetResult>]) -> String {
    let rows: Vec<Vec<String>> = planned
        .iter()
        .map(|r| {
            let what = match &r.error {
                Some(e) => format!("{}: {e}", r.outcome),
                None => reporter::actions(r, true).replace('-', "nothing managed"),
            };
            let kept = r.observed.as_ref().map_or(String::new(), |o| {
                let actions = r
                    .decision
                    .as_ref()
                    .map(|d| d.actions().to_vec())
                    .unwrap_or_default();
                let mut kept = Vec::new();
                if o.secret.arn().is_some() && !actions.contains(&Action::DeleteSecret) {
                    kept.push("secret (not managed)");
                }
                if matches!(o.rule, RuleState::Present { .. })
                    && !actions.contains(&Action::DeleteRule)
                {
                    kept.push("rule (not using the managed secret)");
                }
                kept.join(", ")
            });
            vec![
                r.target.account_id.clone(),
                r.target.account_name.clone(),
                r.target.region.clone(),
                what,
                kept,
            ]
        })
        .collect();
    reporter::table(
        &["ACCOUNT", "NAME", "REGION", "REMOVE", "LEFT ALONE"],
        &rows,
    )
}
