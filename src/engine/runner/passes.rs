//! What the plan, apply and validate passes do in one target, around the AWS work in
//! [`crate::engine::resources`]: observe then decide, refuse stale plans, take the canary's turn, converge
//! and validate. [`Runner::step`] sends each pass's job to its per-target function.

use std::sync::Arc;

use super::breaker::known_secret;
use super::gate::{CanaryGuard, Turn};
use super::probe::Prober;
use super::{decide_destroy, Job, Pass, Removal, Runner};
use crate::aws::clients::Regional;
use crate::config::secrets::GitlabToken;
use crate::data::target::{Action, Decision, Observed, Outcome, RuleState, Target, TargetResult};
use crate::engine::resources;

/// A pass made ready to run: the pass, and what its targets share (a probe's registry client,
/// with its connection pool).
pub(super) struct Step {
    pass: Pass,
    prober: Option<Prober>,
}

impl Step {
    pub(super) fn new(pass: Pass, runner: &Runner) -> Self {
        let spec = match &pass {
            Pass::Probe(spec) | Pass::Validate(Some(spec)) => Some(spec.clone()),
            _ => None,
        };
        Step {
            prober: spec.map(|spec| Prober::new(spec, runner)),
            pass,
        }
    }
}

impl Runner {
    /// One target's work in a pass.
    pub(super) async fn step(self: &Arc<Self>, step: &Step, job: Job) -> TargetResult {
        let prober = step.prober.as_ref();
        match &step.pass {
            Pass::Plan(token) => self.plan_one(job.target, None, token.as_deref()).await,
            Pass::Apply(token) => self.apply_one(job, token).await,
            Pass::Validate(_) => self.validate_one(job.target, prober).await,
            Pass::Probe(_) => {
                self.probe_one(job.target, prober.expect("made with the pass"))
                    .await
            }
            Pass::Rotate(token) => self.rotate_one(job.target, token).await,
            Pass::PlanDestroy(removal) => self.plan_one(job.target, Some(*removal), None).await,
            Pass::Destroy(removal) => self.destroy_one(job, *removal).await,
            Pass::Inspect(token) => self.inspect_one(job.target, token.as_deref()).await,
        }
    }

    /// A new row for the target, with its Region's clients; or the row ended with why the
    /// account could not be entered.
    pub(super) async fn open(&self, t: Target) -> Result<(TargetResult, Regional), TargetResult> {
        let r = TargetResult::new(t, Outcome::Unchanged, self.now());
        match self.regional(&r.target).await {
            Ok(c) => Ok((r, c)),
            Err(e) => Err(self.end_with(r, e).await),
        }
    }

    /// Waits for this target's turn to write (see [`super::Gate`]): the guard when this target
    /// is the canary, or why nothing may be written when the canary failed.
    pub(super) async fn turn_to_write(
        &self,
        writes_token: bool,
    ) -> Result<Option<CanaryGuard>, String> {
        match self.gate.turn(writes_token).await {
            Turn::Canary(guard) => Ok(Some(guard)),
            Turn::Go => Ok(None),
            Turn::Stop(why) => Err(why),
        }
    }

    /// Observes the target, then decides what `apply` would do there (or, given how secrets
    /// are removed, what `destroy` would). No mutating call. `token`: the token `apply` would
    /// write, when known (see [`Self::token_needed`]).
    pub(super) async fn plan_one(
        &self,
        t: Target,
        destroy: Option<Removal>,
        token: Option<&GitlabToken>,
    ) -> TargetResult {
        self.plan_with_clients(t, destroy, token).await.0
    }

    /// [`Self::plan_one`], and the Region's clients it read with, so that a pass converging
    /// right after planning builds no second set (building them is a fifth of a target's CPU).
    pub(super) async fn plan_with_clients(
        &self,
        t: Target,
        destroy: Option<Removal>,
        token: Option<&GitlabToken>,
    ) -> (TargetResult, Option<Regional>) {
        let r = TargetResult::new(t, Outcome::Failed, self.now());
        let c = match self.regional(&r.target).await {
            Ok(c) => c,
            Err(e) => return (self.end_with(r, e).await, None),
        };
        let observed = match destroy {
            None => resources::observe_with_version(&c, &r.target, &self.rollout).await,
            Some(_) => (self.observe_for_destroy(&c, &r.target).await).map(|o| (o, None)),
        };
        let (observed, version) = match observed {
            Ok(o) => o,
            Err(e) => return (self.end_with(r, e).await, None),
        };
        let mut decision = match destroy {
            None => resources::decide(&observed, &self.rollout, self.limits.adopt_rules),
            Some(removal) => decide_destroy(&observed, removal.force),
        };
        if let (Decision::Change { actions }, Some(token)) = (&mut decision, token) {
            let behind = resources::token_behind(
                &observed,
                version.as_deref(),
                &r.target,
                &self.rollout,
                token,
            );
            if let Some(arn) = behind {
                if self.token_needed(&c, &r.target, arn, actions).await {
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
        &self,
        job: Job,
        destroy: Option<Removal>,
        token: Option<&GitlabToken>,
    ) -> (TargetResult, Option<Regional>) {
        match job.planned {
            Some(planned) => (*planned, None),
            None => self.plan_with_clients(job.target, destroy, token).await,
        }
    }

    /// Whether the managed secret `arn`, which does not hold the token, gets it although it
    /// exists: when a rule is about to use it (created, or pointed at it: nothing can be
    /// validated first), or when the rule using it does not validate (a restore killed before
    /// it stored the token leaves the old, maybe revoked, one). A rule that validates keeps
    /// its token until `rotate`: a converged target gets no write.
    async fn token_needed(&self, c: &Regional, t: &Target, arn: &str, actions: &[Action]) -> bool {
        if actions.iter().any(|a| {
            matches!(
                a,
                Action::CreateRule | Action::UpdateRuleCredential | Action::AdoptRule
            )
        }) {
            return true;
        }
        let v = self.validate_guarded(c, t, Some(arn)).await;
        // Not asked (the breaker, an error): nothing known, nothing written.
        v.checked && !v.skipped && !v.is_valid
    }

    /// The Region's clients: those the plan just used, or new ones.
    pub(super) async fn clients_for(
        &self,
        known: Option<Regional>,
        t: &Target,
    ) -> Result<Regional, crate::aws::error::ApiError> {
        match known {
            Some(c) => Ok(c),
            None => self.regional(t).await,
        }
    }

    /// Converges the target as planned (planning it now unless planned), then validates.
    pub(super) async fn apply_one(&self, job: Job, token: &GitlabToken) -> TargetResult {
        // Only a saved plan is re-read: a plan made now was read just now.
        let recheck = job.recheck && job.planned.is_some();
        let (mut r, known) = self.plan_of(job, None, Some(token)).await;
        // A target the plan could not read, skipped, or found in conflict ends as the plan found it.
        let (Some(observed), Some(decision)) = (r.observed.clone(), r.decision.clone()) else {
            return r;
        };
        if matches!(decision, Decision::Conflict { .. }) {
            return r;
        }
        let c = match self.clients_for(known, &r.target).await {
            Ok(c) => c,
            Err(e) => return self.end_with(r, e).await,
        };
        if recheck {
            match resources::observe(&c, &r.target, &self.rollout).await {
                Err(e) => return self.end_with(r, e).await,
                Ok(now) if now != observed => {
                    r.checked_at = self.now();
                    r.outcome = Outcome::Stale;
                    r.error = Some(
                        "changed since the plan was made; nothing was written (plan again)"
                            .to_owned(),
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
            match self.turn_to_write(writes_token).await {
                Ok(guard) => canary = guard,
                Err(why) => return r.ending(Outcome::NotAttempted, why),
            }
        }
        r = self
            .converge_and_validate(r, &c, &observed, actions, token)
            .await;
        if let Some(guard) = canary {
            guard.finish(&r);
        }
        r
    }

    async fn converge_and_validate(
        &self,
        mut r: TargetResult,
        c: &Regional,
        observed: &Observed,
        actions: &[Action],
        token: &GitlabToken,
    ) -> TargetResult {
        match resources::converge(c, &r.target, &self.rollout, observed, actions, token).await {
            Ok((taken, after)) => {
                r.outcome = outcome_of(&taken);
                r.taken = taken;
                r.observed = Some(after);
            }
            Err((e, taken)) => {
                r.taken = taken;
                return self.end_with(r, e).await;
            }
        }
        let mut v = self
            .validate_guarded(c, &r.target, known_secret(r.observed.as_ref()))
            .await;
        // The report falls back to the observed rule: keep each string once (100,000 rows).
        if let Some(Observed {
            rule:
                RuleState::Present {
                    upstream_registry_url,
                    credential_arn,
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
        r.checked_at = self.now();
        r
    }

    /// Validates the rule; with a prober, then pulls through it if it is valid (a pull through
    /// an invalid rule would only be another failed login at GitLab.com).
    pub(super) async fn validate_one(&self, t: Target, prober: Option<&Prober>) -> TargetResult {
        let (r, c) = match self.open(t).await {
            Ok(opened) => opened,
            Err(row) => return row,
        };
        let validation = self.validate_guarded(&c, &r.target, None).await;
        if validation.skipped {
            return TargetResult {
                outcome: Outcome::Skipped,
                error: validation.failure,
                ..r
            };
        }
        let valid = validation.is_valid;
        let r = TargetResult {
            validation: Some(validation),
            ..r
        };
        match prober {
            Some(prober) if valid => self.probe_into(r, &c, prober).await,
            _ => r,
        }
    }
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
