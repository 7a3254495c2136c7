//! STS's query protocol read into the JSON shape the check walks (`Tags.member.1.Key=..`).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::*;

/// The query protocol's fields, decoded, in order.
pub(super) fn form_pairs(body: &[u8]) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    let body = std::str::from_utf8(body).unwrap_or_default();
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (wire::percent_decode(k), wire::percent_decode(v)))
        .collect()
}

/// The query protocol's flat `A.B.member.1.C` fields rebuilt as the shape's value
/// (emulator/model_check.py's `_query_value`); `Null` where nothing was sent.
pub(super) fn query_value(shape: &Shape, params: &[(Cow<str>, Cow<str>)], prefix: &str) -> Value {
    let get = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let sub = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    match shape.kind {
        Kind::Struct { required, members } => {
            let mut out = Map::new();
            for &(name, member) in members {
                let v = query_value(member, params, &sub(name));
                if !v.is_null() {
                    out.insert(name.into(), v);
                }
            }
            // Required members without constraints: present or not.
            for &name in required {
                if !out.contains_key(name) {
                    if let Some(v) = get(&sub(name)) {
                        out.insert(name.into(), Value::String(v.to_string()));
                    }
                }
            }
            if out.is_empty() && !prefix.is_empty() {
                Value::Null
            } else {
                Value::Object(out)
            }
        }
        Kind::List { member, .. } => {
            let base = format!("{prefix}.member.");
            let mut indices: Vec<u64> = params
                .iter()
                .filter_map(|(k, _)| {
                    let rest = k.strip_prefix(&base)?;
                    let digits = rest.split('.').next()?;
                    digits.parse().ok()
                })
                .collect();
            indices.sort_unstable();
            indices.dedup();
            if indices.is_empty() {
                return match get(prefix) {
                    Some(_) => Value::Array(Vec::new()),
                    None => Value::Null,
                };
            }
            let items = indices
                .iter()
                .map(|i| query_value(member, params, &format!("{base}{i}")))
                .collect();
            Value::Array(items)
        }
        Kind::Int { .. } => match get(prefix) {
            None => Value::Null,
            Some(raw) => raw
                .parse::<i64>()
                .map_or_else(|_| Value::String(raw.to_string()), Value::from),
        },
        // STS's models have no maps in the operations the table holds.
        Kind::Map { .. } => Value::Null,
        Kind::Any | Kind::Str { .. } => {
            get(prefix).map_or(Value::Null, |v| Value::String(v.to_string()))
        }
    }
}
