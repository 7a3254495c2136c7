//! How `report` ends: the compliance export (CSV or JSON on stdout or to a file, or the HTML
//! matrix), the JUnit XML, the summary and why the run stopped on stderr, then the exit status.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::args::ReportFormat;
use crate::cli::context::Listed;
use crate::cli::error::CommandError;
use crate::cli::exit;
use crate::cli::output::printer::Printer;
use crate::cli::output::results::{print_stop, write_junit};
use crate::config::Rollout;
use crate::engine::runner::Stop;
use crate::outputs::compliance::{self, Row};
use crate::outputs::csv_report::Results;
use crate::outputs::html_matrix::{self, Matrix};
use crate::outputs::junit;

/// The inspected targets and their compliance rows: what `report` returns.
pub(crate) struct Export {
    pub format: ReportFormat,
    /// `--out` (`-` or none: stdout).
    pub out: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub rollout: Arc<Rollout>,
    /// The HTML matrix's Region columns: the rollout file's, narrowed or not.
    pub columns: Vec<String>,
    /// `--expiry-warning-days`.
    pub warning_days: i64,
    pub rows: Vec<Row>,
    pub results: Results,
    pub stop: Option<Stop>,
    pub listed: Listed,
}

/// Writes the export and the JUnit XML, tells the summary; 0 only when every target passes.
pub(crate) fn render(printer: Printer, e: &Export) -> Result<i32, CommandError> {
    let rows = &e.rows;
    let out = e.out.as_deref();
    let written = match e.format {
        ReportFormat::Csv => write(printer, out, |w| {
            compliance::write_csv(w, rows).map_err(std::io::Error::other)
        }),
        ReportFormat::Json => {
            let doc = compliance::json(&e.rollout, rows);
            write(printer, out, |w| {
                serde_json::to_writer_pretty(w, &doc).map_err(std::io::Error::other)
            })
        }
        ReportFormat::Html => {
            let upstreams: Vec<String> =
                e.rollout.upstreams.iter().map(|u| u.name.clone()).collect();
            let page = Matrix {
                rows,
                regions: &e.columns,
                run_regions: &e.rollout.regions,
                ecr_repository_prefix: e.rollout.prefix(),
                upstreams: &upstreams,
                warning_days: e.warning_days,
            };
            crate::outputs::atomic_file::write_atomically(out.expect("checked"), |w| {
                html_matrix::write_page(w, &page)
            })
        }
    }
    .map_err(CommandError::Export);
    // Written even when the export could not be.
    write_junit(e.junit.as_deref(), || {
        junit::from_rows("ptc-rollout report", rows, &e.results)
    })?;
    written?;
    printer.status(compliance::summary(rows));
    print_stop(printer, e.stop.as_ref());
    if e.stop == Some(Stop::Interrupted) {
        return Ok(exit::INTERRUPTED);
    }
    if e.listed == Listed::Cut {
        return Ok(exit::TARGET_FAILED);
    }
    Ok(if compliance::passes(rows) {
        exit::SUCCESS
    } else {
        exit::TARGET_FAILED
    })
}

/// Writes to the file (atomically), or to stdout without one or with `-`.
fn write(
    printer: Printer,
    path: Option<&Path>,
    f: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    match path.filter(|p| *p != Path::new("-")) {
        None => printer.write_data(f),
        Some(path) => crate::outputs::atomic_file::write_atomically(path, f),
    }
}
