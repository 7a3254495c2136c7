//! `destroy`: remove the rules and secrets ptc-rollout manages, after showing what would go and
//! asking. Secrets go through Secrets Manager's recovery window unless `--force-delete-secrets`.

use futures::StreamExt;
use tokio::sync::watch;

use super::{
    check_output_path, conclude, confirm, confirmation_possible, exit_code, finish_listing,
    load_rollout, refuse, with_reporter, Session,
};
use crate::cli::DestroyArgs;
use crate::exit;
use super::reporter::{self, Output};
use crate::runner::{ApplyJob, Limits, Removal, Stop};
use crate::target::{Action, Outcome, TargetResult};

pub async fn run(args: DestroyArgs, output: Output, interrupt: watch::Receiver<bool>) -> i32 {
    let rollout = match load_rollout(&args.targets) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut problems = Vec::new();
    if let Err(p) = check_output_path("--report", args.report.as_deref()) {
        problems.push(p);
    }
    problems.extend(confirmation_possible(
        args.yes,
        "review what would be removed, then pass --yes",
    ));
    if !problems.is_empty() {
        return refuse(&problems);
    }
    let session = match Session::start(rollout).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let removal = Removal {
        recovery_days: args.recovery_days,
        force: args.force_delete_secrets,
    };
    let runner = session.runner(
        args.targets.concurrency.into(),
        Limits::default(),
        &interrupt,
    );
    let (targets, listing) = session.list_targets();
    let (results, stop) = if args.yes {
        let jobs = targets.map(ApplyJob::fresh).boxed();
        let destroyed = with_reporter(output, |tx| async move {
            runner.destroy(jobs, removal, &tx).await
        })
        .await;
        if let Err(code) = finish_listing(listing).await {
            return code;
        }
        destroyed
    } else {
        let planner = runner.clone();
        let (planned, stop) = with_reporter(output, |tx| async move {
            planner.plan_destroy(targets, removal, &tx).await
        })
        .await;
        if let Err(code) = finish_listing(listing).await {
            return code;
        }
        if stop == Some(Stop::Interrupted) {
            return exit::INTERRUPTED;
        }
        print!("{}", plan_table(&planned));
        let removing = planned
            .iter()
            .filter(|r| r.outcome == Outcome::Pending)
            .count();
        if removing == 0 {
            eprintln!("Nothing managed by ptc-rollout to remove.");
            return exit_code(&planned, None);
        }
        let window = if args.force_delete_secrets {
            "at once, without recovery".to_owned()
        } else {
            format!("with a {}-day recovery window", args.recovery_days)
        };
        if !confirm(&format!(
            "Remove the managed rule and secret ({window}) in {removing} targets?"
        ))
        .await
        {
            eprintln!("Destroy cancelled; nothing was changed.");
            return exit::TARGET_FAILED;
        }
        let jobs = futures::stream::iter(planned.into_iter().map(|p| ApplyJob::planned(p, false)));
        with_reporter(output, |tx| async move {
            runner.destroy(jobs, removal, &tx).await
        })
        .await
    };
    conclude(
        output,
        "Destroy",
        args.report.as_deref().into(),
        &session.rollout,
        &results,
        stop.as_ref(),
        Ok(()),
    )
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
                if matches!(o.rule, crate::target::RuleState::Present { .. })
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
