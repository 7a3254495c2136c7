//! The compliance export's JSON form: the CSV's columns, with `null` for an empty cell and
//! `reasons` as a list.

use super::{Inspection, Row};
use crate::config::Rollout;

/// The JSON form (schemas/report.schema.json): the rollout settings and one object per row,
/// `null` for an unknown cell and `reasons` as a list.
pub(crate) fn json(rollout: &Rollout, rows: &[Row]) -> serde_json::Value {
    let targets: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let mut v = serde_json::to_value(row).expect("plain data");
            v["reasons"] = serde_json::json!(reason_list(row));
            v
        })
        .collect();
    serde_json::json!({ "rollout": header(rollout), "targets": targets })
}

/// A row's reasons, one an item. A target not inspected has one: its error, which may itself
/// hold `; `.
fn reason_list(row: &Row) -> Vec<&str> {
    match (row.reasons.as_str(), row.inspection) {
        ("", _) => Vec::new(),
        (all, Inspection::Inspected) => all.split("; ").collect(),
        (one, _) => vec![one],
    }
}

/// An empty cell (unknown, or nothing there) as `null`.
pub(super) fn empty_as_null<S: serde::Serializer, T: AsRef<str>>(
    v: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v.as_ref() {
        "" => s.serialize_none(),
        v => s.serialize_str(v),
    }
}

/// The rollout settings the export was made for (the JSON form's header): the first
/// upstream's prefix and secret (as before there were several; `null` for an upstream without
/// a secret), and every upstream, which the rows' `upstream` names.
fn header(rollout: &Rollout) -> serde_json::Value {
    let first = rollout.upstreams.first().unwrap_or(&rollout.upstream);
    let secret_name =
        |u: &crate::config::Upstream| u.secret.as_ref().map(|s| s.secret_name.clone());
    let upstreams: Vec<serde_json::Value> = rollout
        .upstreams
        .iter()
        .map(|u| {
            serde_json::json!({
                "name": u.name,
                "registry": u.kind.registry,
                "upstream_registry_url": u.url,
                "ecr_repository_prefix": u.ecr_repository_prefix,
                "secret_name": secret_name(u),
            })
        })
        .collect();
    serde_json::json!({
        "ecr_repository_prefix": first.ecr_repository_prefix,
        "secret_name": secret_name(first),
        "regions": rollout.regions,
        "upstreams": upstreams,
    })
}
