//! What each pass does with one target, around the AWS work in [`crate::work`]: enter the
//! account, skip Regions the account has not enabled, refuse stale plans, and keep validation
//! behind the circuit breaker.

use std::sync::atomic::Ordering;

use super::gate::Turn;
use super::probe::Prober;
use super::{ApplyJob, Runner};
use crate::clients::{Clients, Regional};
use crate::error::ApiError;
use crate::regions;
use crate::target::{
    Action, Decision, Observed, Outcome, RuleState, SecretState, Target, TargetResult, Validation,
};
use crate::token::GitlabToken;
use crate::work;

/// Upstream authentication failures after which validation stops: each one is a failed login
/// at GitLab.com, which bans an address after 30 in 3 minutes.
pub const AUTH_FAILURE_LIMIT: usize = 5;

/// Whether AWS did not recognise the account's credentials in an opt-in Region: the Region may
/// be disabled for the account, or the credentials may be valid only in Regions enabled by
/// default (from the global STS endpoint). Only Account Management can tell which.
fn unrecognised_in_opt_in_region(t: &Target, e: &ApiError) -> bool {
    regions::OPT_IN_REGIONS.contains(&t.region.as_str())
        && matches!(
            e.code.as_deref(),
            Some("UnrecognizedClientException" | "InvalidClientTokenId" | "AuthFailure")
        )
}

/// Whether a failed validation was a failed login at GitLab.com (what the circuit breaker
/// counts). ECR does not document its failure texts, so what this run knows comes first:
/// `known_secret` is the ARN of a secret read just now, present and written by ptc-rollout (so
/// well-formed). A rule using it failed its login; a rule using another secret says nothing
/// about the token. Without that knowledge, the words are the last resort, and a failure to
/// reach or read the secret never counts: it is no login at GitLab.com.
fn is_login_failure(v: &Validation, known_secret: Option<&str>) -> bool {
    if v.is_valid || !v.checked {
        return false;
    }
    // The words, without the names in them (a secret named .../gitlab-access-token must not
    // read as a failure to access a secret).
    let mut f = v.failure.as_deref().unwrap_or_default().to_owned();
    for name in [v.credential_arn.as_deref(), known_secret]
        .into_iter()
        .flatten()
    {
        f = f.replace(name, "");
    }
    let f = ARN_RE.replace_all(&f, "").to_ascii_lowercase();
    let about_the_secret = f.contains("secret")
        && [
            "access",
            "not found",
            "decrypt",
            "deleted",
            "scheduled",
            "read",
            "json",
        ]
        .iter()
        .any(|w| f.contains(w));
    if about_the_secret {
        return false;
    }
    if let Some(arn) = known_secret {
        return v.credential_arn.as_deref() == Some(arn);
    }
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

/// ARNs in a failure text: names, not words.
static ARN_RE: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"arn:[^\s,;)]+").expect("valid regex"));

/// The secret a rule should use, when this run read it and ptc-rollout wrote it.
pub(super) fn known_secret(o: Option<&Observed>) -> Option<&str> {
    match o.map(|o| &o.secret) {
        Some(SecretState::Present { arn, managed: true }) => Some(arn),
        _ => None,
    }
}

impl Runner {
    /// Ends a row on an error: skipped for a Region that Account Management confirms the
    /// account has not enabled, else failed (with a hint when the Region is enabled).
    pub(super) async fn end_with(&self, mut r: TargetResult, e: ApiError) -> TargetResult {
        match self.opt_in_verdict(&r.target, &e).await {
            Some(Ok(skipped)) => {
                r.outcome = Outcome::Skipped;
                r.error = Some(skipped);
            }
            Some(Err(hint)) => {
                r.outcome = Outcome::Failed;
                r.error = Some(format!("{e}; {hint}"));
            }
            None => {
                r.outcome = Outcome::Failed;
                r.error = Some(e.to_string());
            }
        }
        r.checked_at = self.now();
        r
    }

    /// For credentials AWS did not recognise in an opt-in Region: why the target is skipped,
    /// when Account Management says the Region is disabled for the account; otherwise what
    /// else it can be. `None` for any other error.
    async fn opt_in_verdict(&self, t: &Target, e: &ApiError) -> Option<Result<String, String>> {
        if !unrecognised_in_opt_in_region(t, e) {
            return None;
        }
        Some(match self.region_opt_status(t).await {
            Ok(status) if status == "DISABLED" || status == "DISABLING" => Ok(format!(
                "skipped: {} is an opt-in Region this account has not enabled (GetRegionOptStatus: {status})",
                t.region
            )),
            Ok(status) if status == "ENABLING" => Err(format!(
                "{} is being enabled for this account (GetRegionOptStatus: ENABLING): wait until it is enabled, then run again",
                t.region
            )),
            Ok(status) if t.account_id == self.access.caller.account_id => Err(format!(
                "{} is enabled for this account (GetRegionOptStatus: {status}), yet AWS did not recognise the caller's own credentials there: credentials from the global STS endpoint (sts.amazonaws.com) are valid only in Regions enabled by default; get them from a regional endpoint (AWS_STS_REGIONAL_ENDPOINTS=regional, or sts.REGION.amazonaws.com)",
                t.region
            )),
            Ok(status) => Err(format!(
                "{} is enabled for this account (GetRegionOptStatus: {status}), yet AWS did not recognise the credentials there: credentials from the global STS endpoint are valid only in Regions enabled by default (ptc-rollout assumes roles through the regional endpoint of AWS_REGION: check that AWS_REGION names a Region)",
                t.region
            )),
            Err(check) => Err(format!(
                "could not confirm that {} is disabled for this account ({check}): enable the Region, or allow account:GetRegionOptStatus to let ptc-rollout skip it",
                t.region
            )),
        })
    }

    /// What Account Management says of the target's Region for its account, asked with the
    /// account's own credentials.
    async fn region_opt_status(&self, t: &Target) -> Result<String, ApiError> {
        let config = self.enter(&t.account_id).await?;
        let out = Clients::account(&config)
            .get_region_opt_status()
            .region_name(&t.region)
            .send()
            .await
            .map_err(|e| {
                ApiError::from_sdk(&t.account_id, &t.region, "account:GetRegionOptStatus", e)
            })?;
        Ok(out
            .region_opt_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default())
    }

    pub(super) async fn plan_one(&self, t: Target) -> TargetResult {
        let r = TargetResult::new(t, Outcome::Failed, self.now());
        let observed = match self.regional(&r.target).await {
            Ok(c) => work::observe(&c, &r.target, &self.rollout).await,
            Err(e) => Err(e),
        };
        let mut r = match observed {
            Err(e) => return self.end_with(r, e).await,
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
            Err(e) => return self.end_with(r, e).await,
        };
        if recheck {
            match work::observe(&c, &r.target, &self.rollout).await {
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
        let r = TargetResult::new(t, Outcome::Unchanged, self.now());
        let c = match self.regional(&r.target).await {
            Ok(c) => c,
            Err(e) => return self.end_with(r, e).await,
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

    /// Validates unless the circuit breaker is open. An error from the call itself is an
    /// invalid result with the error as the failure: the rule's state is unknown.
    /// `known_secret`: see [`is_login_failure`].
    pub(super) async fn validate_guarded(
        &self,
        c: &Regional,
        t: &Target,
        known_secret: Option<&str>,
    ) -> Validation {
        let seen = self.auth_failures.load(Ordering::Relaxed);
        if seen >= AUTH_FAILURE_LIMIT {
            return Validation::not_checked(format!(
                "not validated: validation stopped after {seen} upstream authentication failures (circuit breaker), to keep GitLab.com from banning ECR's logins"
            ));
        }
        match work::validate(c, t, &self.rollout).await {
            Ok(v) => {
                if is_login_failure(&v, known_secret) {
                    self.auth_failures.fetch_add(1, Ordering::Relaxed);
                }
                v
            }
            Err(e) => match self.opt_in_verdict(t, &e).await {
                Some(Ok(skipped)) => Validation::skipped(skipped),
                Some(Err(hint)) => Validation::not_checked(format!("{e}; {hint}")),
                None => Validation::not_checked(e.to_string()),
            },
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

    fn failed(text: &str, arn: Option<&str>) -> Validation {
        Validation {
            is_valid: false,
            failure: Some(text.to_owned()),
            upstream_registry_url: None,
            credential_arn: arn.map(str::to_owned),
            checked: true,
            skipped: false,
        }
    }

    #[test]
    fn login_failures_are_known_from_the_secret_before_the_words() {
        // A well-formed secret of ours behind the rule: whatever the words, a failed login.
        let v = failed("Something unexpected happened", Some("arn:s"));
        assert!(is_login_failure(&v, Some("arn:s")));
        // The rule uses another secret: nothing is known of the token.
        assert!(!is_login_failure(&v, Some("arn:other")));
        // No rule (no credential in the answer), or not validated at all: not a login.
        assert!(!is_login_failure(
            &failed("no pull through cache rule", None),
            Some("arn:s")
        ));
        assert!(!is_login_failure(
            &Validation::not_checked("x".into()),
            None
        ));
    }

    #[test]
    fn without_knowledge_the_words_decide_and_secret_access_never_counts() {
        let login = |text: &str| is_login_failure(&failed(text, None), None);
        assert!(login(
            "Invalid username or password for the upstream registry"
        ));
        assert!(login("401 Unauthorized"));
        assert!(!login("no pull through cache rule for prefix \"gitlab\""));
        assert!(!login(
            "Unable to read credentials from the secret arn:x: the value must be JSON"
        ));
        assert!(!login("Unable to access the secret arn:x: access denied"));
        // A name is not a word: a login failure for a secret named .../gitlab-access-token.
        assert!(login(
            "Invalid username or password for the secret arn:aws:secretsmanager:r:1:secret:ecr-pullthroughcache/gitlab-access-token-abc"
        ));
        // What the secret's reader said vetoes even a known secret.
        let unreadable = failed(
            "Unable to read credentials from the secret: not JSON",
            Some("arn:s"),
        );
        assert!(!is_login_failure(&unreadable, Some("arn:s")));
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
        assert!(unrecognised_in_opt_in_region(&t("af-south-1"), &e));
        assert!(
            !unrecognised_in_opt_in_region(&t("us-east-1"), &e),
            "only opt-in Regions can be disabled"
        );
    }
}
