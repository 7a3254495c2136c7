//! `plan`: read every target and show what `apply` would do, with totals. No mutating call.

use tokio::sync::watch;

use super::conclude::{exit_code, print_stop, write_junit};
use super::error::CommandError;
use super::input::{check_junit_path, check_output_path};
use super::reporter::{self, Output};
use super::session::{open_and_read, Listed};
use crate::cli::PlanArgs;
use crate::exit;
use crate::junit;
use crate::plan_file::PlanFile;
use crate::runner::{Pass, Stop};
use crate::target::{Action, Outcome, TargetResult};

pub async fn run(
    args: PlanArgs,
    output: Output,
    interrupt: watch::Receiver<bool>,
) -> Result<i32, CommandError> {
    let outputs = || {
        let out = check_output_path("--out", args.out.as_deref()).err();
        out.into_iter()
            .chain(check_junit_path(args.junit.as_deref()).err())
            .collect()
    };
    let (session, (results, stop), listed) =
        open_and_read(&args.targets, output, interrupt, outputs, Pass::Plan).await?;

    print!("{}", plan_table(&results));
    println!("\n{}", totals(&results));
    for line in reporter::failure_lines(&results) {
        eprintln!("error: {line}");
    }
    print_stop(stop.as_ref());
    // Written whatever the run's end, like a report: an interrupted plan's rows say so.
    write_junit(args.junit.as_deref(), || {
        junit::from_results("ptc-rollout plan", &results, junit::Results::Plan)
    })?;
    if stop == Some(Stop::Interrupted) {
        // An incomplete plan is not saved: applying it would skip the targets never read.
        return Ok(exit::INTERRUPTED);
    }
    if let Some(path) = &args.out {
        let created_at = results
            .first()
            .map(|r| r.checked_at.to_string())
            .unwrap_or_default();
        PlanFile::new(&session.rollout, created_at, results.clone()).save(path)?;
        if !output.quiet {
            eprintln!(
                "Plan saved to {}; apply it with: ptc-rollout apply --config {} --plan {}",
                path.display(),
                args.targets.config.display(),
                path.display()
            );
        }
    }
    if listed == Listed::Cut {
        return Ok(exit::TARGET_FAILED);
    }
    let code = exit_code(&results, stop.as_ref());
    if code == exit::SUCCESS && args.detailed_exitcode && has_changes(&results) {
        return Ok(exit::CHANGES_PENDING);
    }
    Ok(code)
}

/// Whether applying would change anything.
pub(crate) fn has_changes(results: &[Box<TargetResult>]) -> bool {
    results.iter().any(|r| r.outcome == Outcome::Pending)
}

/// One line per target: what `apply` would do there.
fn plan_table(results: &[Box<TargetResult>]) -> String {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let what = match r.outcome {
                Outcome::Unchanged => "nothing".to_owned(),
                Outcome::Pending => reporter::actions(r, true),
                _ => format!("{}: {}", r.outcome, r.failure().unwrap_or_default()),
            };
            let secret = if r.observed.as_ref().is_some_and(|o| o.secret.is_unmanaged()) {
                "unmanaged secret"
            } else {
                ""
            };
            vec![
                r.target.account_id.clone(),
                r.target.account_name.clone(),
                r.target.region.clone(),
                what,
                secret.to_owned(),
            ]
        })
        .collect();
    reporter::table(&["ACCOUNT", "NAME", "REGION", "PLAN", "NOTE"], &rows)
}

/// The plan's totals, by action and by kind of target.
pub(crate) fn totals(results: &[Box<TargetResult>]) -> String {
    let count = |a: Action| {
        results
            .iter()
            .filter(|r| {
                r.decision
                    .as_ref()
                    .is_some_and(|d| d.actions().contains(&a))
            })
            .count()
    };
    let of = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
    format!(
        "Plan: {} targets to change, {} unchanged, {} conflicts, {} failed to read.\n  \
         {} secrets to create, {} secrets to restore, {} rules to create, {} rule credentials to update{}.",
        of(Outcome::Pending),
        of(Outcome::Unchanged),
        of(Outcome::Conflict),
        of(Outcome::Failed),
        count(Action::CreateSecret),
        count(Action::RestoreSecret),
        count(Action::CreateRule),
        count(Action::UpdateRuleCredential),
        match count(Action::AddPullAccess) + count(Action::UpdatePullAccess) {
            0 => String::new(),
            n => format!(", {n} pull access statements to write"),
        }
    )
}
