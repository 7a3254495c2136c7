//! The apply pass in one target: its plan (as saved, re-read if asked, or made now), the
//! canary's turn, then converge ([`crate::engine::resources::apply`]: the reads, the decision and
//! the writes) and validate.

use super::clients_for;
use super::ending::end_with;
use super::plan::plan_of;
use super::validate::{known_secret, validate_guarded};
use super::{turn_to_write, Cx};
use crate::aws::clients::Regional;
use crate::config::secrets::GitlabToken;
use crate::data::target::{Action, Decision, Observed, Outcome, RuleState, TargetResult};
use crate::engine::resources;
use crate::engine::runner::Job;

/// Converges the target as planned (planning it now unless planned), then validates.
pub(super) async fn apply_one(cx: &Cx<'_>, job: Job, token: Option<&GitlabToken>) -> TargetResult {
    // Only a saved plan is re-read: a plan made now was read just now.
    let recheck = job.recheck && job.planned.is_some();
    let (mut r, known) = plan_of(cx, job, None, token).await;
    // A target the plan could not read, skipped, or found in conflict ends as the plan found it.
    let (Some(observed), Some(decision)) = (r.observed.clone(), r.decision.clone()) else {
        return r;
    };
    if matches!(decision, Decision::Conflict { .. }) {
        return r;
    }
    let c = match clients_for(cx, known, &r.target).await {
        Ok(c) => c,
        Err(e) => return end_with(cx, r, e).await,
    };
    if recheck {
        match resources::observe(&c, &r.target, cx.rollout).await {
            Err(e) => return end_with(cx, r, e).await,
            Ok(now) if now != observed => {
                r.checked_at = cx.now();
                r.outcome = Outcome::Stale;
                r.error = Some(
                    "changed since the plan was made; nothing was written (plan again)".to_owned(),
                );
                r.observed = Some(now);
                return r;
            }
            Ok(_) => {}
        }
    }
    let actions = decision.actions();
    let mut canary = None;
    if !actions.is_empty() {
        let writes_token = actions.iter().any(|a| a.writes_token());
        match turn_to_write(cx, writes_token).await {
            Ok(guard) => canary = guard,
            Err(why) => return r.ending(Outcome::NotAttempted, why),
        }
    }
    r = converge_and_validate(cx, r, &c, &observed, actions, token).await;
    if let Some(guard) = canary {
        guard.finish(&r);
    }
    r
}

async fn converge_and_validate(
    cx: &Cx<'_>,
    mut r: TargetResult,
    c: &Regional,
    observed: &Observed,
    actions: &[Action],
    token: Option<&GitlabToken>,
) -> TargetResult {
    match resources::converge(c, &r.target, cx.rollout, observed, actions, token).await {
        Ok((taken, after)) => {
            r.outcome = outcome_of(&taken);
            r.taken = taken;
            r.observed = Some(after);
        }
        Err((e, taken)) => {
            r.taken = taken;
            return end_with(cx, r, e).await;
        }
    }
    let mut v = validate_guarded(cx, c, &r.target, known_secret(r.observed.as_ref())).await;
    // The report falls back to the observed rule: keep each string once (100,000 rows).
    if let Some(Observed {
        rule:
            RuleState::Present {
                upstream_registry_url,
                credential_arn,
                ..
            },
        ..
    }) = &r.observed
    {
        if v.upstream_registry_url.as_ref() == Some(upstream_registry_url) {
            v.upstream_registry_url = None;
        }
        if v.credential_arn == *credential_arn {
            v.credential_arn = None;
        }
    }
    r.validation = Some(v);
    r.checked_at = cx.now();
    r
}

/// `created` when something new now exists, `updated` when only repairs were made.
fn outcome_of(taken: &[Action]) -> Outcome {
    if taken
        .iter()
        .any(|a| matches!(a, Action::CreateSecret | Action::CreateRule))
    {
        Outcome::Created
    } else if taken.is_empty() {
        Outcome::Unchanged
    } else {
        Outcome::Updated
    }
}
