//! What each pass does with one target, around the AWS work in [`crate::work`]: enter the
//! account, skip Regions the account has not enabled, refuse stale plans, and keep validation
//! behind the circuit breaker.

use std::sync::atomic::Ordering;

use super::gate::Turn;
use super::probe::Prober;
use super::{ApplyJob, Runner};
use crate::clients::Regional;
use crate::error::ApiError;
use crate::regions;
use crate::target::{
    Action, Decision, Observed, Outcome, RuleState, Target, TargetResult, Validation,
};
use crate::token::GitlabToken;
use crate::work;

/// Upstream authentication failures after which validation stops: each one is a failed login
/// at GitLab.com, which bans an address after 30 in 3 minutes.
pub const AUTH_FAILURE_LIMIT: usize = 5;

/// Whether an error means the Region is an opt-in Region this account has not enabled: AWS
/// does not recognise the account's credentials there.
fn region_not_enabled(t: &Target, e: &ApiError) -> bool {
    regions::OPT_IN_REGIONS.contains(&t.region.as_str())
        && matches!(
            e.code.as_deref(),
            Some("UnrecognizedClientException" | "InvalidClientTokenId" | "AuthFailure")
        )
}

/// Whether a validation failure says the upstream refused the credentials.
fn is_auth_failure(failure: &str) -> bool {
    let f = failure.to_ascii_lowercase();
    [
        "username or password",
        "unauthorized",
        "401",
        "authentication",
        "denied",
        "credentials",
    ]
    .iter()
    .any(|needle| f.contains(needle))
}

impl Runner {
    /// Ends a row on an error: skipped for a Region the account has not enabled, else failed.
    pub(super) fn end_with(&self, mut r: TargetResult, e: ApiError) -> TargetResult {
        r.checked_at = self.now();
        if region_not_enabled(&r.target, &e) {
            r.outcome = Outcome::Skipped;
            r.error = Some(format!(
                "skipped: {} is an opt-in Region this account has not enabled",
                r.target.region
            ));
        } else {
            r.outcome = Outcome::Failed;
            r.error = Some(e.to_string());
        }
        r
    }

    pub(super) async fn plan_one(&self, t: Target) -> TargetResult {
        let r = TargetResult::new(t, Outcome::Failed, self.now());
        let observed = match self.regional(&r.target).await {
            Ok(c) => work::observe(&c, &r.target, &self.rollout).await,
            Err(e) => Err(e),
        };
        let mut r = match observed {
            Err(e) => return self.end_with(r, e),
            Ok(o) => TargetResult {
                observed: Some(o),
                ..r
            },
        };
        let d = work::decide(r.observed.as_ref().expect("set above"), &self.rollout);
        r.outcome = match &d {
            Decision::Conflict { reason } => {
                r.error = Some(reason.clone());
                Outcome::Conflict
            }
            Decision::Change { actions } if actions.is_empty() => Outcome::Unchanged,
            Decision::Change { .. } => Outcome::Pending,
        };
        r.decision = Some(d);
        r
    }

    pub(super) async fn apply_one(&self, job: ApplyJob, token: &GitlabToken) -> TargetResult {
        let (mut r, recheck) = match job.planned {
            Some(planned) => (*planned, job.recheck),
            None => (self.plan_one(job.target).await, false),
        };
        // A target the plan could not read, skipped, or found in conflict ends as the plan found it.
        let (Some(observed), Some(decision)) = (r.observed.clone(), r.decision.clone()) else {
            return r;
        };
        if matches!(decision, Decision::Conflict { .. }) {
            return r;
        }
        let c = match self.regional(&r.target).await {
            Ok(c) => c,
            Err(e) => return self.end_with(r, e),
        };
        if recheck {
            match work::observe(&c, &r.target, &self.rollout).await {
                Err(e) => return self.end_with(r, e),
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
            let writes_token = actions
                .iter()
                .any(|a| matches!(a, Action::CreateSecret | Action::RestoreSecret));
            match self.gate.turn(writes_token).await {
                Turn::Canary(guard) => canary = Some(guard),
                Turn::Go => {}
                Turn::Stop(why) => {
                    r.outcome = Outcome::NotAttempted;
                    r.error = Some(why);
                    return r;
                }
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
        match work::converge(c, &r.target, &self.rollout, observed, actions, token).await {
            Ok((taken, after)) => {
                r.outcome = outcome_of(&taken);
                r.taken = taken;
                r.observed = Some(after);
            }
            Err((e, taken)) => {
                r.taken = taken;
                return self.end_with(r, e);
            }
        }
        let mut v = self.validate_guarded(c, &r.target).await;
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
        let r = TargetResult::new(t, Outcome::Unchanged, self.now());
        let c = match self.regional(&r.target).await {
            Ok(c) => c,
            Err(e) => return self.end_with(r, e),
        };
        let validation = self.validate_guarded(&c, &r.target).await;
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

    /// Validates unless the circuit breaker is open. An error from the call itself is an
    /// invalid result with the error as the failure: the rule's state is unknown.
    pub(super) async fn validate_guarded(&self, c: &Regional, t: &Target) -> Validation {
        let seen = self.auth_failures.load(Ordering::Relaxed);
        if seen >= AUTH_FAILURE_LIMIT {
            return Validation::not_checked(format!(
                "not validated: validation stopped after {seen} upstream authentication failures (circuit breaker), to keep GitLab.com from banning ECR's logins"
            ));
        }
        match work::validate(c, t, &self.rollout).await {
            Ok(v) => {
                if !v.is_valid && v.failure.as_deref().is_some_and(is_auth_failure) {
                    self.auth_failures.fetch_add(1, Ordering::Relaxed);
                }
                v
            }
            Err(e) if region_not_enabled(t, &e) => Validation::not_checked(format!(
                "skipped: {} is an opt-in Region this account has not enabled",
                t.region
            )),
            Err(e) => Validation::not_checked(e.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_failures_are_recognised() {
        assert!(is_auth_failure(
            "Invalid username or password for the upstream registry"
        ));
        assert!(is_auth_failure("401 Unauthorized"));
        assert!(!is_auth_failure(
            "no pull through cache rule for prefix \"gitlab\""
        ));
    }

    #[test]
    fn disabled_opt_in_regions_are_recognised() {
        let t = |region: &str| Target {
            account_id: "1".into(),
            account_name: "a".into(),
            region: region.into(),
        };
        let mut e = ApiError::new("1", "af-south-1", "secretsmanager:DescribeSecret", "x");
        e.code = Some("UnrecognizedClientException".into());
        assert!(region_not_enabled(&t("af-south-1"), &e));
        assert!(
            !region_not_enabled(&t("us-east-1"), &e),
            "only opt-in Regions can be disabled"
        );
    }
}
