//! What a command's finished results become, for every command that reports per target:
//! failure lines, the summary and why the run stopped on stderr, the report (a CSV file, or a
//! table on stdout) and the JUnit XML, then the exit status.

use std::path::Path;

use crate::cli::context::{Context, Listed, Ran};
use crate::cli::error::CommandError;
use crate::cli::exit;
use crate::cli::output::printer::Printer;
use crate::cli::output::reporter::{self, Destination};
use crate::config::Rollout;
use crate::data::target::TargetResult;
use crate::engine::runner::{Event, Stop};
use crate::outputs::junit;

/// Says on stderr why a pass stopped early.
pub(crate) fn print_stop(printer: Printer, stop: Option<&Stop>) {
    if let Some(stop) = stop {
        reporter::tell(printer, &Event::Stopped(stop.clone()));
    }
}

/// Prints failure lines (even when quiet) and the summary on stderr.
pub(crate) fn print_outcome(printer: Printer, title: &str, results: &[Box<TargetResult>]) {
    for line in reporter::failure_lines(results) {
        printer.error(line);
    }
    printer.status(reporter::summary(title, results));
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
    print_stop(ctx.output, stop.as_ref());
    // Both files, whatever became of the other.
    let csv = write_report(ctx.output, report, &ctx.rollout, results);
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
    printer: Printer,
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
            printer.data(reporter::results_table(results, to.probe));
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
