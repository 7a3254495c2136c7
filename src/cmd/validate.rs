//! `validate`: ask ECR to validate every target's rule and write the report. Read-only.

use super::{
    check_output_path, exit_code, load_rollout, print_outcome, refuse, with_reporter, write_report,
    Session,
};
use crate::cli::ValidateArgs;
use crate::exit;
use crate::report::Output;

pub async fn run(args: ValidateArgs, output: Output) -> i32 {
    let rollout = match load_rollout(&args.targets) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if let Err(p) = check_output_path("--report", args.report.as_deref()) {
        return refuse(&[p]);
    }
    let session = match Session::start(rollout).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let d = match session.discover().await {
        Ok(d) => d,
        Err(code) => return code,
    };
    let targets = session.targets(&d);
    let runner = session.runner(args.targets.concurrency.into(), &targets);
    let results = with_reporter(
        output,
        |tx| async move { runner.validate(targets, &tx).await },
    )
    .await;
    print_outcome(output, "Validate", &results);
    let written = write_report(args.report.as_deref(), &session.rollout, &results);
    if written != exit::SUCCESS {
        return written;
    }
    exit_code(&results)
}
