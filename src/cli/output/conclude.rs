//! The end of every command that reports per target: failure lines and the summary on stderr,
//! the report (a CSV file, or a table on stdout) and the JUnit XML, then the exit status.

use std::path::Path;

use crate::cli::context::{Context, Listed, Ran};
use crate::cli::error::CommandError;
use crate::cli::exit;
use crate::cli::output::reporter::{self, Destination, Output};
use crate::config::Rollout;
use crate::data::target::TargetResult;
use crate::engine::runner::Stop;
use crate::outputs::junit;

/// Says on stderr why a pass stopped early.
pub(crate) fn print_stop(stop: Option<&Stop>) {
    match stop {
        None => {}
        Some(Stop::Interrupted) => {
            eprintln!("interrupted: targets never started are reported as not attempted")
        }
        Some(Stop::TooManyFailures { failed, allowed }) => {
            eprintln!("stopped: {failed} targets failed, more than --max-failures {allowed}; the rest were not attempted")
        }
        Some(Stop::CanaryFailed { target, reason }) => eprintln!(
            "stopped: the canary target {} {} failed ({reason}); nothing else was written",
            target.account_id, target.region
        ),
        Some(Stop::WaveFailed { wave, end }) => {
            eprintln!(
                "stopped: {}; the later waves were not started",
                end.why(wave)
            )
        }
    }
}

/// Prints failure lines and the summary on stderr, unless quiet (failures are always printed).
pub(crate) fn print_outcome(output: Output, title: &str, results: &[Box<TargetResult>]) {
    for line in reporter::failure_lines(results) {
        eprintln!("error: {line}");
    }
    if !output.quiet {
        eprint!("{}", reporter::summary(title, results));
    }
}

/// 130 when interrupted, else 0 when every row succeeded, 1 otherwise.
pub(crate) fn exit_code(results: &[Box<TargetResult>], stop: Option<&Stop>) -> i32 {
    if stop == Some(&Stop::Interrupted) {
        exit::INTERRUPTED
    } else if results.iter().any(|r| r.is_failure()) {
        exit::TARGET_FAILED
    } else {
        exit::SUCCESS
    }
}

/// Failure lines and the summary on stderr, the report, then the exit status (130 when
/// interrupted; 1 on a failed row or a listing cut short).
pub(crate) fn conclude(
    ctx: &Context,
    title: &str,
    report: Destination<'_>,
    (results, stop): &Ran,
    listed: Listed,
) -> Result<i32, CommandError> {
    print_outcome(ctx.output, title, results);
    print_stop(stop.as_ref());
    // Both files, whatever became of the other.
    let csv = write_report(report, &ctx.rollout, results);
    let name = format!("ptc-rollout {}", title.to_lowercase());
    write_junit(report.junit, || {
        junit::from_results(&name, results, junit::Results::Run)
    })?;
    csv?;
    if *stop != Some(Stop::Interrupted) && listed == Listed::Cut {
        return Ok(exit::TARGET_FAILED);
    }
    Ok(exit_code(results, stop.as_ref()))
}

/// Writes the report where asked, or prints the results table on stdout.
pub(crate) fn write_report(
    to: Destination<'_>,
    rollout: &Rollout,
    results: &[Box<TargetResult>],
) -> Result<(), CommandError> {
    match to.path {
        Some(path) => crate::outputs::csv_report::save_csv(path, rollout, results, to.columns())
            .map_err(|source| CommandError::Report {
                path: path.to_owned(),
                source,
            }),
        None => {
            print!("{}", reporter::results_table(results, to.probe));
            Ok(())
        }
    }
}

/// Writes the JUnit XML (`--junit`) atomically, when asked for.
pub(crate) fn write_junit(
    path: Option<&Path>,
    report: impl FnOnce() -> quick_junit::Report,
) -> Result<(), CommandError> {
    let Some(path) = path else {
        return Ok(());
    };
    let report = report();
    crate::outputs::atomic_file::write_atomically(path, |w| junit::write(&report, w)).map_err(
        |source| CommandError::Report {
            path: path.to_owned(),
            source,
        },
    )
}
