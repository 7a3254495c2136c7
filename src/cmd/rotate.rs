//! `rotate`: write a new token into every managed secret (canary first), validate, report.
//! Unmanaged secrets are listed, never touched; a secret already holding the token is left as
//! it is, so a re-run writes nothing.

use std::sync::Arc;

use tokio::sync::watch;

use super::conclude::conclude;
use super::error::{refuse_if, CommandError};
use super::input::{check_junit_path, confirm, token_inputs};
use super::reporter::{Destination, Output};
use super::session::open;
use crate::cli::RotateArgs;
use crate::exit;
use crate::runner::{Limits, Pass};
use crate::target::Outcome;

pub async fn run(
    args: RotateArgs,
    output: Output,
    interrupt: watch::Receiver<bool>,
) -> Result<i32, CommandError> {
    let (session, token) = open(&args.targets, output, interrupt, |rollout| {
        let (token, mut problems) = token_inputs(
            rollout,
            args.token_file.as_deref(),
            args.report.as_deref(),
            args.yes,
            "pass --yes to rotate without asking",
        );
        problems.extend(check_junit_path(args.junit.as_deref()).err());
        refuse_if(problems)?;
        Ok(Arc::new(token.expect("checked above")))
    })
    .await?;
    if !args.yes && !confirm("Write the new token into every managed secret of the rollout?").await
    {
        eprintln!("Rotation cancelled; nothing was changed.");
        return Ok(exit::TARGET_FAILED);
    }
    let runner = session.runner(Limits {
        max_failures: args.max_failures,
        canary: !args.no_canary,
    });
    let (ran, listed) = session.pass_listed(&runner, Pass::Rotate(token)).await;
    let unmanaged = ran.0.iter().filter(|r| {
        r.outcome == Outcome::Skipped
            && r.observed.as_ref().is_some_and(|o| o.secret.is_unmanaged())
    });
    for r in unmanaged {
        eprintln!(
            "unmanaged: {} {} ({}): secret left untouched",
            r.target.account_id, r.target.region, r.target.account_name
        );
    }
    let to = Destination {
        junit: args.junit.as_deref(),
        ..args.report.as_deref().into()
    };
    conclude(&session, "Rotate", to, &ran, listed)
}
