//! The plan pass in one target (`plan`, and the plan `apply` and `destroy` make when not given
//! one): observe, then decide; with the token, whether a managed secret needs it. No mutating call.

use super::destroy::{decide_destroy, observe_for_destroy, Removal};
use super::ending::end_with;
use super::validate::validate_guarded;
use super::Cx;
use crate::aws::clients::Regional;
use crate::config::secrets::GitlabToken;
use crate::data::target::{Action, Decision, Outcome, Target, TargetResult};
use crate::engine::resources;
use crate::engine::runner::Job;

/// Observes the target, then decides what `apply` would do there (or, given how secrets
/// are removed, what `destroy` would). No mutating call. `token`: the token `apply` would
/// write, when known (see [`token_needed`]).
pub(super) async fn plan_one(
    cx: &Cx<'_>,
    t: Target,
    destroy: Option<Removal>,
    token: Option<&GitlabToken>,
) -> TargetResult {
    plan_with_clients(cx, t, destroy, token).await.0
}

/// [`plan_one`], and the Region's clients it read with, so that a pass converging
/// right after planning builds no second set (building them is a fifth of a target's CPU).
pub(super) async fn plan_with_clients(
    cx: &Cx<'_>,
    t: Target,
    destroy: Option<Removal>,
    token: Option<&GitlabToken>,
) -> (TargetResult, Option<Regional>) {
    let r = TargetResult::new(t, Outcome::Failed, cx.now());
    let c = match cx.regional(&r.target).await {
        Ok(c) => c,
        Err(e) => return (end_with(cx, r, e).await, None),
    };
    let observed = match destroy {
        None => resources::observe_with_version(&c, &r.target, cx.rollout).await,
        Some(_) => (observe_for_destroy(cx, &c, &r.target).await).map(|o| (o, None)),
    };
    let (observed, version) = match observed {
        Ok(o) => o,
        Err(e) => return (end_with(cx, r, e).await, None),
    };
    let mut decision = match destroy {
        None => resources::decide(&observed, cx.rollout, cx.limits.adopt_rules),
        Some(removal) => decide_destroy(&observed, cx.rollout, removal.force),
    };
    if let (Decision::Change { actions }, Some(token)) = (&mut decision, token) {
        let behind =
            resources::token_behind(&observed, version.as_deref(), &r.target, cx.rollout, token);
        if let Some(arn) = behind {
            if token_needed(cx, &c, &r.target, arn, actions).await {
                // First: a rule created or repointed after it meets the token already.
                actions.insert(0, Action::UpdateToken);
            }
        }
    }
    let mut r = TargetResult {
        observed: Some(observed),
        ..r
    };
    r.outcome = match &decision {
        Decision::Conflict { reason } => {
            r.error = Some(reason.clone());
            Outcome::Conflict
        }
        Decision::Change { actions } if actions.is_empty() => Outcome::Unchanged,
        Decision::Change { .. } => Outcome::Pending,
    };
    r.decision = Some(decision);
    (r, Some(c))
}

/// The job's plan: as planned, or made now (with the clients it read with).
pub(super) async fn plan_of(
    cx: &Cx<'_>,
    job: Job,
    destroy: Option<Removal>,
    token: Option<&GitlabToken>,
) -> (TargetResult, Option<Regional>) {
    match job.planned {
        Some(planned) => (*planned, None),
        None => plan_with_clients(cx, job.target, destroy, token).await,
    }
}

/// Whether the managed secret `arn`, which does not hold the token, gets it although it
/// exists: when a rule is about to use it (created, or pointed at it: nothing can be
/// validated first), or when the rule using it does not validate (a restore killed before
/// it stored the token leaves the old, maybe revoked, one). A rule that validates keeps
/// its token until `rotate`: a converged target gets no write.
async fn token_needed(
    cx: &Cx<'_>,
    c: &Regional,
    t: &Target,
    arn: &str,
    actions: &[Action],
) -> bool {
    if actions.iter().any(|a| {
        matches!(
            a,
            Action::CreateRule | Action::UpdateRuleCredential | Action::AdoptRule
        )
    }) {
        return true;
    }
    let v = validate_guarded(cx, c, t, Some(arn)).await;
    // Not asked (the breaker, an error): nothing known, nothing written.
    v.checked && !v.skipped && !v.is_valid
}
