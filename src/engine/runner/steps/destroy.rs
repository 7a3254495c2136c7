//! The destroy pass in one target: what ptc-rollout manages there (the rule using its secret,
//! the secret, its registry policy statement), decided from a plan and removed.

use super::clients_for;
use super::ending::end_with;
use super::plan::plan_of;
use super::Cx;
use crate::aws::clients::Regional;
use crate::aws::error::ApiError;
use crate::config::Rollout;
use crate::data::target::{
    Action, Decision, Observed, Outcome, PullAccessState, RuleState, SecretState, Target,
    TargetResult,
};
use crate::engine::resources;
use crate::engine::resources::secret;
use crate::engine::runner::Job;

/// How `destroy` deletes secrets.
#[derive(Debug, Clone, Copy)]
pub struct Removal {
    pub(crate) recovery_days: i64,
    /// ForceDeleteWithoutRecovery, for present secrets and those already scheduled for
    /// deletion alike.
    pub(crate) force: bool,
}

/// What `apply` observes, and ptc-rollout's registry policy statement even when the rollout
/// file no longer has `[pull_access]`: what ptc-rollout put there, it takes out.
pub(super) async fn observe_for_destroy(
    cx: &Cx<'_>,
    c: &Regional,
    t: &Target,
) -> Result<Observed, ApiError> {
    let mut observed = resources::observe(c, t, cx.rollout).await?;
    // Too long to add ours says nothing of whether ours is there to take out.
    let too_long = matches!(observed.pull_access, Some(PullAccessState::TooLong { .. }));
    let owns = cx.rollout.owns_registry_policy() && !cx.rollout.narrowed();
    if owns && (cx.rollout.pull_access.is_none() || too_long) {
        observed.pull_access = resources::registry_policy::find_ours(c, t).await?;
    }
    Ok(observed)
}

/// Removes what the plan found ptc-rollout manages (planning now unless planned).
pub(super) async fn destroy_one(cx: &Cx<'_>, job: Job, removal: Removal) -> TargetResult {
    let (mut r, known) = plan_of(cx, job, Some(removal), None).await;
    let (Some(observed), Some(decision)) = (r.observed.clone(), r.decision.clone()) else {
        return r;
    };
    let c = match clients_for(cx, known, &r.target).await {
        Ok(c) => c,
        Err(e) => return end_with(cx, r, e).await,
    };
    for &action in decision.actions() {
        let step = match (action, observed.secret.arn()) {
            (Action::DeleteRule, _) => {
                resources::rule::delete_rule(&c, &r.target, cx.rollout).await
            }
            (Action::RemovePullAccess, _) => {
                resources::registry_policy::remove(&c, &r.target).await
            }
            (Action::DeleteSecret, Some(arn)) => {
                secret::delete_secret(&c, &r.target, arn, removal.recovery_days, removal.force)
                    .await
            }
            _ => Ok(()),
        };
        if let Err(e) = step {
            return end_with(cx, r, e).await;
        }
        r.taken.push(action);
    }
    r.outcome = if r.taken.is_empty() {
        Outcome::Unchanged
    } else {
        Outcome::Deleted
    };
    r.checked_at = cx.now();
    r
}

/// What `destroy` removes: the rule only when it is the upstream's rule using ptc-rollout's
/// secret, and the secret only when ptc-rollout created it; with `purge`, also a managed secret
/// already scheduled for deletion. For an upstream without a secret, nothing but the rollout
/// file marks a rule (ECR's rules carry no tags): the rule for the prefix with the upstream's
/// URL (and, for ECR, the role) is the file's. Anything else is left alone.
pub(crate) fn decide_destroy(o: &Observed, r: &Rollout, purge: bool) -> Decision {
    let mut actions = Vec::new();
    if r.secret().is_none() {
        if let RuleState::Present {
            upstream_registry_url,
            credential_arn,
            ..
        } = &o.rule
        {
            // A rule of an upstream without a credential that has one is someone else's.
            let role = |arn: &str| arn.rsplit_once(":role/").map(|(_, n)| n.to_owned());
            let credential_ours = match &r.upstream.custom_role_name {
                Some(name) => credential_arn.as_deref().and_then(role).as_ref() == Some(name),
                None => credential_arn.is_none(),
            };
            let ours = upstream_registry_url == &r.upstream.url && credential_ours;
            if ours {
                actions.push(Action::DeleteRule);
            }
        }
        return pull_access_removal(o, r, actions);
    }
    // The secret to delete: ptc-rollout's, present, or already scheduled for deletion when
    // purging. A rule using it goes with it.
    let managed_arn = match &o.secret {
        SecretState::Present { arn, managed: true } => Some(arn.as_str()),
        SecretState::PendingDeletion { arn, managed: true } if purge => Some(arn.as_str()),
        _ => None,
    };
    if let RuleState::Present {
        upstream_registry_url,
        credential_arn,
        ..
    } = &o.rule
    {
        if upstream_registry_url == &r.upstream.url
            && managed_arn.is_some()
            && credential_arn.as_deref() == managed_arn
        {
            actions.push(Action::DeleteRule);
        }
    }
    if managed_arn.is_some() {
        actions.push(Action::DeleteSecret);
    }
    pull_access_removal(o, r, actions)
}

/// ptc-rollout's registry policy statement goes too, unless the run is narrowed to one of
/// several upstreams: the statement grants the others' prefixes as well (the next full
/// `apply` writes it without a prefix the file no longer has).
fn pull_access_removal(o: &Observed, r: &Rollout, mut actions: Vec<Action>) -> Decision {
    if r.narrowed() {
        return Decision::Change { actions };
    }
    // The statement is found by ptc-rollout's own Sid, so it is ours whatever it says now.
    if matches!(
        o.pull_access,
        Some(PullAccessState::Matches | PullAccessState::Differs)
    ) {
        actions.push(Action::RemovePullAccess);
    }
    Decision::Change { actions }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_rollouts::{rollout, ECR_PUBLIC, GITLAB};

    fn observed(credential_arn: Option<&str>) -> Observed {
        Observed {
            secret: SecretState::Absent,
            rule: RuleState::Present {
                upstream_registry_url: "public.ecr.aws".into(),
                credential_arn: credential_arn.map(str::to_owned),
                upstream_repository_prefix: None,
            },
            template: None,
            pull_access: None,
            secret_kms_key: None,
            custom_role: None,
        }
    }

    #[test]
    fn a_rule_without_a_credential_is_the_files_and_one_with_a_credential_is_not() {
        let views = rollout(&[GITLAB, ECR_PUBLIC]).views();
        let public = &views[1];
        assert_eq!(
            decide_destroy(&observed(None), public, false).actions(),
            [Action::DeleteRule]
        );
        let theirs = "arn:aws:secretsmanager:us-east-1:1:secret:ecr-pullthroughcache/x-AbCdEf";
        assert_eq!(
            decide_destroy(&observed(Some(theirs)), public, false).actions(),
            []
        );
    }
}
