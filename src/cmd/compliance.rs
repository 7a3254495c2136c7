//! `report`: the read-only compliance export. Exit 0 only when every target is compliant.

use tokio::sync::watch;

use super::{
    check_output_path, finish_listing, load_rollout, print_stop, refuse, with_reporter, Session,
};
use crate::cli::{ReportArgs, ReportFormat};
use crate::compliance;
use crate::exit;
use crate::cmd::reporter::Output;
use crate::runner::{Limits, Stop};

pub async fn run(args: ReportArgs, output: Output, interrupt: watch::Receiver<bool>) -> i32 {
    let rollout = match load_rollout(&args.targets) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if let Err(p) = check_output_path("--out", args.out.as_deref()) {
        return refuse(&[p]);
    }
    let session = match Session::start(rollout).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let runner = session.runner(
        args.targets.concurrency.into(),
        Limits::default(),
        &interrupt,
    );
    let (targets, listing) = session.list_targets();
    let (results, stop) = with_reporter(
        output,
        |tx| async move { runner.inspect(targets, &tx).await },
    )
    .await;
    let listed = finish_listing(listing).await;
    let rows = compliance::rows(&results, args.expiry_warning_days);
    let written = match args.format {
        ReportFormat::Csv => write(args.out.as_deref(), |w| {
            compliance::write_csv(w, &rows).map_err(std::io::Error::other)
        }),
        ReportFormat::Json => {
            let doc = serde_json::json!({ "rollout": compliance::header(&session.rollout), "targets": rows });
            write(args.out.as_deref(), |w| {
                serde_json::to_writer_pretty(w, &doc).map_err(std::io::Error::other)
            })
        }
    };
    if let Err(e) = written {
        eprintln!("error: cannot write the report: {e}");
        return exit::TARGET_FAILED;
    }
    if !output.quiet {
        eprint!("{}", compliance::summary(&rows));
    }
    print_stop(stop.as_ref());
    if stop == Some(Stop::Interrupted) {
        return exit::INTERRUPTED;
    }
    if let Err(code) = listed {
        return code;
    }
    if rows.iter().all(|r| r.compliant) {
        exit::SUCCESS
    } else {
        exit::TARGET_FAILED
    }
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
