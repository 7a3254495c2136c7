//! `probe`: pull one image through the cache in every target, as `docker pull` starts it, and
//! write the report. Exit 1 if any target cannot pull.

use tokio::sync::watch;

use super::conclude::conclude;
use super::error::{refuse_if, CommandError};
use super::input::{check_junit_path, check_output_path};
use super::reporter::{Destination, Output};
use super::session::open;
use crate::cli::ProbeArgs;
use crate::rollout::{is_role_name, Problem};
use crate::runner::{Limits, Pass, ProbeSpec};
use crate::work::probe::ImageRef;

pub async fn run(
    args: ProbeArgs,
    output: Output,
    interrupt: watch::Receiver<bool>,
) -> Result<i32, CommandError> {
    let (session, spec) = open(&args.targets, output, interrupt, |_| {
        let mut problems = Vec::new();
        let image = ImageRef::parse("--image", &args.image)
            .map_err(|p| problems.push(p))
            .ok();
        if let Some(role) = args.as_role.as_deref().filter(|r| !is_role_name(r)) {
            problems.push(Problem::new(
                "--as-role",
                format!("{role:?} is not an IAM role name"),
                "give the role's name in each account (not its ARN), e.g. eks-node-role",
            ));
        }
        problems.extend(check_output_path("--report", args.report.as_deref()).err());
        problems.extend(check_junit_path(args.junit.as_deref()).err());
        refuse_if(problems)?;
        Ok(ProbeSpec {
            image: image.expect("checked above"),
            as_role: args.as_role.clone(),
        })
    })
    .await?;
    let to = Destination {
        path: args.report.as_deref(),
        probe: true,
        junit: args.junit.as_deref(),
        waves: None,
    };
    let runner = session.runner(Limits {
        max_failures: args.max_failures,
        canary: false,
    });
    let (ran, listed) = session.pass_listed(&runner, Pass::Probe(spec)).await;
    conclude(&session, "Probe", to, &ran, listed)
}
