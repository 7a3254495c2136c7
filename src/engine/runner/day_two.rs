//! The day-two passes: `rotate` (a new token version in every managed secret), `destroy`
//! (remove what ptc-rollout manages) and `report` (a read-only compliance inspection).

use super::{Job, Runner};
use crate::aws::clients::Regional;
use crate::aws::error::ApiError;
use crate::config::secrets::GitlabToken;
use crate::config::GITLAB_REGISTRY_URL;
use crate::data::target::{
    Action, Decision, Observed, Outcome, PullAccessState, RuleState, SecretState, Target,
    TargetResult,
};
use crate::engine::resources;
use crate::engine::resources::secret::{self, SecretDetails};

/// How `destroy` deletes secrets.
#[derive(Debug, Clone, Copy)]
pub struct Removal {
    pub recovery_days: i64,
    /// ForceDeleteWithoutRecovery, for present secrets and those already scheduled for
    /// deletion alike.
    pub force: bool,
}

impl Runner {
    /// Writes the token as a new version of the managed secret unless it holds it already
    /// (canary first), then validates.
    pub(super) async fn rotate_one(&self, t: Target, token: &GitlabToken) -> TargetResult {
        let (r, c) = match self.open(t).await {
            Ok(opened) => opened,
            Err(row) => return row,
        };
        let details = match secret::describe_secret(&c, &r.target, &self.rollout).await {
            Ok(d) => d,
            Err(e) => return self.end_with(r, e).await,
        };
        let mut r = r;
        let skip = |r, why| self.skipped_but_validated(&c, r, why);
        let Some(d) = details else {
            // No secret: nothing to rotate, but a rule may still be there and broken; ECR's
            // answer makes it count against the exit code, as in apply.
            return skip(r, "skipped: no secret to rotate (run apply first)").await;
        };
        r.observed = Some(Observed {
            secret: d.state(),
            rule: RuleState::Absent,
            template: None,
            pull_access: None,
            secret_kms_key: d.kms_key_id.clone(),
        });
        if !d.managed {
            return skip(
                r,
                "skipped: the secret was not created by ptc-rollout; listed, not touched",
            )
            .await;
        }
        if d.pending_deletion {
            return skip(
                r,
                "skipped: the secret is scheduled for deletion (run apply to restore it)",
            )
            .await;
        }
        let mut canary = None;
        if !secret::holds(&d, &r.target, &self.rollout, token) {
            match self.turn_to_write(true).await {
                Ok(guard) => canary = guard,
                Err(why) => return r.ending(Outcome::NotAttempted, why),
            }
            let current = d.current_version.as_deref();
            if let Err(e) =
                secret::put_token(&c, &r.target, &self.rollout, &d.arn, token, current).await
            {
                return self.end_with(r, e).await;
            }
            r.taken = vec![Action::RotateSecret];
            r.outcome = Outcome::Updated;
        }
        // Just read, present and ours: the rule's failure, if any, is GitLab.com's answer.
        r.validation = Some(self.validate_guarded(&c, &r.target, Some(&d.arn)).await);
        r.checked_at = self.now();
        if let Some(guard) = canary {
            guard.finish(&r);
        }
        r
    }

    /// A target rotate leaves alone (no secret, unmanaged, pending deletion) is still validated:
    /// rotate ends with the whole matrix's validity, and a rule that is not valid fails it.
    async fn skipped_but_validated(
        &self,
        c: &Regional,
        mut r: TargetResult,
        why: &str,
    ) -> TargetResult {
        r.outcome = Outcome::Skipped;
        r.error = Some(why.to_owned());
        r.validation = Some(self.validate_guarded(c, &r.target, None).await);
        r.checked_at = self.now();
        r
    }

    /// What `apply` observes, and ptc-rollout's registry policy statement even when the rollout
    /// file no longer has `[pull_access]`: what ptc-rollout put there, it takes out.
    pub(super) async fn observe_for_destroy(
        &self,
        c: &Regional,
        t: &Target,
    ) -> Result<Observed, ApiError> {
        let mut observed = resources::observe(c, t, &self.rollout).await?;
        // Too long to add ours says nothing of whether ours is there to take out.
        let too_long = matches!(observed.pull_access, Some(PullAccessState::TooLong { .. }));
        if self.rollout.pull_access.is_none() || too_long {
            observed.pull_access = resources::registry_policy::find_ours(c, t).await?;
        }
        Ok(observed)
    }

    /// Removes what the plan found ptc-rollout manages (planning now unless planned).
    pub(super) async fn destroy_one(&self, job: Job, removal: Removal) -> TargetResult {
        let (mut r, known) = self.plan_of(job, Some(removal), None).await;
        let (Some(observed), Some(decision)) = (r.observed.clone(), r.decision.clone()) else {
            return r;
        };
        let c = match self.clients_for(known, &r.target).await {
            Ok(c) => c,
            Err(e) => return self.end_with(r, e).await,
        };
        for &action in decision.actions() {
            let step = match (action, observed.secret.arn()) {
                (Action::DeleteRule, _) => secret::delete_rule(&c, &r.target, &self.rollout).await,
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
                return self.end_with(r, e).await;
            }
            r.taken.push(action);
        }
        r.outcome = if r.taken.is_empty() {
            Outcome::Unchanged
        } else {
            Outcome::Deleted
        };
        r.checked_at = self.now();
        r
    }

    /// Reads the target for the compliance report, and validates a rule of the GitLab upstream.
    pub(super) async fn inspect_one(
        &self,
        t: Target,
        current: Option<&GitlabToken>,
    ) -> TargetResult {
        let (r, c) = match self.open(t).await {
            Ok(opened) => opened,
            Err(row) => return row,
        };
        let pull_access = async {
            match &self.rollout.pull_access {
                Some(want) => {
                    resources::registry_policy::read_held(&c, &r.target, &self.rollout, want)
                        .await
                        .map(Some)
                }
                None => Ok(None),
            }
        };
        let read = futures::try_join!(
            secret::describe_secret(&c, &r.target, &self.rollout),
            resources::read_rule(&c, &r.target, &self.rollout),
            pull_access
        );
        let (secret, rule, pull_access) = match read {
            Ok(read) => read,
            Err(e) => return self.end_with(r, e).await,
        };
        let ours = matches!(&rule, RuleState::Present { upstream_registry_url, .. } if upstream_registry_url == GITLAB_REGISTRY_URL);
        let validation = if ours {
            Some(self.validate_guarded(&c, &r.target, None).await)
        } else {
            None
        };
        let secret_state = secret
            .as_ref()
            .map_or(SecretState::Absent, SecretDetails::state);
        let observed = Observed {
            secret: secret_state,
            rule,
            template: None,
            pull_access,
            secret_kms_key: secret.as_ref().and_then(|d| d.kms_key_id.clone()),
        };
        let mut dates = secret
            .as_ref()
            .map(SecretDetails::dates)
            .unwrap_or_default();
        dates.holds_current = current.map(|token| {
            secret
                .as_ref()
                .is_some_and(|d| secret::holds(d, &r.target, &self.rollout, token))
        });
        TargetResult {
            observed: Some(observed),
            validation,
            secret_dates: Some(Box::new(dates)),
            ..r
        }
    }
}

/// What `destroy` removes: the rule only when it is the GitLab rule using ptc-rollout's secret,
/// and the secret only when ptc-rollout created it; with `purge`, also a managed secret already
/// scheduled for deletion. Anything else is left alone.
pub(crate) fn decide_destroy(o: &Observed, purge: bool) -> Decision {
    let mut actions = Vec::new();
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
    } = &o.rule
    {
        if upstream_registry_url == GITLAB_REGISTRY_URL
            && managed_arn.is_some()
            && credential_arn.as_deref() == managed_arn
        {
            actions.push(Action::DeleteRule);
        }
    }
    if managed_arn.is_some() {
        actions.push(Action::DeleteSecret);
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
