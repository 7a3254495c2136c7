//! `accounts`: the targeted accounts and Regions (and, with `[[waves]]`, each one's wave), and
//! the skipped accounts with why.

use serde_json::json;
use tokio::sync::watch;

use crate::cli::args::{AccountsArgs, Format};
use crate::cli::context::{open, Context};
use crate::cli::error::CommandError;
use crate::cli::exit;
use crate::cli::output::reporter::{table, Printer};
use crate::data::waves::Waves;
use crate::engine::discovery::Discovery;

pub(crate) async fn run(
    args: AccountsArgs,
    output: Printer,
    interrupt: watch::Receiver<bool>,
) -> Result<i32, CommandError> {
    let (ctx, ()) = open(&args.targets, output, interrupt, |_| Ok(())).await?;
    let d = ctx.discover().await?;
    let waves = if ctx.rollout.waves.is_empty() {
        None
    } else {
        Some(ctx.waves_of(&d).await?)
    };
    let waves = waves.as_ref();
    match args.format {
        Format::Json => output.data_line(json(&ctx, &d, waves)),
        Format::Table => output.data(table_of(&ctx, &d, waves)),
    }
    output.status_line(format_args!(
        "{} account(s) x {} Region(s) = {} targets; {} account(s) skipped",
        d.targeted.len(),
        ctx.rollout.regions.len(),
        d.targeted.len() * ctx.rollout.regions.len(),
        d.skipped.len()
    ));
    Ok(exit::SUCCESS)
}

/// How an account is reached: with the caller's own credentials, or the role assumed in it.
fn access(ctx: &Context, id: &str) -> String {
    if id == ctx.access.caller.account_id {
        "caller's credentials".to_owned()
    } else {
        format!("assume {}", ctx.access.role_name)
    }
}

fn json(ctx: &Context, d: &Discovery, waves: Option<&Waves>) -> String {
    let doc = json!({
        "regions": ctx.rollout.regions,
        "targeted": d.targeted.iter().map(|a| {
            let mut account = json!({
                "account_id": a.id, "account_name": a.name, "state": a.state, "access": access(ctx, &a.id),
            });
            if let Some(w) = waves {
                account["wave"] = json!(w.name_of(&a.id));
            }
            account
        }).collect::<Vec<_>>(),
        "skipped": d.skipped.iter().map(|(a, why)| json!({
            "account_id": a.id, "account_name": a.name, "state": a.state, "reason": why.to_string(),
        })).collect::<Vec<_>>(),
        "unknown_ids": d.unknown_ids,
    });
    serde_json::to_string_pretty(&doc).expect("serialisable")
}

fn table_of(ctx: &Context, d: &Discovery, waves: Option<&Waves>) -> String {
    let regions = ctx.rollout.regions.join(",");
    let rows: Vec<Vec<String>> = d
        .targeted
        .iter()
        .map(|a| {
            let reach = access(ctx, &a.id);
            let mut row = vec![a.id.clone(), a.name.clone(), regions.clone(), reach];
            if let Some(w) = waves {
                row.push(w.name_of(&a.id).unwrap_or_default().to_owned());
            }
            row
        })
        .collect();
    let mut header = vec!["ACCOUNT", "NAME", "REGIONS", "ACCESS"];
    if waves.is_some() {
        header.push("WAVE");
    }
    let mut s = table(&header, &rows);
    if !d.skipped.is_empty() {
        let rows: Vec<Vec<String>> = d
            .skipped
            .iter()
            .map(|(a, why)| vec![a.id.clone(), a.name.clone(), why.to_string()])
            .collect();
        s.push_str("\nSkipped:\n");
        s.push_str(&table(&["ACCOUNT", "NAME", "REASON"], &rows));
    }
    s
}
