//! `validate`: ask ECR to validate every target's rule (and with `--probe-image`, given once per
//! upstream at most, pull through each valid rule of the image's upstream) and write the
//! report. Read-only.

use std::collections::BTreeMap;

use tokio::sync::watch;

use crate::cli::args::ValidateArgs;
use crate::cli::commands::probe::{
    check_role, check_unused, checking_pass, pull_spec, registry_token, token_level,
};
use crate::cli::context::open;
use crate::cli::error::{refuse_if, CommandError};
use crate::cli::input::{check_junit_path, check_output_path};
use crate::cli::output::printer::Printer;
use crate::cli::output::results::Concluded;
use crate::cli::output::Finished;
use crate::config::{Problem, Rollout};
use crate::engine::pull::PullSpec;
use crate::engine::runner::{Pass, ProbeSpec};

pub(crate) async fn run(
    args: ValidateArgs,
    output: Printer,
    interrupt: watch::Receiver<bool>,
) -> Result<Finished, CommandError> {
    let (ctx, (pulls, token)) = open(&args.targets, output, interrupt, |rollout| {
        let mut problems: Vec<_> = check_output_path("--report", args.report.as_deref())
            .err()
            .into_iter()
            .chain(
                check_junit_path(args.junit.as_deref(), ("--report", args.report.as_deref())).err(),
            )
            .collect();
        if args.probe_image.is_empty() {
            check_unused(&args.pull, &mut problems);
        }
        let pulls = pulls(&args, rollout, &mut problems);
        check_role(
            "--probe-as-role",
            args.probe_as_role.as_deref(),
            &mut problems,
        );
        refuse_if(problems)?;
        // Every upstream's rule is validated: a token below Reporter is said with or without
        // a pull, as its rule validates while private images do not pull.
        let validated: Vec<&str> = rollout.upstreams.iter().map(|u| u.name.as_str()).collect();
        let token = registry_token(rollout, &validated);
        Ok((pulls, token))
    })
    .await?;
    // With [gitlab], a registry token below Reporter is said before the pass (a rule validates
    // with it, yet private images do not pull), and decides a refused pull's blame.
    let token_level = token_level(&ctx.rollout, token, output).await;
    let spec = (!pulls.is_empty()).then(|| ProbeSpec {
        token_level,
        pulls,
        as_role: args.probe_as_role.clone(),
    });
    let probe = spec.is_some();
    let ran = checking_pass(&ctx, Pass::Validate(spec), args.max_failures).await;
    Ok(Concluded {
        probe,
        ..Concluded::new(&ctx, "Validate", ran).to(args.report.as_deref(), args.junit.as_deref())
    }
    .finished())
}

/// The image of each upstream `--probe-image` names (by the upstream's name); two for one
/// upstream are refused, as a row pulls one image.
fn pulls(
    args: &ValidateArgs,
    rollout: &Rollout,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, PullSpec> {
    let mut pulls: BTreeMap<String, PullSpec> = BTreeMap::new();
    let mut given: BTreeMap<String, &str> = BTreeMap::new();
    for image in &args.probe_image {
        let Some((upstream, pull)) =
            pull_spec("--probe-image", image, &args.pull, rollout, problems)
        else {
            continue;
        };
        if let Some(first) = given.get(&upstream) {
            problems.push(Problem::new(
                "--probe-image",
                format!("{first:?} and {image:?} are both images of upstream {upstream:?}"),
                "give one --probe-image per upstream",
            ));
            continue;
        }
        given.insert(upstream.clone(), image);
        pulls.insert(upstream, pull);
    }
    pulls
}
