//! The compliance export (`report`): one row per target saying whether it has a working rule
//! and a current credential, and if not, why. Rows are sorted and carry no per-call noise, so
//! two exports diff cleanly.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

mod csv;
mod json;
mod revocation;
mod state;
pub(crate) use csv::write_csv;
pub(crate) use json::json;
pub(crate) use revocation::{revocation, Revocation};
pub use state::State;

use crate::config::{parse_date, Rollout, Upstream};
use crate::data::target::{
    CheckedAt, Ou, Outcome, PullAccessState, RuleState, SecretDates, SecretState, TargetResult,
    Validation,
};

/// One row of the export. An unknown or absent cell is empty here and in the CSV, `null` in
/// the JSON (serialized so, the CSV writer renders `null` as an empty cell).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub account_id: String,
    pub account_name: String,
    pub region: String,
    /// The upstream's name in the rollout file (`gitlab` in the single form).
    pub upstream: String,
    /// The row's one classification, which the exit code and the summary count.
    pub state: State,
    pub compliant: bool,
    /// Why not, `; `-separated; empty when compliant. A list in JSON (`json`).
    pub reasons: String,
    /// `present` (the rule's URL is the row's upstream's), `absent` or `conflicting` (another
    /// upstream holds the prefix); empty when the target was not inspected.
    #[serde(serialize_with = "json::empty_as_null")]
    pub rule: &'static str,
    #[serde(serialize_with = "json::empty_as_null")]
    pub upstream_registry_url: String,
    #[serde(serialize_with = "json::empty_as_null")]
    pub credential_arn: String,
    /// `present`, `absent` or `pending_deletion`; empty when the target was not inspected, or
    /// when its upstream takes no secret (ECR Public, Quay, Kubernetes, a central ECR).
    #[serde(serialize_with = "json::empty_as_null")]
    pub secret: &'static str,
    pub secret_managed: Option<bool>,
    #[serde(serialize_with = "json::empty_as_null")]
    pub secret_last_changed: String,
    pub secret_age_days: Option<i64>,
    #[serde(serialize_with = "json::empty_as_null")]
    pub token_expires_on: String,
    pub token_days_left: Option<i64>,
    /// Where `token_expires_on` is from: `gitlab` (GitLab's answer on the current token, for
    /// the rows of the upstream `[gitlab]` mints for), `tag` (the secret's `token-expires-on`
    /// tag, which `apply` writes from the upstream's `token_expires_on`), empty without a date.
    #[serde(serialize_with = "json::empty_as_null")]
    pub expiry_source: &'static str,
    /// Empty when the rule was not validated in this run.
    pub is_valid: Option<bool>,
    #[serde(serialize_with = "json::empty_as_null")]
    pub failure: String,
    /// `[pull_access]`: `ok`, `absent` or `differs` (ptc-rollout's registry policy statement);
    /// empty when the rollout file has none.
    #[serde(serialize_with = "json::empty_as_null")]
    pub pull_access: &'static str,
    pub checked_at: String,
    /// The account's parent OU, when the listing named it (the HTML matrix); not a column.
    #[serde(skip)]
    pub ou: Option<Arc<Ou>>,
    /// Whether the target was inspected; not a column (`reasons` says why not).
    #[serde(skip)]
    pub inspection: Inspection,
}

/// Whether a target was inspected, or why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inspection {
    Inspected,
    /// An error (or the run's stop) kept the target from being read.
    Failed,
    /// Out of reach for good: an opt-in Region the account has not enabled.
    Skipped,
}

/// What GitLab said of the current registry token (`[gitlab]`), which dates every secret of
/// its upstream ([`Rollout::token_upstream`]) that holds it. Without `[gitlab]`, and for the
/// other upstreams, the date is the secret's `token-expires-on` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CurrentToken {
    Active {
        expires_on: Option<String>,
        /// The token's GitLab access level when it is below Reporter (pulls from private
        /// projects fail) and the rollout file did not choose Guest; `None` otherwise or when
        /// not known.
        short_role: Option<u64>,
    },
    /// GitLab refused it (401): revoked, expired or wrong.
    Inactive,
}

/// Builds the export's rows from inspected targets, each judged by its own upstream: its URL,
/// whether it takes a secret, and GitLab's word on the token only for the token's upstream.
pub(crate) fn rows(
    rollout: &Rollout,
    results: &[Box<TargetResult>],
    warning_days: i64,
    current: Option<&CurrentToken>,
) -> Vec<Row> {
    let token_upstream = rollout.token_upstream().map(|u| u.name.as_str());
    results
        .iter()
        .map(|r| {
            let upstream =
                crate::outputs::upstream_of(rollout, &r.target).unwrap_or(&rollout.upstream);
            let current = current.filter(|_| token_upstream == Some(upstream.name.as_str()));
            row(r, upstream, warning_days, current)
        })
        .collect()
}

fn row(
    r: &TargetResult,
    upstream: &Upstream,
    warning_days: i64,
    current: Option<&CurrentToken>,
) -> Row {
    let today = r.checked_at.0.div_euclid(86_400);
    let dates = r
        .secret_dates
        .as_deref()
        .filter(|_| upstream.secret.is_some());
    let rule = RuleCells::of(r, &upstream.url);
    let (secret, managed, secret_arn) = match upstream.secret {
        Some(_) => secret_cells(r),
        None => ("", None, None),
    };
    let last_changed = dates.and_then(|d| d.last_changed);
    let (expires_on, token_reason) = token_cells(dates, (secret, managed), current);
    let expiry_source = match (expires_on.is_empty(), current) {
        (true, _) => "",
        (false, Some(_)) => "gitlab",
        (false, None) => "tag",
    };
    let days_left = parse_date(&expires_on).map(|d| d - today);
    let validation = r.validation.as_ref();
    let pull_access = r.observed.as_ref().and_then(|o| o.pull_access);
    let (state, reasons) = match &r.error {
        Some(e) if r.outcome == Outcome::Skipped => (State::Skipped, vec![e.clone()]),
        Some(e) => (State::NotInspected, vec![format!("not inspected: {e}")]),
        None => {
            let mut reasons = setup_reasons(r, &rule, secret, secret_arn);
            reasons.extend(health_reasons(&rule, validation, pull_access));
            reasons.extend(token_reason);
            let wrong = !reasons.is_empty();
            let expiry = expiry_reason(days_left, warning_days);
            let state = match &expiry {
                _ if wrong => State::NonCompliant,
                Some((_, expired)) if *expired => State::NonCompliant,
                Some(_) => State::Warning,
                None => State::Compliant,
            };
            reasons.extend(expiry.map(|(why, _)| why));
            (state, reasons)
        }
    };
    Row {
        account_id: r.target.account_id.clone(),
        account_name: r.target.account_name.clone(),
        region: r.target.region.clone(),
        upstream: r.target.upstream.to_string(),
        state,
        compliant: reasons.is_empty(),
        reasons: reasons.join("; "),
        rule: rule.kind,
        upstream_registry_url: rule.url,
        credential_arn: rule.arn,
        secret,
        secret_managed: managed,
        secret_last_changed: last_changed
            .map(|s| CheckedAt(s).to_string())
            .unwrap_or_default(),
        secret_age_days: last_changed.map(|s| (r.checked_at.0 - s).div_euclid(86_400)),
        token_expires_on: expires_on,
        token_days_left: days_left,
        expiry_source,
        is_valid: validation.and_then(Validation::answer),
        failure: validation
            .filter(|v| !v.is_valid)
            .and_then(|v| v.failure.clone())
            .unwrap_or_default(),
        pull_access: pull_access.map_or("", PullAccessState::as_str),
        checked_at: r.checked_at.to_string(),
        ou: r.target.ou.clone(),
        inspection: match (&r.error, r.outcome) {
            (None, _) => Inspection::Inspected,
            (Some(_), Outcome::Skipped) => Inspection::Skipped,
            (Some(_), _) => Inspection::Failed,
        },
    }
}

/// The rule's cells: `present`, `absent`, `conflicting`, or empty when not inspected.
struct RuleCells {
    kind: &'static str,
    url: String,
    arn: String,
}

impl RuleCells {
    /// The rule as found, `present` when its URL is `url` (the row's upstream's).
    fn of(r: &TargetResult, url: &str) -> Self {
        let (kind, url, arn) = match r.observed.as_ref().map(|o| &o.rule) {
            Some(RuleState::Present {
                upstream_registry_url,
                credential_arn,
                ..
            }) => (
                if upstream_registry_url == url {
                    "present"
                } else {
                    "conflicting"
                },
                upstream_registry_url.clone(),
                credential_arn.clone().unwrap_or_default(),
            ),
            Some(RuleState::Absent) => ("absent", String::new(), String::new()),
            // Not inspected: nothing is known of the rule.
            None => ("", String::new(), String::new()),
        };
        RuleCells { kind, url, arn }
    }
}

/// The secret's state cell, whether ptc-rollout manages it, and its ARN.
fn secret_cells(r: &TargetResult) -> (&'static str, Option<bool>, Option<&str>) {
    match r.observed.as_ref().map(|o| &o.secret) {
        Some(SecretState::Present { arn, managed }) => ("present", Some(*managed), Some(arn)),
        Some(SecretState::PendingDeletion { arn, managed }) => {
            ("pending_deletion", Some(*managed), Some(arn))
        }
        Some(SecretState::Absent) => ("absent", None, None),
        None => ("", None, None),
    }
}

/// Whether the rule and secret are in place and belong together.
fn setup_reasons(
    r: &TargetResult,
    rule: &RuleCells,
    secret: &str,
    secret_arn: Option<&str>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    match rule.kind {
        "absent" => reasons.push("no pull through cache rule".to_owned()),
        "conflicting" => reasons.push(format!("prefix held by another upstream ({})", rule.url)),
        _ if secret_arn.is_some() && Some(rule.arn.as_str()) != secret_arn => {
            reasons.push("rule uses another secret".to_owned())
        }
        _ => {}
    }
    if let Some(key) = r
        .observed
        .as_ref()
        .and_then(|o| o.secret_kms_key.as_deref())
    {
        reasons.push(format!(
            "secret under customer managed KMS key {key} (ECR reads only the default aws/secretsmanager key: re-create the secret without a KMS key)"
        ));
    }
    match secret {
        "absent" => reasons.push("no secret".to_owned()),
        "pending_deletion" => reasons.push("secret scheduled for deletion".to_owned()),
        _ => {}
    }
    reasons
}

/// Whether the rule validated and the pull access statement is as the rollout file says.
fn health_reasons(
    rule: &RuleCells,
    validation: Option<&Validation>,
    pull_access: Option<PullAccessState>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if rule.kind == "present" {
        match validation.and_then(Validation::answer) {
            Some(true) => {}
            Some(false) => reasons.push("rule not valid".to_owned()),
            None => reasons.push("rule not validated".to_owned()),
        }
    }
    match pull_access {
        Some(PullAccessState::Absent) => {
            reasons.push("no pull access statement in the registry policy".to_owned())
        }
        Some(PullAccessState::Differs) => {
            reasons.push("pull access statement differs from [pull_access]".to_owned())
        }
        _ => {}
    }
    reasons
}

/// The token's expiry date, and why the token itself fails the target. With `[gitlab]` the
/// date is GitLab's, and only for a secret that holds the current token; a secret holding
/// another token has no date here (its token is not the one GitLab was asked about).
fn token_cells(
    dates: Option<&SecretDates>,
    (secret, managed): (&str, Option<bool>),
    current: Option<&CurrentToken>,
) -> (String, Option<String>) {
    let Some(current) = current else {
        return (
            dates.and_then(|d| d.expires_on.clone()).unwrap_or_default(),
            None,
        );
    };
    match (dates.and_then(|d| d.holds_current), current) {
        (
            Some(true),
            CurrentToken::Active {
                expires_on,
                short_role,
            },
        ) => (
            expires_on.clone().unwrap_or_default(),
            short_role.map(|l| {
                format!(
                    "token role {}: private projects need Reporter",
                    crate::config::role_name(l).unwrap_or("below Reporter")
                )
            }),
        ),
        (Some(true), CurrentToken::Inactive) => (
            String::new(),
            Some(
                "token not active on GitLab (revoked or expired): run token mint, then rotate"
                    .to_owned(),
            ),
        ),
        (Some(false), _) if secret == "present" => (
            String::new(),
            Some(if managed == Some(true) {
                "secret does not hold the current registry token: run rotate".to_owned()
            } else {
                "secret not managed by ptc-rollout: which token it holds is unknown".to_owned()
            }),
        ),
        _ => (String::new(), None),
    }
}

/// The token's expiry, when it is past or near, and whether it is past. GitLab expires a token
/// at 00:00 UTC on its expiry date (GitLab's token docs; `Expirable`: `expires_at <= now`), so
/// on that day it is already expired (0 days left).
fn expiry_reason(days_left: Option<i64>, warning_days: i64) -> Option<(String, bool)> {
    match days_left {
        Some(d) if d <= 0 => Some(("token expired".to_owned(), true)),
        Some(d) if d <= warning_days => {
            Some((format!("token expires within {warning_days} days"), false))
        }
        _ => None,
    }
}

/// Whether every row lets `report` exit 0 (skipped rows do).
pub(crate) fn passes(rows: &[Row]) -> bool {
    !rows.iter().any(|r| r.state.fails())
}

/// The summary for stderr: the count of each state, then of each reason.
pub(crate) fn summary(rows: &[Row]) -> String {
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.state != State::Compliant) {
        for reason in r.reasons.split("; ") {
            // Group "not inspected: <error>" under one heading.
            let key = reason.split(':').next().unwrap_or(reason).to_owned();
            *reasons.entry(key).or_default() += 1;
        }
    }
    let counts: Vec<String> = State::ALL
        .iter()
        .map(|&state| {
            let n = rows.iter().filter(|r| r.state == state).count();
            format!("{n} {}", state.as_str())
        })
        .collect();
    let mut s = format!(
        "Compliance: {} targets, {}\n",
        rows.len(),
        counts.join(", ")
    );
    for (reason, n) in reasons {
        s.push_str(&format!("  {n:>7}  {reason}\n"));
    }
    s
}

#[cfg(test)]
mod tests;
