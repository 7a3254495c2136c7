//! The compliance export (`report`): one row per target saying whether it has a working rule
//! and a current credential, and if not, why. Rows are sorted and carry no per-call noise, so
//! two exports diff cleanly.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use serde::Serialize;

mod json;
mod state;
pub(crate) use json::json;
pub use state::State;

use crate::config::{parse_date, GITLAB_REGISTRY_URL};
use crate::data::target::{
    CheckedAt, Ou, Outcome, PullAccessState, RuleState, SecretDates, SecretState, TargetResult,
    Validation,
};
use crate::outputs::csv_report::neutralise;

/// One row of the export. An unknown or absent cell is empty here and in the CSV, `null` in
/// the JSON (serialized so, the CSV writer renders `null` as an empty cell).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub account_id: String,
    pub account_name: String,
    pub region: String,
    /// The row's one classification, which the exit code and the summary count.
    pub state: State,
    pub compliant: bool,
    /// Why not, `; `-separated; empty when compliant. A list in JSON (`json`).
    pub reasons: String,
    /// `present`, `absent` or `conflicting` (another upstream holds the prefix); empty when the
    /// target was not inspected.
    #[serde(serialize_with = "json::empty_as_null")]
    pub rule: &'static str,
    #[serde(serialize_with = "json::empty_as_null")]
    pub upstream_registry_url: String,
    #[serde(serialize_with = "json::empty_as_null")]
    pub credential_arn: String,
    /// `present`, `absent` or `pending_deletion`; empty when the target was not inspected.
    #[serde(serialize_with = "json::empty_as_null")]
    pub secret: &'static str,
    pub secret_managed: Option<bool>,
    #[serde(serialize_with = "json::empty_as_null")]
    pub secret_last_changed: String,
    pub secret_age_days: Option<i64>,
    #[serde(serialize_with = "json::empty_as_null")]
    pub token_expires_on: String,
    pub token_days_left: Option<i64>,
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

/// What GitLab said of the current registry token (`[gitlab]`), which dates every secret that
/// holds it. Without `[gitlab]` the date is the secret's `token-expires-on` tag.
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

/// Builds the export's rows from inspected targets.
pub(crate) fn rows(
    results: &[Box<TargetResult>],
    warning_days: i64,
    current: Option<&CurrentToken>,
) -> Vec<Row> {
    results
        .iter()
        .map(|r| row(r, warning_days, current))
        .collect()
}

fn row(r: &TargetResult, warning_days: i64, current: Option<&CurrentToken>) -> Row {
    let today = r.checked_at.0.div_euclid(86_400);
    let dates = r.secret_dates.as_deref();
    let rule = RuleCells::of(r);
    let (secret, managed, secret_arn) = secret_cells(r);
    let last_changed = dates.and_then(|d| d.last_changed);
    let (expires_on, token_reason) = token_cells(dates, (secret, managed), current);
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
    fn of(r: &TargetResult) -> Self {
        let (kind, url, arn) = match r.observed.as_ref().map(|o| &o.rule) {
            Some(RuleState::Present {
                upstream_registry_url,
                credential_arn,
            }) => (
                if upstream_registry_url == GITLAB_REGISTRY_URL {
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

/// What `token revoke-old` makes of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Revocation {
    /// A valid GitLab rule whose credential is ptc-rollout's secret, which holds the current
    /// token: nothing here uses an older one.
    Proven,
    /// Out of reach for good (an opt-in Region the account has not enabled, as Account
    /// Management confirmed): AWS serves nothing there, so it needs no token. Why.
    Skipped(String),
    /// Still needs an older token, or is not proven not to: why.
    Behind(String),
}

/// Whether a target still needs an older token (`token revoke-old`): anything short of a valid
/// GitLab rule over ptc-rollout's secret holding the current token is behind. A rule over
/// another secret is behind whatever that secret holds: ptc-rollout cannot read it, and a
/// valid rule there may well be valid on the very token about to be revoked.
pub(crate) fn revocation(r: &TargetResult) -> Revocation {
    if let Some(e) = &r.error {
        return if r.outcome == Outcome::Skipped {
            Revocation::Skipped(e.clone())
        } else {
            Revocation::Behind(format!("not inspected: {e}"))
        };
    }
    let (secret, managed, ours) = secret_cells(r);
    let holds = r.secret_dates.as_ref().and_then(|d| d.holds_current);
    let rule = RuleCells::of(r);
    Revocation::Behind(match (secret, managed, holds, rule.kind) {
        ("present", Some(true), Some(true), "present") => match rule_on_ours(r, &rule, ours) {
            Ok(()) => return Revocation::Proven,
            Err(why) => why,
        },
        ("present", Some(true), Some(true), _) => {
            "no pull through cache rule for GitLab".to_owned()
        }
        ("present", Some(true), _, _) => "holds an older token: run rotate".to_owned(),
        ("present", _, _, _) => {
            "secret not managed by ptc-rollout: which token it holds is unknown".to_owned()
        }
        ("pending_deletion", ..) => "secret scheduled for deletion".to_owned(),
        _ => "no secret".to_owned(),
    })
}

/// Whether the GitLab rule uses ptc-rollout's secret `ours` and validates; why not.
fn rule_on_ours(r: &TargetResult, rule: &RuleCells, ours: Option<&str>) -> Result<(), String> {
    if let Some(other) = other_secret(r, rule, ours) {
        return Err(format!(
            "the rule's credential is {other}, not ptc-rollout's secret {}: run apply to point the rule at it (apply --adopt-rules when that secret has another name: another team's rule)",
            ours.unwrap_or_default()
        ));
    }
    match r.validation.as_ref() {
        Some(v) if v.answer() == Some(true) => Ok(()),
        Some(Validation {
            failure: Some(f), ..
        }) => Err(format!("rule not valid: {f}")),
        _ => Err("rule not valid".to_owned()),
    }
}

/// The credential the GitLab rule uses when it is not ptc-rollout's secret `ours`: as read,
/// or as ECR's validation answered (`(none)` for a rule without one).
fn other_secret(r: &TargetResult, rule: &RuleCells, ours: Option<&str>) -> Option<String> {
    let validated = r
        .validation
        .as_ref()
        .and_then(|v| v.credential_arn.as_deref());
    [Some(rule.arn.as_str()), validated]
        .into_iter()
        .flatten()
        .find(|arn| Some(*arn) != ours)
        .map(|arn| {
            if arn.is_empty() {
                "(none)".to_owned()
            } else {
                arn.to_owned()
            }
        })
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

/// The CSV columns, in the order of [`Row`]'s fields.
const COLUMNS: &[&str] = &[
    "account_id",
    "account_name",
    "region",
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
