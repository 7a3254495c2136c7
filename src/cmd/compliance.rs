//! `report`: the read-only compliance export. Exit 0 only when every target is compliant.

use tokio::sync::watch;

use super::conclude::print_stop;
use super::error::CommandError;
use super::reporter::Output;
use super::session::{open_and_read, Listed};
use crate::cli::{ReportArgs, ReportFormat};
use crate::compliance;
use crate::exit;
use crate::runner::{Pass, Stop};

pub async fn run(
    args: ReportArgs,
    output: Output,
    interrupt: watch::Receiver<bool>,
) -> Result<i32, CommandError> {
    let out = ("--out", args.out.as_deref());
    let (session, (results, stop), listed) =
        open_and_read(&args.targets, output, interrupt, out, Pass::Inspect).await?;
    let rows = compliance::rows(&results, args.expiry_warning_days);
    match args.format {
        ReportFormat::Csv => write(args.out.as_deref(), |w| {
            compliance::write_csv(w, &rows).map_err(std::io::Error::other)
        }),
        ReportFormat::Json => {
            let doc = serde_json::json!({ "rollout": compliance::header(&session.rollout), "targets": rows });
            write(args.out.as_deref(), |w| {
                serde_json::to_writer_pretty(w, &doc).map_err(std::io::Error::other)
            })
        }
    }
    .map_err(CommandError::Export)?;
    if !output.quiet {
        eprint!("{}", compliance::summary(&rows));
    }
    print_stop(stop.as_ref());
    if stop == Some(Stop::Interrupted) {
        return Ok(exit::INTERRUPTED);
    }
    if listed == Listed::Cut {
        return Ok(exit::TARGET_FAILED);
    }
    Ok(if rows.iter().all(|r| r.compliant) {
        exit::SUCCESS
    } else {
        exit::TARGET_FAILED
    })
}

/// Writes to the file (atomically) or to stdout.
fn write(
    path: Option<&std::path::Path>,
    f: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    match path {
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            f(&mut out)?;
            writeln!(out)
        }
        Some(path) => crate::files::write_atomically(path, f),
    }
}
