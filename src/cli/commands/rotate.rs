//! `rotate`: write a new token into every managed secret (canary first), validate, report.
//! Unmanaged secrets are listed, never touched; a secret already holding the token is left as
//! it is, so a re-run writes nothing. With `[[waves]]`, wave by wave (see [`crate::cli::waves`]).

use std::sync::Arc;

use tokio::sync::watch;

use crate::cli::args::RotateArgs;
use crate::cli::context::{open, Listed};
use crate::cli::error::{refuse_if, CommandError};
use crate::cli::input::{check_junit_path, confirm, token_inputs};
use crate::cli::output::printer::Printer;
use crate::cli::output::results::Concluded;
use crate::cli::output::{Cancelled, Finished};
use crate::cli::waves::{check_wave, only, run_in_waves, InWaves};
use crate::config::{Problem, Rollout};
use crate::engine::runner::{Job, Limits, Pass};

pub(crate) async fn run(
    args: RotateArgs,
    output: Printer,
    interrupt: watch::Receiver<bool>,
) -> Result<Finished, CommandError> {
    let (ctx, (token, wave)) = open(&args.targets, output, interrupt, |rollout| {
        one_token(rollout)?;
        let (token, mut problems) = token_inputs(
            rollout,
            args.token_file.as_deref(),
            args.report.as_deref(),
            args.yes,
            "pass --yes to rotate without asking",
        );
        problems.extend(
            check_junit_path(args.junit.as_deref(), ("--report", args.report.as_deref())).err(),
        );
        let wave = check_wave(rollout, args.wave.as_deref()).map_err(|p| problems.push(p));
        refuse_if(problems)?;
        Ok((Arc::new(token), wave.ok().flatten()))
    })
    .await?;
    let question = "Write the new token into every managed secret of the rollout?";
    if !args.yes && !confirm(output, question).await {
        return Ok(Finished::Cancelled(Cancelled::Rotation));
    }
    let runner = ctx.runner(Limits {
        max_failures: args.max_failures,
        canary: !args.no_canary,
        adopt_rules: false,
    });
    let pass = Pass::Rotate(token);
    let (ran, listed, waves) = if ctx.rollout.waves.is_empty() {
        let (ran, listed) = ctx.pass_listed(&runner, pass).await;
        (ran, listed, None)
    } else {
        let InWaves { waves, targets } = ctx.partition().await?;
        let jobs = only(targets, wave)
            .into_iter()
            .map(|w| w.into_iter().map(Job::fresh).collect())
            .collect();
        let ran = run_in_waves(&ctx, &runner, pass, &waves, jobs, args.max_failures).await;
        (ran, Listed::Whole, Some(waves))
    };
    Ok(Concluded {
        waves,
        unmanaged: true,
        ..Concluded::new(&ctx, "Rotate", (ran, listed))
            .to(args.report.as_deref(), args.junit.as_deref())
    }
    .finished())
}

/// A rotation writes one upstream's token: the one `--upstream` names, or the only one that
/// takes a token. The rollout keeps only that upstream.
fn one_token(rollout: &mut Rollout) -> Result<(), CommandError> {
    let with_token: Vec<String> = rollout
        .upstreams
        .iter()
        .filter(|u| u.secret.is_some())
        .map(|u| u.name.clone())
        .collect();
    match with_token.as_slice() {
        [only] => rollout
            .only_upstream(only)
            .map_err(|p| CommandError::Refused(vec![p])),
        [] => Err(CommandError::Refused(vec![Problem::new(
            "--upstream",
            "names an upstream that takes no token, so there is nothing to rotate",
            "name an upstream whose entry has a secret_name",
        )])),
        several => Err(CommandError::Refused(vec![Problem::new(
            "--upstream",
            format!("is missing: {} upstreams take a token", several.len()),
            format!(
                "name the one whose token is rotated, one of {}",
                several.join(",")
            ),
        )])),
    }
}
