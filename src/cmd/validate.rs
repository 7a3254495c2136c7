//! `validate`: ask ECR to validate every target's rule and write the report. Read-only.

use tokio::sync::watch;

use super::{
    check_output_path, conclude, finish_listing, load_rollout, refuse, with_reporter, Session,
};
use crate::cli::ValidateArgs;
use crate::report::{Destination, Output};
use crate::runner::{Limits, ProbeSpec};
use crate::work::probe::ImageRef;

pub async fn run(args: ValidateArgs, output: Output, interrupt: watch::Receiver<bool>) -> i32 {
    let rollout = match load_rollout(&args.targets) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut problems: Vec<_> = check_output_path("--report", args.report.as_deref())
        .err()
        .into_iter()
        .collect();
    let probe = match args
        .probe_image
        .as_deref()
        .map(|i| ImageRef::parse("--probe-image", i))
    {
        Some(Ok(image)) => Some(ProbeSpec {
            image,
            as_role: None,
        }),
        Some(Err(p)) => {
            problems.push(p);
            None
        }
        None => None,
    };
    if !problems.is_empty() {
        return refuse(&problems);
    }
    let probing = probe.is_some();
    let session = match Session::start(rollout).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let (targets, listing) = session.list_targets();
    let limits = Limits {
        max_failures: args.max_failures,
        canary: false,
    };
    let runner = session.runner(args.targets.concurrency.into(), limits, &interrupt);
    let (results, stop) = with_reporter(output, |tx| async move {
        runner.validate(targets, probe, &tx).await
    })
    .await;
    let listed = finish_listing(listing).await;
    conclude(
        output,
        "Validate",
        Destination {
            path: args.report.as_deref(),
            probe: probing,
        },
        &session.rollout,
        &results,
        stop.as_ref(),
        listed,
    )
}
