//! Apply's logic in one target, the reads next to the decision they feed: observe (the secret,
//! the rule, an ECR upstream's role, and the template and registry policy when configured, read
//! at once), decide, then converge (create or repair only what differs). Reads come first and
//! writes only follow a difference, so a converged target costs no mutating call. The calls
//! themselves are in the resources' own files.

use crate::aws::clients::Regional;
use crate::aws::error::ApiError;
use crate::config::secrets::GitlabToken;
use crate::config::Rollout;
use crate::data::target::{
    Action, Decision, Observed, PullAccessState, RoleState, RuleState, SecretState, Target,
    TemplateState,
};

use super::rule::{create_rule, read_rule, update_rule};
use super::secret::{being_purged, create_secret, restore_secret};
use super::{registry_policy, role, rule, secret, template, version_id};

/// Reads the secret, the rule, an ECR upstream's role, and the template and registry policy when
/// configured, all at once.
pub async fn observe(c: &Regional, t: &Target, r: &Rollout) -> Result<Observed, ApiError> {
    observe_with_version(c, t, r).await.map(|(o, _)| o)
}

/// [`observe`], and the version of the secret labelled AWSCURRENT (kept out of [`Observed`],
/// which saved plans hold).
pub(crate) async fn observe_with_version(
    c: &Regional,
    t: &Target,
    r: &Rollout,
) -> Result<(Observed, Option<String>), ApiError> {
    let template = async {
        match &r.repository_template {
            Some(want) => template::read_template(c, t, r, want).await.map(Some),
            None => Ok(None),
        }
    };
    let pull_access = async {
        match &r.pull_access {
            Some(want) => registry_policy::read_state(c, t, want).await.map(Some),
            None => Ok(None),
        }
    };
    let secret = secret::describe_secret(c, t, r);
    let (secret, rule, template, pull_access, custom_role) = futures::try_join!(
        secret,
        read_rule(c, t, r),
        template,
        pull_access,
        role::read_role(c, t, r)
    )?;
    let version = secret.as_ref().and_then(|d| d.current_version.clone());
    let observed = Observed {
        secret_kms_key: secret.as_ref().and_then(|d| d.kms_key_id.clone()),
        secret: secret.map_or(SecretState::Absent, |d| d.state()),
        rule,
        template,
        pull_access,
        custom_role,
    };
    Ok((observed, version))
}

/// The managed secret's ARN when it exists and its current version is not `token`'s (judged by
/// the version id, as `rotate` does; the value is never read). An existing secret's value is
/// otherwise left alone, so this is only the question: the runner decides from the rule.
pub(crate) fn token_behind<'a>(
    o: &'a Observed,
    current_version: Option<&str>,
    t: &Target,
    r: &Rollout,
    token: &GitlabToken,
) -> Option<&'a str> {
    match &o.secret {
        SecretState::Present { arn, managed: true }
            if current_version != Some(version_id(t, r, token).as_str()) =>
        {
            Some(arn)
        }
        _ => None,
    }
}

/// What `apply` should do, given what is there. `adopt_rules` (`--adopt-rules`): repoint a
/// GitLab rule for the prefix that uses another secret than the rollout's to ours; otherwise
/// such a rule is someone else's, and a conflict.
pub fn decide(o: &Observed, r: &Rollout, adopt_rules: bool) -> Decision {
    if r.secret().is_none() {
        return decide_without_secret(o, r, adopt_rules);
    }
    let mut adopted = false;
    if let RuleState::Present {
        upstream_registry_url,
        credential_arn,
        ..
    } = &o.rule
    {
        if upstream_registry_url != &r.upstream.url {
            return Decision::Conflict {
                reason: format!(
                    "prefix {:?} is taken by a pull through cache rule for {upstream_registry_url}",
                    r.prefix()
                ),
            };
        }
        if let Some(theirs) = credential_arn.as_deref().and_then(|a| others_secret(a, r)) {
            if !adopt_rules {
                // Its owner cannot be told from here: another team's, or this rollout's own
                // under an earlier secret_name. Either way it is not taken without a word.
                return Decision::Conflict {
                    reason: format!(
                        "prefix {:?} has a {} rule that uses the secret {theirs}, not {}: a rule of another secret (another team's, or an earlier secret_name) is left alone; take it over with --adopt-rules",
                        r.prefix(), r.upstream.kind.label, r.secret_name()
                    ),
                };
            }
            adopted = true;
        }
    }
    if let (Some(key), Some(_)) = (&o.secret_kms_key, o.secret.arn()) {
        return Decision::Conflict {
            reason: format!(
                "secret {} is encrypted with the customer managed KMS key {key}, and ECR reads pull through cache secrets only under the default aws/secretsmanager key: re-create it without a KMS key, or delete it and let apply create it",
                r.secret_name()
            ),
        };
    }
    if let SecretState::PendingDeletion { managed: false, .. } = o.secret {
        return Decision::Conflict {
            reason: format!(
                "secret {} is scheduled for deletion and was not created by ptc-rollout; restore or remove it",
                r.secret_name()
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
            if adopted {
                actions.push(Action::AdoptRule);
            } else if o.secret.arn().is_none() || credential_arn.as_deref() != o.secret.arn() {
                actions.push(Action::UpdateRuleCredential);
            }
        }
    }
    template_and_access(o, actions)
}

/// [`decide`] for an upstream read without a secret: the rule, with the custom role for an
/// ECR upstream (kept in the credential's place; see [`super::rule::read_rule`]).
fn decide_without_secret(o: &Observed, r: &Rollout, adopt_rules: bool) -> Decision {
    // ECR-to-ECR: a rule naming a role that is not there could not pull; the central registry
    // caches nothing from itself. Said before anything in the target is written.
    match &o.custom_role {
        Some(RoleState::Absent { role_arn }) => {
            return Decision::Conflict {
                reason: role::missing_role(role_arn, r),
            }
        }
        // Normally skipped by the runner before it observes (role::skip_reason); a conflict
        // here, should a caller not, keeps it unwritten.
        Some(RoleState::CentralRegistry) => {
            return Decision::Conflict {
                reason: format!(
                    "this is the central registry of upstream {} ({}): no rule caches a registry from itself",
                    r.upstream.name, r.upstream.url
                ),
            }
        }
        Some(RoleState::Present) | None => {}
    }
    let mut actions = Vec::new();
    match &o.rule {
        RuleState::Absent => actions.push(Action::CreateRule),
        RuleState::Present {
            upstream_registry_url,
            ..
        } if upstream_registry_url != &r.upstream.url => {
            return Decision::Conflict {
                reason: format!(
                    "prefix {:?} is taken by a pull through cache rule for {upstream_registry_url}",
                    r.prefix()
                ),
            }
        }
        // ECR cannot change which namespace a rule caches (the model's UpdatePullThroughCacheRule
        // takes only credentialArn and customRoleArn): a rule of another is not ours to
        // repoint, and the file's change needs the rule made anew.
        RuleState::Present {
            upstream_repository_prefix,
            ..
        } if *upstream_repository_prefix != rule::wanted_upstream_prefix(r) => {
            let namespace = |p: &Option<String>| p.clone().unwrap_or_else(|| "all".to_owned());
            return Decision::Conflict {
                reason: format!(
                    "prefix {:?} caches the namespace {} of {}, and the rollout file says {}: ECR cannot change a rule's upstream_repository_prefix; remove the rule (`ptc-rollout destroy --upstream {}`) and apply again",
                    r.prefix(),
                    namespace(upstream_repository_prefix),
                    r.upstream.url,
                    namespace(&rule::wanted_upstream_prefix(r)),
                    r.upstream.name
                ),
            };
        }
        // ECR takes the role only from the rule's own account (the model's customRoleArn: "in
        // the same account as the registry that you are configuring"): its name is what can
        // differ. A rule read with another role is someone's, as a rule of another secret is.
        RuleState::Present { credential_arn, .. } => {
            if let Some(name) = &r.upstream.custom_role_name {
                let theirs = credential_arn
                    .as_deref()
                    .and_then(|a| a.rsplit_once(":role/"))
                    .map(|(_, n)| n);
                match theirs {
                    Some(n) if n == name => {}
                    Some(other) if !adopt_rules => {
                        return Decision::Conflict {
                            reason: format!(
                                "prefix {:?} has a rule for {} read with the role {other:?}, not {name:?}: a rule of another role is left alone; take it over with --adopt-rules",
                                r.prefix(),
                                r.upstream.url
                            ),
                        }
                    }
                    Some(_) => actions.push(Action::AdoptRule),
                    None => actions.push(Action::UpdateRuleCredential),
                }
            }
        }
    }
    template_and_access(o, actions)
}

/// The template and pull access actions after the secret's and the rule's.
fn template_and_access(o: &Observed, mut actions: Vec<Action>) -> Decision {
    match o.template {
        Some(TemplateState::Absent) => actions.push(Action::CreateTemplate),
        Some(TemplateState::Differs) => actions.push(Action::UpdateTemplate),
        Some(TemplateState::Matches) | None => {}
    }
    match o.pull_access {
        Some(PullAccessState::Absent) => actions.push(Action::AddPullAccess),
        Some(PullAccessState::Differs) => actions.push(Action::UpdatePullAccess),
        // `apply` would refuse to write it: said before anything in the target is written.
        Some(PullAccessState::TooLong { chars }) => {
            return Decision::Conflict {
                reason: registry_policy::over_limit(chars),
            }
        }
        Some(PullAccessState::Matches) | None => {}
    }
    Decision::Change { actions }
}

/// The name of the secret a rule's credential ARN names, when it is not the rollout's
/// (`arn:...:secret:NAME-XXXXXX`: Secrets Manager appends a hyphen and six characters).
fn others_secret<'a>(credential_arn: &'a str, r: &Rollout) -> Option<&'a str> {
    let (_, named) = credential_arn.split_once(":secret:")?;
    let name = named
        .len()
        .checked_sub(7)
        .filter(|&n| named.as_bytes()[n] == b'-')
        .map_or(named, |n| &named[..n]);
    (name != r.secret_name()).then_some(name)
}

/// Carries out `actions` in order and returns them with the state they leave behind. On error,
/// returns what was done before it.
pub async fn converge(
    c: &Regional,
    t: &Target,
    r: &Rollout,
    observed: &Observed,
    actions: &[Action],
    token: Option<&GitlabToken>,
) -> Result<(Vec<Action>, Observed), (ApiError, Vec<Action>)> {
    let mut done = Vec::new();
    // Only an upstream with a secret has token actions, and its command read the token.
    let missing = || {
        ApiError::new(
            &t.account_id,
            &t.region,
            "secretsmanager:PutSecretValue",
            format!("no token was read for upstream {}", r.upstream.name),
        )
    };
    let need = || token.ok_or_else(missing);
    let mut arn = observed.secret.arn().map(str::to_owned);
    let mut actions = actions.to_vec();
    let mut i = 0;
    while let Some(&planned) = actions.get(i) {
        i += 1;
        let mut action = planned;
        let step = match action {
            Action::CreateSecret => match need() {
                Ok(token) => create_secret(c, t, r, token).await.map(|a| arn = Some(a)),
                Err(e) => Err(e),
            },
            Action::RestoreSecret => {
                let token = match need() {
                    Ok(token) => token,
                    Err(e) => return Err((e, done)),
                };
                match restore_secret(c, t, arn.as_deref().unwrap_or(r.secret_name()), r, token)
                    .await
                {
                    // A forced deletion still being carried out: nothing left to restore, and
                    // the name comes back when it ends. Create the secret anew (CreateSecret
                    // waits for the name); the rule follows its new ARN. Should CreateSecret
                    // fail too, its error keeps RestoreSecret's answer: that may be the cause.
                    Err(refused) if being_purged(&refused) => {
                        action = Action::CreateSecret;
                        let created = create_secret(c, t, r, token).await.map_err(|mut e| {
                            e.message = format!(
                                "{} (after {}: {})",
                                e.message, refused.call, refused.message
                            );
                            e
                        });
                        let rule_follows = actions[i..].iter().any(|a| {
                            matches!(
                                a,
                                Action::CreateRule
                                    | Action::UpdateRuleCredential
                                    | Action::AdoptRule
                            )
                        });
                        if created.is_ok()
                            && !rule_follows
                            && matches!(observed.rule, RuleState::Present { .. })
                        {
                            actions.insert(i, Action::UpdateRuleCredential);
                        }
                        created.map(|a| arn = Some(a))
                    }
                    other => other,
                }
            }
            Action::UpdateToken => match need() {
                Ok(token) => {
                    let arn = arn.as_deref().unwrap_or(r.secret_name());
                    secret::put_token(c, t, r, arn, token, None).await
                }
                Err(e) => Err(e),
            },
            Action::CreateRule => create_rule(c, t, r, arn.as_deref()).await,
            Action::UpdateRuleCredential | Action::AdoptRule => {
                update_rule(c, t, r, arn.as_deref()).await
            }
            Action::CreateTemplate | Action::UpdateTemplate => match &r.repository_template {
                Some(want) => {
                    template::put_template(c, t, r, want, action == Action::UpdateTemplate).await
                }
                None => Ok(()),
            },
            Action::AddPullAccess | Action::UpdatePullAccess => match &r.pull_access {
                Some(want) => registry_policy::put(c, t, want).await,
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
    // A rule without a secret (an ECR upstream's role, or no credential): as written.
    let rule_written = done.iter().any(|a| {
        matches!(
            a,
            Action::CreateRule | Action::UpdateRuleCredential | Action::AdoptRule
        )
    });
    if r.secret().is_none() && rule_written {
        after.rule = RuleState::Present {
            upstream_registry_url: r.upstream.url.clone(),
            credential_arn: rule::credential_for(t, r, None),
            upstream_repository_prefix: rule::wanted_upstream_prefix(r),
        };
    }
    if let Some(arn) = arn.filter(|_| !done.is_empty()) {
        let managed = !observed.secret.is_unmanaged();
        after.secret = SecretState::Present {
            arn: arn.clone(),
            managed,
        };
        after.rule = RuleState::Present {
            upstream_registry_url: r.upstream.url.clone(),
            credential_arn: Some(arn),
            upstream_repository_prefix: None,
        };
    }
    Ok((done, after))
}

#[cfg(test)]
mod tests;
