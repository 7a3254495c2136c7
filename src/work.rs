//! The work in one target, as GitLab's tutorial does it by hand: read the secret and the rule,
//! decide, create or repair only what differs, then validate. Reads come first and writes only
//! follow a difference, so a converged target costs no mutating call.

use aws_sdk_ecr::types::UpstreamRegistry;
use aws_sdk_secretsmanager::types::Tag;

use crate::clients::Regional;
use crate::error::ApiError;
use crate::rollout::{
    Rollout, EXPIRY_TAG_KEY, GITLAB_REGISTRY_URL, MANAGED_TAG_KEY, MANAGED_TAG_VALUE,
};
use crate::target::{
    Action, Decision, Observed, PullAccessState, RuleState, SecretState, Target, TemplateState,
    Validation,
};
use crate::token::GitlabToken;

/// Reads the secret, the rule, and the template and registry policy when configured, all at once.
pub async fn observe(c: &Regional, t: &Target, r: &Rollout) -> Result<Observed, ApiError> {
    let template = async {
        match &r.repository_template {
            Some(want) => template::read_template(c, t, r, want).await.map(Some),
            None => Ok(None),
        }
    };
    let pull_access = async {
        match &r.pull_access {
            Some(want) => pull_access::read_state(c, t, r, want).await.map(Some),
            None => Ok(None),
        }
    };
    let (secret, rule, template, pull_access) = futures::try_join!(
        read_secret(c, t, r),
        read_rule(c, t, r),
        template,
        pull_access
    )?;
    Ok(Observed {
        secret,
        rule,
        template,
        pull_access,
    })
}

/// The secret's state, from the same DescribeSecret that day-two commands read details from.
async fn read_secret(c: &Regional, t: &Target, r: &Rollout) -> Result<SecretState, ApiError> {
    let details = day_two::describe_secret(c, t, r).await?;
    Ok(details.map_or(SecretState::Absent, |d| d.state()))
}

pub async fn read_rule(c: &Regional, t: &Target, r: &Rollout) -> Result<RuleState, ApiError> {
    let out = match c
        .ecr
        .describe_pull_through_cache_rules()
        .ecr_repository_prefixes(&r.ecr_repository_prefix)
        .send()
        .await
    {
        Ok(out) => out,
        // ECR answers "not found" for an unknown prefix in the filter: that is absence.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_pull_through_cache_rule_not_found_exception()) =>
        {
            return Ok(RuleState::Absent)
        }
        Err(e) => {
            return Err(ApiError::from_sdk(
                &t.account_id,
                &t.region,
                "ecr:DescribePullThroughCacheRules",
                e,
            ))
        }
    };
    let rule = out
        .pull_through_cache_rules()
        .iter()
        .find(|rule| rule.ecr_repository_prefix() == Some(r.ecr_repository_prefix.as_str()));
    Ok(match rule {
        None => RuleState::Absent,
        Some(rule) => RuleState::Present {
            upstream_registry_url: rule.upstream_registry_url().unwrap_or_default().to_owned(),
            credential_arn: rule.credential_arn().map(str::to_owned),
        },
    })
}

/// What `apply` should do, given what is there.
pub fn decide(o: &Observed, r: &Rollout) -> Decision {
    if let RuleState::Present {
        upstream_registry_url,
        ..
    } = &o.rule
    {
        if upstream_registry_url != GITLAB_REGISTRY_URL {
            return Decision::Conflict {
                reason: format!(
                    "prefix {:?} is taken by a pull through cache rule for {upstream_registry_url}",
                    r.ecr_repository_prefix
                ),
            };
        }
    }
    if let SecretState::PendingDeletion { managed: false, .. } = o.secret {
        return Decision::Conflict {
            reason: format!(
                "secret {} is scheduled for deletion and was not created by ptc-rollout; restore or remove it",
                r.secret_name
            ),
        };
    }
    let mut actions = Vec::new();
    match o.secret {
        SecretState::Absent => actions.push(Action::CreateSecret),
        SecretState::PendingDeletion { .. } => actions.push(Action::RestoreSecret),
        SecretState::Present { .. } => {}
    }
    match &o.rule {
        RuleState::Absent => actions.push(Action::CreateRule),
        RuleState::Present { credential_arn, .. } => {
            // A secret about to be created gets a new ARN, so an existing rule must follow it.
            if o.secret.arn().is_none() || credential_arn.as_deref() != o.secret.arn() {
                actions.push(Action::UpdateRuleCredential);
            }
        }
    }
    match o.template {
        Some(TemplateState::Absent) => actions.push(Action::CreateTemplate),
        Some(TemplateState::Differs) => actions.push(Action::UpdateTemplate),
        Some(TemplateState::Matches) | None => {}
    }
    match o.pull_access {
        Some(PullAccessState::Absent) => actions.push(Action::AddPullAccess),
        Some(PullAccessState::Differs) => actions.push(Action::UpdatePullAccess),
        Some(PullAccessState::Matches) | None => {}
    }
    Decision::Change { actions }
}

/// Carries out `actions` in order and returns them with the state they leave behind. On error,
/// returns what was done before it.
pub async fn converge(
    c: &Regional,
    t: &Target,
    r: &Rollout,
    observed: &Observed,
    actions: &[Action],
    token: &GitlabToken,
) -> Result<(Vec<Action>, Observed), (ApiError, Vec<Action>)> {
    let mut done = Vec::new();
    let mut arn = observed.secret.arn().map(str::to_owned);
    for &action in actions {
        let step = match action {
            Action::CreateSecret => create_secret(c, t, r, token).await.map(|a| arn = Some(a)),
            Action::RestoreSecret => {
                restore_secret(c, t, arn.as_deref().unwrap_or(&r.secret_name), r, token).await
            }
            Action::CreateRule => create_rule(c, t, r, arn.as_deref().unwrap_or_default()).await,
            Action::UpdateRuleCredential => {
                update_rule(c, t, r, arn.as_deref().unwrap_or_default()).await
            }
            Action::CreateTemplate | Action::UpdateTemplate => match &r.repository_template {
                Some(want) => {
                    template::put_template(c, t, r, want, action == Action::UpdateTemplate).await
                }
                None => Ok(()),
            },
            Action::AddPullAccess | Action::UpdatePullAccess => match &r.pull_access {
                Some(want) => pull_access::put(c, t, r, want).await,
                None => Ok(()),
            },
            // Not decided by `decide`: rotation and removal have their own passes.
            Action::RotateSecret
            | Action::DeleteRule
            | Action::DeleteSecret
            | Action::RemovePullAccess => Ok(()),
        };
        match step {
            Ok(()) => done.push(action),
            Err(e) => return Err((e, done)),
        }
    }
    let mut after = observed.clone();
    if after.template.is_some() {
        after.template = Some(TemplateState::Matches);
    }
    if after.pull_access.is_some() {
        after.pull_access = Some(PullAccessState::Matches);
    }
    if let Some(arn) = arn.filter(|_| !done.is_empty()) {
        let managed = !observed.secret.is_unmanaged();
        after.secret = SecretState::Present {
            arn: arn.clone(),
            managed,
        };
        after.rule = RuleState::Present {
            upstream_registry_url: GITLAB_REGISTRY_URL.to_owned(),
            credential_arn: Some(arn),
        };
    }
    Ok((done, after))
}

async fn create_secret(
    c: &Regional,
    t: &Target,
    r: &Rollout,
    token: &GitlabToken,
) -> Result<String, ApiError> {
    let tags = std::iter::once((MANAGED_TAG_KEY, MANAGED_TAG_VALUE))
        .chain(r.token_expires_on.as_deref().map(|d| (EXPIRY_TAG_KEY, d)))
        .chain(r.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    // No KMS key: ECR can read only secrets under the default aws/secretsmanager key.
    let out = c
        .secrets
        .create_secret()
        .name(&r.secret_name)
        .description("GitLab Container Registry credentials for ECR pull through cache (managed by ptc-rollout)")
        .secret_string(token.secret_json(&r.username))
        .client_request_token(version_id(t, r, token))
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| ApiError::from_sdk(&t.account_id, &t.region, "secretsmanager:CreateSecret", e))?;
    out.arn().map(str::to_owned).ok_or_else(|| {
        ApiError::new(
            &t.account_id,
            &t.region,
            "secretsmanager:CreateSecret",
            "response had no ARN",
        )
    })
}

async fn restore_secret(
    c: &Regional,
    t: &Target,
    arn: &str,
    r: &Rollout,
    token: &GitlabToken,
) -> Result<(), ApiError> {
    c.secrets
        .restore_secret()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            ApiError::from_sdk(&t.account_id, &t.region, "secretsmanager:RestoreSecret", e)
        })?;
    day_two::put_token(c, t, r, arn, token).await
}

/// The version id the token gets in this target's secret (see [`GitlabToken::version_id`]).
pub fn version_id(t: &Target, r: &Rollout, token: &GitlabToken) -> String {
    token.version_id(
        &format!("{}/{}/{}", t.account_id, t.region, r.secret_name),
        &r.username,
    )
}

async fn create_rule(
    c: &Regional,
    t: &Target,
    r: &Rollout,
    credential_arn: &str,
) -> Result<(), ApiError> {
    let sent = c
        .ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix(&r.ecr_repository_prefix)
        .upstream_registry(UpstreamRegistry::GitLabContainerRegistry)
        .upstream_registry_url(GITLAB_REGISTRY_URL)
        .credential_arn(credential_arn)
        .send()
        .await;
    let call = "ecr:CreatePullThroughCacheRule";
    match sent {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_limit_exceeded_exception()) =>
        {
            let mut err = ApiError::from_sdk(&t.account_id, &t.region, call, e);
            err.message.push_str(" (quota: 50 pull through cache rules per Region, not adjustable; delete unused rules)");
            Err(err)
        }
        // An attempt that timed out after ECR created the rule makes the retry find it: that is
        // success when the rule is ours.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_pull_through_cache_rule_already_exists_exception()) =>
        {
            match read_rule(c, t, r).await? {
                RuleState::Present {
                    upstream_registry_url,
                    credential_arn: Some(arn),
                } if upstream_registry_url == GITLAB_REGISTRY_URL && arn == credential_arn => {
                    Ok(())
                }
                _ => Err(ApiError::from_sdk(&t.account_id, &t.region, call, e)),
            }
        }
        Err(e) => Err(ApiError::from_sdk(&t.account_id, &t.region, call, e)),
    }
}

async fn update_rule(
    c: &Regional,
    t: &Target,
    r: &Rollout,
    credential_arn: &str,
) -> Result<(), ApiError> {
    c.ecr
        .update_pull_through_cache_rule()
        .ecr_repository_prefix(&r.ecr_repository_prefix)
        .credential_arn(credential_arn)
        .send()
        .await
        .map_err(|e| {
            ApiError::from_sdk(
                &t.account_id,
                &t.region,
                "ecr:UpdatePullThroughCacheRule",
                e,
            )
        })?;
    Ok(())
}

/// Asks ECR to validate the rule (ECR reads the secret and logs in to GitLab). A missing rule or
/// one for another upstream is an invalid row, not an error.
pub async fn validate(c: &Regional, t: &Target, r: &Rollout) -> Result<Validation, ApiError> {
    let out = match c
        .ecr
        .validate_pull_through_cache_rule()
        .ecr_repository_prefix(&r.ecr_repository_prefix)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_pull_through_cache_rule_not_found_exception()) =>
        {
            return Ok(Validation {
                is_valid: false,
                failure: Some(format!(
                    "no pull through cache rule for prefix {:?}",
                    r.ecr_repository_prefix
                )),
                upstream_registry_url: None,
                credential_arn: None,
            })
        }
        Err(e) => {
            return Err(ApiError::from_sdk(
                &t.account_id,
                &t.region,
                "ecr:ValidatePullThroughCacheRule",
                e,
            ))
        }
    };
    let url = out.upstream_registry_url().map(str::to_owned);
    let (is_valid, failure) = match url.as_deref() {
        Some(u) if u != GITLAB_REGISTRY_URL => (
            false,
            Some(format!(
                "prefix {:?} is taken by a pull through cache rule for {u}",
                r.ecr_repository_prefix
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
    })
}

pub mod day_two;
pub mod probe;
pub mod pull_access;
pub mod template;
#[cfg(test)]
mod tests;
