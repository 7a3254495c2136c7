//! The pull through cache rule in one target, every call on it: read it, create it, point it at
//! the secret, validate it, delete it.

use aws_sdk_ecr::operation::delete_pull_through_cache_rule::DeletePullThroughCacheRuleError as DeleteRuleError;
use aws_sdk_ecr::operation::describe_pull_through_cache_rules::DescribePullThroughCacheRulesError as DescribeError;
use aws_sdk_ecr::operation::validate_pull_through_cache_rule::ValidatePullThroughCacheRuleError as ValidateError;
use aws_sdk_ecr::types::{PullThroughCacheRule, UpstreamRegistry};

use super::unless_absent;

use crate::aws::clients::Regional;
use crate::aws::error::ApiError;
use crate::config::Rollout;
use crate::data::regions;
use crate::data::target::{RuleState, Target, Validation};

/// The rule for the rollout's prefix: from the registry's rules as read once for every upstream
/// of this (account, Region) in the pass, when the clients are shared (see
/// [`Regional::rules`]); else read now.
pub(crate) async fn read_rule(
    c: &Regional,
    t: &Target,
    r: &Rollout,
) -> Result<RuleState, ApiError> {
    let Some(book) = &c.rules else {
        return read_rule_now(c, t, r).await;
    };
    // An error is not kept: each upstream's target then reads (and fails) on its own.
    let all = book.get_or_try_init(|| read_all(c, t)).await?.clone();
    Ok(all
        .into_iter()
        .find(|(prefix, _)| prefix == r.prefix())
        .map_or(RuleState::Absent, |(_, rule)| rule))
}

/// Every rule of the registry, page by page (ECR allows 50 a registry by default).
async fn read_all(c: &Regional, t: &Target) -> Result<Vec<(String, RuleState)>, ApiError> {
    let call = "ecr:DescribePullThroughCacheRules";
    let mut pages = c
        .ecr
        .describe_pull_through_cache_rules()
        .into_paginator()
        .items()
        .send();
    let mut all = Vec::new();
    while let Some(rule) = pages.next().await {
        let rule = rule.map_err(|e| ApiError::from_sdk(&t.account_id, &t.region, call, e))?;
        let prefix = rule.ecr_repository_prefix().unwrap_or_default().to_owned();
        all.push((prefix, state_of(&rule)));
    }
    Ok(all)
}

/// The rule for the rollout's prefix, read now (not from the pass's shared read; after a write
/// whose answer was lost, always).
async fn read_rule_now(c: &Regional, t: &Target, r: &Rollout) -> Result<RuleState, ApiError> {
    let sent = c
        .ecr
        .describe_pull_through_cache_rules()
        .ecr_repository_prefixes(r.prefix())
        .send()
        .await;
    // ECR answers "not found" for an unknown prefix in the filter: that is absence.
    let rule_not_found = |e: &DescribeError| e.is_pull_through_cache_rule_not_found_exception();
    let call = "ecr:DescribePullThroughCacheRules";
    let Some(out) = unless_absent(sent, rule_not_found, t, call)? else {
        return Ok(RuleState::Absent);
    };
    let rule = out
        .pull_through_cache_rules()
        .iter()
        .find(|rule| rule.ecr_repository_prefix() == Some(r.prefix()));
    Ok(rule.map_or(RuleState::Absent, state_of))
}

/// What ptc-rollout keeps of a rule. An ECR upstream's role is its credential: kept in the
/// same place.
fn state_of(rule: &PullThroughCacheRule) -> RuleState {
    RuleState::Present {
        upstream_registry_url: rule.upstream_registry_url().unwrap_or_default().to_owned(),
        credential_arn: rule
            .credential_arn()
            .or(rule.custom_role_arn())
            .map(str::to_owned),
        // The model's default for upstreamRepositoryPrefix is ROOT: all of the registry.
        upstream_repository_prefix: rule
            .upstream_repository_prefix()
            .filter(|p| *p != "ROOT")
            .map(str::to_owned),
    }
}

/// The central registry's namespace the rollout wants cached (`None`: all of it, ECR's `ROOT`).
pub(crate) fn wanted_upstream_prefix(r: &Rollout) -> Option<String> {
    r.upstream
        .upstream_repository_prefix
        .clone()
        .filter(|p| p != "ROOT")
}

/// The credential the rule should have: the secret's ARN, or an ECR upstream's role in the
/// target's account (ECR takes only a role of the registry's own account).
pub(super) fn credential_for(t: &Target, r: &Rollout, secret_arn: Option<&str>) -> Option<String> {
    match &r.upstream.custom_role_name {
        Some(_) => r
            .upstream
            .custom_role_arn(regions::partition(&t.region), &t.account_id),
        None => secret_arn.map(str::to_owned),
    }
}

pub(super) async fn create_rule(
    c: &Regional,
    t: &Target,
    r: &Rollout,
    secret_arn: Option<&str>,
) -> Result<(), ApiError> {
    let u = &r.upstream;
    let credential = credential_for(t, r, secret_arn);
    let mut req = c
        .ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix(r.prefix())
        .upstream_registry(UpstreamRegistry::from(u.kind.registry))
        .upstream_registry_url(&u.url)
        .set_upstream_repository_prefix(u.upstream_repository_prefix.clone());
    req = match u.custom_role_name {
        Some(_) => req.set_custom_role_arn(credential.clone()),
        None => req.set_credential_arn(credential.clone()),
    };
    let sent = req.send().await;
    let call = "ecr:CreatePullThroughCacheRule";
    match sent {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_limit_exceeded_exception()) =>
        {
            let mut err = ApiError::from_sdk(&t.account_id, &t.region, call, e);
            // ECR's quota page gives the name and default, not a Service Quotas code.
            err.message.push_str(" (quota \"Pull through cache rules per registry\": 50 per Region, ECR's current default, not adjustable; delete unused rules)");
            Err(err)
        }
        // An attempt that timed out after ECR created the rule makes the retry find it: that is
        // success when the rule is ours.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_pull_through_cache_rule_already_exists_exception()) =>
        {
            match read_rule_now(c, t, r).await? {
                RuleState::Present {
                    upstream_registry_url,
                    credential_arn,
                    upstream_repository_prefix,
                } if upstream_registry_url == u.url
                    && credential_arn == credential
                    && upstream_repository_prefix == wanted_upstream_prefix(r) =>
                {
                    Ok(())
                }
                _ => Err(ApiError::from_sdk(&t.account_id, &t.region, call, e)),
            }
        }
        Err(e) => Err(with_hint(ApiError::from_sdk(
            &t.account_id,
            &t.region,
            call,
            e,
        ))),
    }
}

pub(super) async fn update_rule(
    c: &Regional,
    t: &Target,
    r: &Rollout,
    secret_arn: Option<&str>,
) -> Result<(), ApiError> {
    let credential = credential_for(t, r, secret_arn);
    let req = c
        .ecr
        .update_pull_through_cache_rule()
        .ecr_repository_prefix(r.prefix());
    let req = match r.upstream.custom_role_name {
        Some(_) => req.set_custom_role_arn(credential),
        None => req.set_credential_arn(credential),
    };
    req.send().await.map_err(|e| {
        with_hint(ApiError::from_sdk(
            &t.account_id,
            &t.region,
            "ecr:UpdatePullThroughCacheRule",
            e,
        ))
    })?;
    Ok(())
}

/// Asks ECR to validate the rule (ECR reads the secret and logs in to GitLab). A missing rule or
/// one for another upstream is an invalid row, not an error.
pub async fn validate(c: &Regional, t: &Target, r: &Rollout) -> Result<Validation, ApiError> {
    let sent = c
        .ecr
        .validate_pull_through_cache_rule()
        .ecr_repository_prefix(r.prefix())
        .send()
        .await;
    let rule_not_found = |e: &ValidateError| e.is_pull_through_cache_rule_not_found_exception();
    let call = "ecr:ValidatePullThroughCacheRule";
    let Some(out) = unless_absent(sent, rule_not_found, t, call)? else {
        return Ok(Validation {
            is_valid: false,
            failure: Some(format!(
                "no pull through cache rule for prefix {:?}",
                r.prefix()
            )),
            upstream_registry_url: None,
            credential_arn: None,
            checked: true,
            skipped: false,
        });
    };
    let url = out.upstream_registry_url().map(str::to_owned);
    let (is_valid, failure) = match url.as_deref() {
        Some(u) if u != r.upstream.url => (
            false,
            Some(format!(
                "prefix {:?} is taken by a pull through cache rule for {u}",
                r.prefix()
            )),
        ),
        _ => (
            out.is_valid(),
            out.failure().filter(|f| !f.is_empty()).map(str::to_owned),
        ),
    };
    Ok(Validation {
        is_valid,
        failure,
        upstream_registry_url: url,
        credential_arn: out.credential_arn().map(str::to_owned),
        checked: true,
        skipped: false,
    })
}

/// What to do about the errors ECR answers when it cannot use the rule's secret or the upstream,
/// said on the row after ECR's own words.
pub(super) fn with_hint(mut e: ApiError) -> ApiError {
    let hint = match e.code.as_deref() {
        Some("SecretNotFoundException") => "the secret is not in this account and Region (deleted meanwhile?): run `ptc-rollout plan` and apply again",
        Some("UnableToAccessSecretException") => "ECR cannot read the secret: restore it if it is scheduled for deletion (apply does, for ptc-rollout's own), or fix a resource policy that denies ECR's service-linked role",
        Some("UnableToDecryptSecretValueException") => "the secret is encrypted with a customer managed KMS key, which ECR cannot use: re-create it under the default aws/secretsmanager key",
        Some("ValidationException") => "ECR refused a value of the request: check rule.ecr_repository_prefix and rule.secret_name in the rollout file",
        // ECR answers a missing credential with this code too (aws-controllers-k8s/community#2589,
        // a user's report; AWS does not document it; see the
        // emulator's ptc.py): its words tell the two apart.
        Some("UnsupportedUpstreamRegistryException") if e.message.contains("requires authentication") => "ECR needs a credential for this upstream: give the upstream's entry username, token_env and secret_name",
        Some("UnsupportedUpstreamRegistryException") => "ECR does not offer pull through cache from this upstream in this Region: leave the Region out of targets.regions",
        _ => return e,
    };
    e.message = format!("{} ({hint})", e.message);
    e
}

/// Deletes the rule for the rollout's prefix.
pub(crate) async fn delete_rule(c: &Regional, t: &Target, r: &Rollout) -> Result<(), ApiError> {
    let sent = c
        .ecr
        .delete_pull_through_cache_rule()
        .ecr_repository_prefix(r.prefix())
        .send()
        .await;
    // Already gone is as good as deleted.
    let rule_not_found = |e: &DeleteRuleError| e.is_pull_through_cache_rule_not_found_exception();
    unless_absent(sent, rule_not_found, t, "ecr:DeletePullThroughCacheRule").map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_about_the_secret_say_what_to_do() {
        let mut e = ApiError::new(
            "1",
            "r",
            "ecr:CreatePullThroughCacheRule",
            "UnableToDecryptSecretValueException: no",
        );
        e.code = Some("UnableToDecryptSecretValueException".into());
        assert!(with_hint(e)
            .message
            .contains("re-create it under the default aws/secretsmanager key"));
        let other = ApiError::new("1", "r", "ecr:CreatePullThroughCacheRule", "x");
        assert_eq!(with_hint(other.clone()), other);
    }

    #[test]
    fn an_upstream_not_offered_in_the_region_says_to_leave_the_region_out() {
        let mut e = ApiError::new(
            "1",
            "cn-north-1",
            "ecr:CreatePullThroughCacheRule",
            "UnsupportedUpstreamRegistryException: The specified upstream registry isn't supported.",
        );
        e.code = Some("UnsupportedUpstreamRegistryException".into());
        let message = with_hint(e).message;
        assert!(message.starts_with("UnsupportedUpstreamRegistryException: The specified"));
        assert!(
            message.ends_with("(ECR does not offer pull through cache from this upstream in this Region: leave the Region out of targets.regions)"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_credential_is_told_from_an_upstream_not_offered() {
        let mut e = ApiError::new(
            "1",
            "us-east-1",
            "ecr:CreatePullThroughCacheRule",
            "UnsupportedUpstreamRegistryException: The specified upstream registry requires authentication. Specify a valid Secrets Manager ARN.",
        );
        e.code = Some("UnsupportedUpstreamRegistryException".into());
        let message = with_hint(e).message;
        assert!(
            message.ends_with("(ECR needs a credential for this upstream: give the upstream's entry username, token_env and secret_name)"),
            "{message}"
        );
    }
}
