//! `validate`: ask ECR to validate every target's rule (and with `--probe-image`, pull through
//! each valid one) and write the report. Read-only.

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
use crate::engine::runner::{Pass, ProbeSpec};

pub(crate) async fn run(
    args: ValidateArgs,
    output: Printer,
    interrupt: watch::Receiver<bool>,
) -> Result<Finished, CommandError> {
    let (ctx, (pull, token)) = open(&args.targets, output, interrupt, |rollout| {
        let mut problems: Vec<_> = check_output_path("--report", args.report.as_deref())
            .err()
            .into_iter()
            .chain(
                check_junit_path(args.junit.as_deref(), ("--report", args.report.as_deref())).err(),
            )
            .collect();
        let pull = match args.probe_image.as_deref() {
            Some(i) => pull_spec("--probe-image", i, &args.pull, &mut problems),
            None => {
                check_unused(&args.pull, &mut problems);
                None
            }
        };
        check_role(
            "--probe-as-role",
            args.probe_as_role.as_deref(),
            &mut problems,
        );
        refuse_if(problems)?;
        Ok((pull, registry_token(rollout)))
    })
    .await?;
    // With [gitlab], a registry token below Reporter is said before the pass (a rule validates
    // with it, yet private images do not pull), and decides a refused pull's blame.
    let token_level = token_level(&ctx.rollout, token, output).await;
    let spec = pull.map(|pull| ProbeSpec {
        token_level,
        pull,
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
