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
use crate::cli::output::printer::Printer;
use crate::cli::output::removal_plan;
use crate::cli::output::results::{exit_code, Concluded};
use crate::cli::output::{Cancelled, Finished};
use crate::data::target::Outcome;
use crate::engine::runner::{Job, Limits, Pass, Removal, Runner, Stop};
use crate::outputs::csv_report::Results;

pub(crate) async fn run(
    args: DestroyArgs,
    output: Printer,
    interrupt: watch::Receiver<bool>,
) -> Result<Finished, CommandError> {
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
            return Ok(Finished::Told(exit::TARGET_FAILED));
        }
        ran
    } else {
        let planned = match plan_removal(&ctx, &runner, removal).await {
            Ok(planned) => planned,
            Err(ended) => return Ok(ended),
        };
        if !confirmed(output, &planned, &args).await {
            return Ok(Finished::Cancelled(Cancelled::Destroy));
        }
        let jobs = stream::iter(planned.into_iter().map(|p| Job::planned(p, false)));
        ctx.pass(&runner, Pass::Destroy(removal), jobs).await
    };
    Ok(Concluded::new(&ctx, "Destroy", (ran, Listed::Whole))
        .to(args.report.as_deref(), args.junit.as_deref())
        .finished())
}

/// Reads what would be removed and shows it, before the question; how the command ends
/// instead when it ends here (interrupted, or nothing to remove).
async fn plan_removal(
    ctx: &Context,
    runner: &Arc<Runner>,
    removal: Removal,
) -> Result<Results, Finished> {
    let ((planned, stop), listed) = ctx.pass_listed(runner, Pass::PlanDestroy(removal)).await;
    if listed == Listed::Cut {
        return Err(Finished::Told(exit::TARGET_FAILED));
    }
    if stop == Some(Stop::Interrupted) {
        return Err(Finished::Told(exit::INTERRUPTED));
    }
    removal_plan::show(ctx.output, &planned);
    if !planned.iter().any(|r| r.outcome == Outcome::Pending) {
        return Err(Finished::NothingToRemove(exit_code(&planned, None)));
    }
    Ok(planned)
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
