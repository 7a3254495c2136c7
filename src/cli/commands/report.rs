//! `report`: the read-only compliance export. Exit 0 only when every target is compliant or
//! skipped (see [`compliance::State`]).

use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;

use crate::cli::args::{ReportArgs, ReportFormat};
use crate::cli::commands::token::current_token;
use crate::cli::context::{open, Listed};
use crate::cli::error::refuse_if;
use crate::cli::error::CommandError;
use crate::cli::exit;
use crate::cli::input::{check_junit_path, check_output_path, file_regions, read_token};
use crate::cli::output::reporter::Printer;
use crate::cli::output::results::{print_stop, write_junit};
use crate::config::Problem;
use crate::engine::discovery::Names;
use crate::engine::runner::{Limits, Pass, Stop};
use crate::outputs::compliance;
use crate::outputs::html_matrix::{self, Matrix};
use crate::outputs::junit;

pub(crate) async fn run(
    args: ReportArgs,
    output: Printer,
    interrupt: watch::Receiver<bool>,
) -> Result<i32, CommandError> {
    let html = args.format == ReportFormat::Html;
    let (ctx, (token, columns)) = open(&args.targets, output, interrupt, |rollout| {
        let mut problems: Vec<_> = check_output_path("--out", args.out.as_deref())
            .err()
            .into_iter()
            .chain(check_junit_path(args.junit.as_deref(), ("--out", args.out.as_deref())).err())
            .collect();
        if html && args.out.as_deref().is_none_or(|p| p == Path::new("-")) {
            problems.push(Problem::new(
                "--out",
                "--format html writes a page to open in a browser, not to the terminal",
                "name the page's file, e.g. --out compliance.html",
            ));
        }
        // With [gitlab], the expiry comes from GitLab, asked with the registry token itself.
        let token = rollout
            .gitlab
            .as_ref()
            .and_then(|_| read_token(rollout, args.token_file.as_deref(), &mut problems));
        refuse_if(problems)?;
        // The matrix shows the file's Regions, those left out by --regions as not targeted.
        let columns = if html {
            file_regions(&args.targets, rollout)?
        } else {
            Vec::new()
        };
        Ok((token, columns))
    })
    .await?;
    let current = match (&ctx.rollout.gitlab, &token) {
        (Some(side), Some(token)) => Some(current_token(side, token, output).await?),
        _ => None,
    };
    let runner = ctx.runner(Limits::default());
    let pass = Pass::Inspect(token.map(Arc::new));
    // The matrix groups accounts by OU: the listing walks the tree to name each account's.
    let names = if html { Names::Read } else { Names::Skip };
    let ((results, stop), listed) = ctx.pass_listed_with(&runner, pass, names).await;
    let rows = compliance::rows(&results, args.expiry_warning_days, current.as_ref());
    let written = match args.format {
        ReportFormat::Csv => write(output, args.out.as_deref(), |w| {
            compliance::write_csv(w, &rows).map_err(std::io::Error::other)
        }),
        ReportFormat::Json => {
            let doc = compliance::json(&ctx.rollout, &rows);
            write(output, args.out.as_deref(), |w| {
                serde_json::to_writer_pretty(w, &doc).map_err(std::io::Error::other)
            })
        }
        ReportFormat::Html => {
            let page = Matrix {
                rows: &rows,
                regions: &columns,
                run_regions: &ctx.rollout.regions,
                ecr_repository_prefix: &ctx.rollout.ecr_repository_prefix,
                warning_days: args.expiry_warning_days,
            };
            crate::outputs::atomic_file::write_atomically(
                args.out.as_deref().expect("checked"),
                |w| html_matrix::write_page(w, &page),
            )
        }
    }
    .map_err(CommandError::Export);
    // Written even when the export could not be.
    write_junit(args.junit.as_deref(), || {
        junit::from_rows("ptc-rollout report", &rows, &results)
    })?;
    written?;
    output.status(compliance::summary(&rows));
    print_stop(output, stop.as_ref());
    if stop == Some(Stop::Interrupted) {
        return Ok(exit::INTERRUPTED);
    }
    if listed == Listed::Cut {
        return Ok(exit::TARGET_FAILED);
    }
    Ok(if compliance::passes(&rows) {
        exit::SUCCESS
    } else {
        exit::TARGET_FAILED
    })
}

/// Writes to the file (atomically), or to stdout without one or with `-`.
fn write(
    output: Printer,
    path: Option<&std::path::Path>,
    f: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    match path.filter(|p| *p != Path::new("-")) {
        None => output.write_data(f),
        Some(path) => crate::outputs::atomic_file::write_atomically(path, f),
    }
}
