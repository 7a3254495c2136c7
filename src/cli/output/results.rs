//! What a command's finished results become, for every command that reports per target:
//! failure lines, the summary and why the run stopped on stderr, the report (a CSV file, or a
//! table on stdout) and the JUnit XML, then the exit status.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::context::{Context, Listed, Ran};
use crate::cli::error::CommandError;
use crate::cli::exit;
use crate::cli::output::printer::Printer;
use crate::cli::output::reporter::{self, Destination};
use crate::cli::output::Finished;
use crate::config::Rollout;
use crate::data::target::{Outcome, TargetResult};
use crate::data::waves::Waves;
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

/// A pass over targets as it ended, with where its report goes: what `apply`, `rotate`,
/// `destroy`, `validate` and `probe` return.
pub(crate) struct Concluded {
    pub title: &'static str,
    pub rollout: Arc<Rollout>,
    pub ran: Ran,
    pub listed: Listed,
    /// `--report` (a CSV file, `-` for stdout), else a table on stdout.
    pub report: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    /// The pull's columns (`probe`, `validate --probe-image`).
    pub probe: bool,
    /// Run in waves: the report's `wave` column.
    pub waves: Option<Waves>,
    /// `rotate`: the unmanaged secrets left untouched are named first.
    pub unmanaged: bool,
}

impl Concluded {
    /// The pass, its report on stdout and no JUnit XML until said otherwise.
    pub(crate) fn new(ctx: &Context, title: &'static str, (ran, listed): (Ran, Listed)) -> Self {
        Concluded {
            title,
            rollout: ctx.rollout.clone(),
            ran,
            listed,
            report: None,
            junit: None,
            probe: false,
            waves: None,
            unmanaged: false,
        }
    }

    /// The report's file (`--report`) and the JUnit XML's (`--junit`).
    pub(crate) fn to(mut self, report: Option<&Path>, junit: Option<&Path>) -> Self {
        self.report = report.map(Path::to_owned);
        self.junit = junit.map(Path::to_owned);
        self
    }

    pub(crate) fn finished(self) -> Finished {
        Finished::Targets(Box::new(self))
    }
}

/// Failure lines and the summary on stderr, the report, then the exit status (130 when
/// interrupted; 1 on a failed row or a listing cut short).
pub(crate) fn render(printer: Printer, c: &Concluded) -> Result<i32, CommandError> {
    let (results, stop) = &c.ran;
    if c.unmanaged {
        unmanaged(printer, results);
    }
    print_outcome(printer, c.title, results);
    print_stop(printer, stop.as_ref());
    let report = Destination {
        path: c.report.as_deref(),
        probe: c.probe,
        junit: c.junit.as_deref(),
        waves: c.waves.as_ref(),
    };
    // Both files, whatever became of the other.
    let csv = write_report(printer, report, &c.rollout, results);
    let name = format!("ptc-rollout {}", c.title.to_lowercase());
    write_junit(report.junit, || {
        junit::from_results(&name, results, junit::Results::Run)
    })?;
    csv?;
    if *stop != Some(Stop::Interrupted) && c.listed == Listed::Cut {
        return Ok(exit::TARGET_FAILED);
    }
    Ok(exit_code(results, stop.as_ref()))
}

/// `rotate`'s secrets that ptc-rollout does not manage, left untouched (even when quiet).
fn unmanaged(printer: Printer, results: &[Box<TargetResult>]) {
    let unmanaged = results.iter().filter(|r| {
        r.outcome == Outcome::Skipped
            && r.observed.as_ref().is_some_and(|o| o.secret.is_unmanaged())
    });
    let several = reporter::several(results);
    for r in unmanaged {
        printer.always(format_args!(
            "unmanaged: {} ({}): secret left untouched",
            reporter::target_words(r, several),
            r.target.account_name
        ));
    }
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
