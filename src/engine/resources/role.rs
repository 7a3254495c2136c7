//! ECR-to-ECR: the role an `ecr` upstream's rule names in the target account
//! (`custom_role_name`), read with IAM GetRole before the rule is created, and the target that is
//! the central registry itself.

use aws_sdk_iam::operation::get_role::GetRoleError;

use super::unless_absent;

use crate::aws::clients::Regional;
use crate::aws::error::ApiError;
use crate::config::Rollout;
use crate::data::regions;
use crate::data::target::{RoleState, Target};

/// Whether `t` is the central registry of its ECR upstream: the URL's account and Region.
pub(crate) fn is_central_registry(t: &Target, r: &Rollout) -> bool {
    r.upstream
        .central_registry()
        .is_some_and(|(account, region)| account == t.account_id && region == t.region)
}

/// The skip reason when `t` is its ECR upstream's central registry, else `None`: the runner ends
/// such a row `skipped` before any call (`decide` would make it a conflict, should another
/// caller observe it). ECR's guide describes ECR to ECR only between Regions, accounts
/// or both ("synchronization of images between Regions, AWS accounts, or both",
/// pull-through-cache-private.html); a rule caching a registry into itself is documented
/// nowhere, and would only copy images already there: our reading, not AWS's word.
pub(crate) fn skip_reason(t: &Target, r: &Rollout) -> Option<String> {
    is_central_registry(t, r).then(|| {
        format!(
            "skipped: {} in {} is the central registry of upstream {} ({}): its images are already there, and ptc-rollout caches a registry only into other accounts or Regions",
            t.account_id, t.region, r.upstream.name, r.upstream.url
        )
    })
}

/// The role's state in the target's account, `None` for an upstream without a role. One GetRole
/// per account and run (IAM is global: the same answer in every Region of the account).
pub(crate) async fn read_role(
    c: &Regional,
    t: &Target,
    r: &Rollout,
) -> Result<Option<RoleState>, ApiError> {
    let Some(name) = r.upstream.custom_role_name.as_deref() else {
        return Ok(None);
    };
    if is_central_registry(t, r) {
        return Ok(Some(RoleState::CentralRegistry));
    }
    // Read once per account and run when the runner shares the account's roles; an error is
    // not kept, so the next target of the account asks again.
    let exists = match &c.roles {
        Some(book) => {
            let cell = book
                .lock()
                .expect("not poisoned")
                .entry(name.to_owned())
                .or_default()
                .clone();
            *cell.get_or_try_init(|| role_exists(c, t, name)).await?
        }
        None => role_exists(c, t, name).await?,
    };
    Ok(Some(match exists {
        true => RoleState::Present,
        false => RoleState::Absent {
            role_arn: r
                .upstream
                .custom_role_arn(regions::partition(&t.region), &t.account_id)
                .unwrap_or_default(),
        },
    }))
}

/// IAM GetRole: whether the role exists in the account.
async fn role_exists(c: &Regional, t: &Target, name: &str) -> Result<bool, ApiError> {
    let sent = c.iam().get_role().role_name(name).send().await;
    let absent = |e: &GetRoleError| e.is_no_such_entity_exception();
    match unless_absent(sent, absent, t, "iam:GetRole") {
        Ok(found) => Ok(found.is_some()),
        Err(mut e) => {
            if e.code.as_deref() == Some("AccessDenied") {
                e.message.push_str(
                    " (the member role needs iam:GetRole on the ECR upstream's role: `ptc-rollout iam-policy` prints it)",
                );
            }
            Err(e)
        }
    }
}

/// The conflict for a role that is not there (`role_arn` names it and its account): nothing is
/// written in the target.
pub(crate) fn missing_role(role_arn: &str, r: &Rollout) -> String {
    let name = r.upstream.custom_role_name.as_deref().unwrap_or_default();
    let account = role_arn.split(':').nth(4).unwrap_or("?");
    format!(
        "the role {name:?} ({role_arn}) that ECR assumes to read the central registry {} (upstream {}) does not exist in account {account}: create it there (`ptc-rollout iam-policy --config FILE` prints its trust and permissions policies), then apply again",
        r.upstream.url, r.upstream.name
    )
}
