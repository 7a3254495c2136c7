//! `plan`: read every target and show what `apply` would do, with totals. No mutating call.
//! With `[[waves]]`, grouped by wave, and the saved plan records the waves.

use std::sync::Arc;

use futures::stream;
use tokio::sync::watch;

use crate::cli::args::PlanArgs;
use crate::cli::commands::waves::{check_wave, only, InWaves};
use crate::cli::context::{open, Listed};
use crate::cli::error::{refuse_if, CommandError};
use crate::cli::exit;
use crate::cli::input::{check_junit_path, check_output_path, read_token};
use crate::cli::output::plan::{by_wave, plan_table, totals};
use crate::cli::output::reporter::{self, Printer};
use crate::cli::output::results::{exit_code, print_stop, write_junit};
use crate::data::target::{Outcome, TargetResult};
use crate::data::waves::Waves;
use crate::engine::runner::{Job, Limits, Pass, Stop};
use crate::outputs::junit;
use crate::outputs::plan_file::PlanFile;

pub(crate) async fn run(
    args: PlanArgs,
    output: Printer,
    interrupt: watch::Receiver<bool>,
) -> Result<i32, CommandError> {
    let (ctx, (wave, token)) = open(&args.targets, output, interrupt, |rollout| {
        let mut problems: Vec<_> = check_output_path("--out", args.out.as_deref())
            .err()
            .into_iter()
            .chain(check_junit_path(args.junit.as_deref(), ("--out", args.out.as_deref())).err())
            .collect();
        let wave = check_wave(rollout, args.wave.as_deref()).map_err(|p| problems.push(p));
        // The token is optional here: without it, a secret's value is not judged.
        let token = (args.token_file.is_some() || std::env::var_os(&rollout.token_env).is_some())
            .then(|| read_token(rollout, args.token_file.as_deref(), &mut problems))
            .flatten();
        refuse_if(problems)?;
        Ok((wave.ok().flatten(), token.map(Arc::new)))
    })
    .await?;
    let runner = ctx.runner(Limits {
        adopt_rules: args.adopt_rules,
        ..Limits::default()
    });
    let ((results, stop), listed, waves) = if ctx.rollout.waves.is_empty() {
        let (ran, listed) = ctx.pass_listed(&runner, Pass::Plan(token)).await;
        (ran, listed, Waves::default())
    } else {
        // Read-only: one pass over every wave's targets, grouped by wave afterwards.
        let InWaves { waves, targets } = ctx.partition().await?;
        let all = stream::iter(only(targets, wave).into_iter().flatten().map(Job::fresh));
        let ran = ctx.pass(&runner, Pass::Plan(token), all).await;
        (ran, Listed::Whole, waves)
    };

    if waves.is_empty() {
        output.data(plan_table(results.iter().map(|r| &**r)));
    } else {
        output.data(by_wave(&waves, &results));
    }
    output.data_line(format_args!("\n{}", totals(&results)));
    for line in reporter::failure_lines(&results) {
        output.error(line);
    }
    print_stop(output, stop.as_ref());
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
        PlanFile::new(&ctx.rollout, created_at, waves, results.clone()).save(path)?;
        output.status_line(format_args!(
            "Plan saved to {}; apply it with: ptc-rollout apply --config {} --plan {}",
            path.display(),
            args.targets.config.display(),
            path.display()
        ));
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
