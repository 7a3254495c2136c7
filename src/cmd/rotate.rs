//! `rotate`: write a new token into every managed secret (canary first), validate, report.
//! Unmanaged secrets are listed, never touched; a secret already holding the token is left as
//! it is, so a re-run writes nothing.

use futures::StreamExt;
use tokio::sync::watch;

use super::{
    conclude, confirm, finish_listing, load_rollout, refuse, token_inputs, with_reporter, Session,
};
use crate::cli::RotateArgs;
use crate::exit;
use crate::cmd::reporter::Output;
use crate::runner::Limits;
use crate::target::Outcome;

pub async fn run(args: RotateArgs, output: Output, interrupt: watch::Receiver<bool>) -> i32 {
    let rollout = match load_rollout(&args.targets) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let (token, problems) = token_inputs(
        &rollout,
        args.token_file.as_deref(),
        args.report.as_deref(),
        args.yes,
        "pass --yes to rotate without asking",
    );
    if !problems.is_empty() {
        return refuse(&problems);
    }
    let token = token.expect("checked above");
    if !args.yes && !confirm("Write the new token into every managed secret of the rollout?").await
    {
        eprintln!("Rotation cancelled; nothing was changed.");
        return exit::TARGET_FAILED;
    }
    let session = match Session::start(rollout).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let limits = Limits {
        max_failures: args.max_failures,
        canary: !args.no_canary,
    };
    let runner = session.runner(args.targets.concurrency.into(), limits, &interrupt);
    let (targets, listing) = session.list_targets();
    let targets = targets.boxed();
    let (results, stop) = with_reporter(output, |tx| async move {
        runner.rotate(targets, token, &tx).await
    })
    .await;
    let listed = finish_listing(listing).await;
    let unmanaged: Vec<_> = results
        .iter()
        .filter(|r| {
            r.outcome == Outcome::Skipped
                && r.observed.as_ref().is_some_and(|o| o.secret.is_unmanaged())
        })
        .collect();
    for r in &unmanaged {
        eprintln!(
            "unmanaged: {} {} ({}): secret left untouched",
            r.target.account_id, r.target.region, r.target.account_name
        );
    }
    conclude(
        output,
        "Rotate",
        args.report.as_deref().into(),
        &session.rollout,
        &results,
        stop.as_ref(),
        listed,
    )
}
