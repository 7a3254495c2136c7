//! `probe`: pull one image through the cache in every target, as `docker pull` starts it, and
//! write the report. Exit 1 if any target cannot pull.

use tokio::sync::watch;

use super::validate::ReadOnly;
use super::{check_output_path, load_rollout, refuse};
use crate::cli::ProbeArgs;
use crate::cmd::reporter::{Destination, Output};
use crate::rollout::{is_role_name, Problem};
use crate::runner::ProbeSpec;
use crate::work::probe::ImageRef;

pub async fn run(args: ProbeArgs, output: Output, interrupt: watch::Receiver<bool>) -> i32 {
    let rollout = match load_rollout(&args.targets) {
        Ok(r) => r,
        Err(code) => return code,
    };
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
    if !problems.is_empty() {
        return refuse(&problems);
    }
    let spec = ProbeSpec {
        image: image.expect("checked above"),
        as_role: args.as_role,
    };
    let to = Destination {
        path: args.report.as_deref(),
        probe: true,
    };
    ReadOnly::new("Probe", &args.targets, args.max_failures)
        .run(
            rollout,
            output,
            interrupt,
            to,
            |runner, targets, tx| async move { runner.probe(targets, spec, &tx).await },
        )
        .await
}
