//! `validate`: ask ECR to validate every target's rule (and with `--probe-image`, pull through
//! each valid one) and write the report. Read-only.

use std::future::Future;
use std::sync::Arc;

use futures::stream::BoxStream;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use super::{
    check_output_path, conclude, finish_listing, load_rollout, refuse, with_reporter, Session,
};
use crate::cli::{TargetArgs, ValidateArgs};
use crate::cmd::reporter::{Destination, Output};
use crate::rollout::Rollout;
use crate::runner::{Event, Limits, ProbeSpec, Runner, Stop, Tolerance};
use crate::target::Target;
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
    let to = Destination {
        path: args.report.as_deref(),
        probe: probe.is_some(),
    };
    ReadOnly::new("Validate", &args.targets, args.max_failures)
        .run(
            rollout,
            output,
            interrupt,
            to,
            |runner, targets, tx| async move { runner.validate(targets, probe, &tx).await },
        )
        .await
}

/// A read-only pass over every target as the Organization is listed (`validate`, `probe`).
pub(super) struct ReadOnly {
    pub title: &'static str,
    pub concurrency: usize,
    pub max_failures: Option<Tolerance>,
}

impl ReadOnly {
    pub fn new(title: &'static str, targets: &TargetArgs, max_failures: Option<Tolerance>) -> Self {
        ReadOnly {
            title,
            concurrency: targets.concurrency.into(),
            max_failures,
        }
    }

    /// Starts the session, runs `pass` with the reporter attached, and concludes: failure
    /// lines, summary, report and exit code.
    pub async fn run<F, Fut>(
        self,
        rollout: Rollout,
        output: Output,
        interrupt: watch::Receiver<bool>,
        to: Destination<'_>,
        pass: F,
    ) -> i32
    where
        F: FnOnce(Arc<Runner>, BoxStream<'static, Target>, UnboundedSender<Event>) -> Fut,
        Fut: Future<Output = Option<Stop>>,
    {
        let session = match Session::start(rollout).await {
            Ok(s) => s,
            Err(code) => return code,
        };
        let (targets, listing) = session.list_targets();
        let limits = Limits {
            max_failures: self.max_failures,
            canary: false,
        };
        let runner = session.runner(self.concurrency, limits, &interrupt);
        let (results, stop) = with_reporter(output, |tx| pass(runner, targets, tx)).await;
        let listed = finish_listing(listing).await;
        conclude(
            output,
            self.title,
            to,
            &session.rollout,
            &results,
            stop.as_ref(),
            listed,
        )
    }
}
