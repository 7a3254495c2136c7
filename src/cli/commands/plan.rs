//! `plan`: read every target and show what `apply` would do, with totals. No mutating call.
//! With `[[waves]]`, grouped by wave, and the saved plan records the waves.

use std::sync::Arc;

use futures::stream;
use tokio::sync::watch;

use crate::cli::args::PlanArgs;
use crate::cli::context::{open, Listed};
use crate::cli::error::{refuse_if, CommandError};
use crate::cli::input::{check_junit_path, check_output_path, read_tokens_given};
use crate::cli::output::plan::Planned;
use crate::cli::output::printer::Printer;
use crate::cli::output::Finished;
use crate::cli::waves::{check_wave, only, InWaves};
use crate::data::waves::Waves;
use crate::engine::runner::{Job, Limits, Pass};

pub(crate) async fn run(
    args: PlanArgs,
    output: Printer,
    interrupt: watch::Receiver<bool>,
) -> Result<Finished, CommandError> {
    let (ctx, (wave, token)) = open(&args.targets, output, interrupt, |rollout| {
        let mut problems: Vec<_> = check_output_path("--out", args.out.as_deref())
            .err()
            .into_iter()
            .chain(check_junit_path(args.junit.as_deref(), ("--out", args.out.as_deref())).err())
            .collect();
        let wave = check_wave(rollout, args.wave.as_deref()).map_err(|p| problems.push(p));
        // The token is optional here: without it, a secret's value is not judged.
        let token = read_tokens_given(rollout, args.token_file.as_deref(), &mut problems);
        refuse_if(problems)?;
        Ok((wave.ok().flatten(), Some(Arc::new(token))))
    })
    .await?;
    let runner = ctx.runner(Limits {
        adopt_rules: args.adopt_rules,
        ..Limits::default()
    });
    let (ran, listed, waves) = if ctx.rollout.waves.is_empty() {
        let (ran, listed) = ctx.pass_listed(&runner, Pass::Plan(token)).await;
        (ran, listed, Waves::default())
    } else {
        // Read-only: one pass over every wave's targets, grouped by wave afterwards.
        let InWaves { waves, targets } = ctx.partition().await?;
        let all = stream::iter(only(targets, wave).into_iter().flatten().map(Job::fresh));
        let ran = ctx.pass(&runner, Pass::Plan(token), all).await;
        (ran, Listed::Whole, waves)
    };
    Ok(Finished::Plan(Box::new(Planned {
        rollout: ctx.rollout.clone(),
        ran,
        listed,
        waves,
        junit: args.junit,
        save: args.out.map(|out| (out, args.targets.config)),
        detailed_exitcode: args.detailed_exitcode,
    })))
}
