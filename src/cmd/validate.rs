//! `validate`: ask ECR to validate every target's rule (and with `--probe-image`, pull through
//! each valid one) and write the report. Read-only.

use tokio::sync::watch;

use super::conclude::conclude;
use super::error::{refuse_if, CommandError};
use super::input::{check_junit_path, check_output_path};
use super::reporter::{Destination, Output};
use super::session::open;
use crate::cli::ValidateArgs;
use crate::runner::{Limits, Pass, ProbeSpec};
use crate::work::probe::ImageRef;

pub async fn run(
    args: ValidateArgs,
    output: Output,
    interrupt: watch::Receiver<bool>,
) -> Result<i32, CommandError> {
    let (session, probe) = open(&args.targets, output, interrupt, |_| {
        let mut problems: Vec<_> = check_output_path("--report", args.report.as_deref())
            .err()
            .into_iter()
            .chain(check_junit_path(args.junit.as_deref()).err())
            .collect();
        let image = args
            .probe_image
            .as_deref()
            .map(|i| ImageRef::parse("--probe-image", i))
            .transpose()
            .map_err(|p| problems.push(p))
            .ok()
            .flatten();
        refuse_if(problems)?;
        Ok(image.map(|image| ProbeSpec {
            image,
            as_role: None,
        }))
    })
    .await?;
    let to = Destination {
        path: args.report.as_deref(),
        probe: probe.is_some(),
        junit: args.junit.as_deref(),
        waves: None,
    };
    let runner = session.runner(Limits {
        max_failures: args.max_failures,
        canary: false,
    });
    let (ran, listed) = session.pass_listed(&runner, Pass::Validate(probe)).await;
    conclude(&session, "Validate", to, &ran, listed)
}
