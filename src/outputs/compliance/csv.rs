//! The compliance export's CSV form: [`Row`]'s fields as columns, cells neutralised.

use std::io::Write;

use super::Row;
use crate::outputs::csv_report::neutralise;

/// The CSV columns, in the order of [`Row`]'s fields.
const COLUMNS: &[&str] = &[
    "account_id",
    "account_name",
    "region",
    "upstream",
    "state",
    "compliant",
    "reasons",
    "rule",
    "upstream_registry_url",
    "credential_arn",
    "secret",
    "secret_managed",
    "secret_last_changed",
    "secret_age_days",
    "token_expires_on",
    "token_days_left",
    "expiry_source",
    "is_valid",
    "failure",
    "pull_access",
    "checked_at",
];

/// Writes the rows as CSV (RFC 4180, cells neutralised against formulas).
pub(crate) fn write_csv<W: Write>(out: W, rows: &[Row]) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(COLUMNS)?;
    for row in rows {
        let record: Vec<String> = serde_json::to_value(row)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .map(|o| {
                COLUMNS
                    .iter()
                    .map(|k| o.get(*k).map(cell).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        w.write_record(record.iter().map(|c| neutralise(c).into_owned()))?;
    }
    w.flush()?;
    Ok(())
}

fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
