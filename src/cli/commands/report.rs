//! `report`: the read-only compliance export. Exit 0 only when every target is compliant or
//! skipped (see [`compliance::State`]).

use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;

use crate::cli::args::{ReportArgs, ReportFormat};
use crate::cli::commands::token::current_token;
use crate::cli::context::open;
use crate::cli::error::refuse_if;
use crate::cli::error::CommandError;
use crate::cli::input::{check_junit_path, check_output_path, file_regions, read_token};
use crate::cli::output::compliance_export::Export;
use crate::cli::output::printer::Printer;
use crate::cli::output::Finished;
use crate::config::Problem;
use crate::engine::discovery::Names;
use crate::engine::runner::{Limits, Pass};
use crate::outputs::compliance;

pub(crate) async fn run(
    args: ReportArgs,
    output: Printer,
    interrupt: watch::Receiver<bool>,
) -> Result<Finished, CommandError> {
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
    let pass = Pass::Inspect(token.map(|t| Arc::new(ctx.rollout.tokens_of(t))));
    // The matrix groups accounts by OU: the listing walks the tree to name each account's.
    let names = if html { Names::Read } else { Names::Skip };
    let ((results, stop), listed) = ctx.pass_listed_with(&runner, pass, names).await;
    let rows = compliance::rows(
        &ctx.rollout,
        &results,
        args.expiry_warning_days,
        current.as_ref(),
    );
    Ok(Finished::Compliance(Box::new(Export {
        format: args.format,
        out: args.out,
        junit: args.junit,
        rollout: ctx.rollout.clone(),
        columns,
        warning_days: args.expiry_warning_days,
        rows,
        results,
        stop,
        listed,
    })))
}
