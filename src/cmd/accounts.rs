//! `accounts`: the targeted accounts and Regions, and the skipped accounts with why.

use serde_json::json;

use super::{load_rollout, Session};
use crate::cli::{AccountsArgs, Format};
use crate::exit;
use crate::cmd::reporter::{table, Output};

pub async fn run(args: AccountsArgs, output: Output) -> i32 {
    let rollout = match load_rollout(&args.targets) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let session = match Session::start(rollout).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let d = match session.discover().await {
        Ok(d) => d,
        Err(code) => return code,
    };
    let regions = session.rollout.regions.join(",");
    let access = |id: &str| {
        if id == session.access.caller.account_id {
            "caller's credentials".to_owned()
        } else {
            format!("assume {}", session.access.role_name)
        }
    };
    match args.format {
        Format::Json => {
            let doc = json!({
                "regions": session.rollout.regions,
                "targeted": d.targeted.iter().map(|a| json!({
                    "account_id": a.id, "account_name": a.name, "state": a.state, "access": access(&a.id),
                })).collect::<Vec<_>>(),
                "skipped": d.skipped.iter().map(|(a, why)| json!({
                    "account_id": a.id, "account_name": a.name, "state": a.state, "reason": why.to_string(),
                })).collect::<Vec<_>>(),
                "unknown_ids": d.unknown_ids,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).expect("serialisable")
            );
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = d
                .targeted
                .iter()
                .map(|a| vec![a.id.clone(), a.name.clone(), regions.clone(), access(&a.id)])
                .collect();
            print!(
                "{}",
                table(&["ACCOUNT", "NAME", "REGIONS", "ACCESS"], &rows)
            );
            if !d.skipped.is_empty() {
                let rows: Vec<Vec<String>> = d
                    .skipped
                    .iter()
                    .map(|(a, why)| vec![a.id.clone(), a.name.clone(), why.to_string()])
                    .collect();
                println!("\nSkipped:");
                print!("{}", table(&["ACCOUNT", "NAME", "REASON"], &rows));
            }
        }
    }
    if !output.quiet {
        eprintln!(
            "{} account(s) x {} Region(s) = {} targets; {} account(s) skipped",
            d.targeted.len(),
            session.rollout.regions.len(),
            d.targeted.len() * session.rollout.regions.len(),
            d.skipped.len()
        );
    }
    exit::SUCCESS
}
