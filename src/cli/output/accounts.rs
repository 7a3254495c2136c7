//! How `accounts` reads: the targeted accounts (with their wave, under `[[waves]]`) and the
//! skipped ones with why, as a table or a JSON document on stdout, and the count on stderr.

use serde_json::json;

use crate::cli::args::Format;
use crate::cli::exit;
use crate::cli::output::printer::Printer;
use crate::cli::output::reporter::table;
use crate::data::waves::Waves;
use crate::engine::discovery::Discovery;

/// The Organization as listed for the rollout: what `accounts` returns.
pub(crate) struct Listing {
    pub format: Format,
    pub regions: Vec<String>,
    /// The rollout's upstreams: each (account, Region) is a target of each.
    pub upstreams: usize,
    /// The account the caller's own credentials are in (no role assumed there).
    pub caller_account_id: String,
    /// The role assumed in every other account.
    pub role_name: String,
    pub discovery: Discovery,
    /// With `[[waves]]`, each account's wave.
    pub waves: Option<Waves>,
}

/// The listing on stdout, the count on stderr; always 0.
pub(crate) fn render(printer: Printer, l: &Listing) -> i32 {
    match l.format {
        Format::Json => printer.data_line(json(l)),
        Format::Table => printer.data(table_of(l)),
    }
    let d = &l.discovery;
    let upstreams = match l.upstreams {
        1 => String::new(),
        n => format!(" x {n} upstreams"),
    };
    printer.status_line(format_args!(
        "{} account(s) x {} Region(s){upstreams} = {} targets; {} account(s) skipped",
        d.targeted.len(),
        l.regions.len(),
        d.targeted.len() * l.regions.len() * l.upstreams.max(1),
        d.skipped.len()
    ));
    exit::SUCCESS
}

/// How an account is reached: with the caller's own credentials, or the role assumed in it.
fn access(l: &Listing, id: &str) -> String {
    if id == l.caller_account_id {
        "caller's credentials".to_owned()
    } else {
        format!("assume {}", l.role_name)
    }
}

fn json(l: &Listing) -> String {
    let (d, waves) = (&l.discovery, l.waves.as_ref());
    let doc = json!({
        "regions": l.regions,
        "targeted": d.targeted.iter().map(|a| {
            let mut account = json!({
                "account_id": a.id, "account_name": a.name, "state": a.state, "access": access(l, &a.id),
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

fn table_of(l: &Listing) -> String {
    let (d, waves) = (&l.discovery, l.waves.as_ref());
    let regions = l.regions.join(",");
    let rows: Vec<Vec<String>> = d
        .targeted
        .iter()
        .map(|a| {
            let reach = access(l, &a.id);
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
