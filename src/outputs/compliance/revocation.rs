//! What `token revoke-old` makes of each target: whether it still needs an older GitLab token.

use super::{secret_cells, RuleCells};
use crate::config::GITLAB_REGISTRY_URL;
use crate::data::target::{Outcome, TargetResult, Validation};

/// What `token revoke-old` makes of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Revocation {
    /// A valid GitLab rule whose credential is ptc-rollout's secret, which holds the current
    /// token: nothing here uses an older one.
    Proven,
    /// Out of reach for good (an opt-in Region the account has not enabled, as Account
    /// Management confirmed): AWS serves nothing there, so it needs no token; or the row of an
    /// upstream other than the GitLab token's. Why.
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
    // The inspect pass compares a secret with the GitLab token only in the rows of the
    // upstream that token is for; any other upstream's rows were not asked (no GitLab token
    // there to need).
    if r.secret_dates
        .as_ref()
        .is_some_and(|d| d.holds_current.is_none())
    {
        return Revocation::Skipped(format!(
            "upstream {} does not use the GitLab registry token",
            r.target.upstream
        ));
    }
    let (secret, managed, ours) = secret_cells(r);
    let holds = r.secret_dates.as_ref().and_then(|d| d.holds_current);
    let rule = RuleCells::of(r, GITLAB_REGISTRY_URL);
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
