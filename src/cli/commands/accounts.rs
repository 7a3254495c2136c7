//! `accounts`: the targeted accounts and Regions (and, with `[[waves]]`, each one's wave), and
//! the skipped accounts with why.

use tokio::sync::watch;

use crate::cli::args::AccountsArgs;
use crate::cli::context::open;
use crate::cli::error::CommandError;
use crate::cli::output::accounts::Listing;
use crate::cli::output::printer::Printer;
use crate::cli::output::Finished;

pub(crate) async fn run(
    args: AccountsArgs,
    output: Printer,
    interrupt: watch::Receiver<bool>,
) -> Result<Finished, CommandError> {
    let (ctx, ()) = open(&args.targets, output, interrupt, |_| Ok(())).await?;
    let d = ctx.discover().await?;
    let waves = if ctx.rollout.waves.is_empty() {
        None
    } else {
        Some(ctx.waves_of(&d).await?)
    };
    Ok(Finished::Accounts(Box::new(Listing {
        format: args.format,
        regions: ctx.rollout.regions.clone(),
        upstreams: ctx.rollout.upstreams.len(),
        caller_account_id: ctx.access.caller.account_id.clone(),
        role_name: ctx.access.role_name.clone(),
        discovery: d,
        waves,
    })))
}
