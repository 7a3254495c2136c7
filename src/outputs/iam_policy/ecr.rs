//! ECR-to-ECR (an upstream with `registry = "ecr"`): the role each target account needs for ECR,
//! the central registry's statement letting the Organization's accounts pull, and what the
//! member role needs besides. The role's policies are the ECR user guide's
//! (pull-through-cache-private.html, "Setting up permissions for cross-account ECR to ECR PTC").

use serde_json::{json, Value};

use crate::config::{Rollout, Upstream};
use crate::data::regions::{self, role_arn};

use super::PTC_SERVICE;

/// What the role ECR assumes may do: the guide's permissions policy, on `*` as the guide grants
/// it (GetAuthorizationToken takes only `*`; the rest reach the central registry's repositories
/// and the target's own cache repositories, whose names the role cannot know in advance).
const ROLE_ACTIONS: [&str; 9] = [
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetAuthorizationToken",
    "ecr:BatchImportUpstreamImage",
    "ecr:BatchGetImage",
    "ecr:GetImageCopyStatus",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
];

/// What the central registry's policy grants the downstream accounts (the guide's upstream
/// registry policy).
const CENTRAL_PULL_ACTIONS: [&str; 4] = [
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchImportUpstreamImage",
    "ecr:GetImageCopyStatus",
];

/// The rollout's ECR upstreams, in file order.
pub(super) fn ecr_upstreams(r: &Rollout) -> Vec<&Upstream> {
    r.upstreams
        .iter()
        .filter(|u| u.custom_role_name.is_some())
        .collect()
}

/// The member role's statements for ECR upstreams: read the role before a rule names it
/// (`apply`'s check), and hand it to ECR in the rule.
pub(super) fn member_statements(ups: &[&Upstream], partition: &str) -> Vec<Value> {
    let mut roles: Vec<String> = ups
        .iter()
        .filter_map(|u| u.custom_role_name.as_deref())
        .map(|name| role_arn(partition, "*", name))
        .collect();
    roles.dedup();
    if roles.is_empty() {
        return Vec::new();
    }
    let roles = one_or_many(roles);
    vec![
        json!({
            "Sid": "EcrUpstreamRoleExists",
            "Effect": "Allow",
            "Action": "iam:GetRole",
            "Resource": roles
        }),
        // ECR's guide lists no iam:PassRole for a rule's customRoleArn; a service given a role
        // of the caller's account is, as a rule, checked for it. Our reading: granted on the
        // role alone. No iam:PassedToService condition: which service name ECR would pass it
        // as is documented nowhere, and a wrong one would refuse every rule.
        json!({
            "Sid": "PassTheEcrUpstreamRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": roles
        }),
    ]
}

/// The role each target account needs, per ECR upstream: who may assume it (ECR's pull through
/// cache) and what it may do.
pub(super) fn roles(ups: &[&Upstream]) -> Value {
    let roles: Vec<Value> = ups
        .iter()
        .map(|u| {
            json!({
                "upstream": u.name,
                "role_name": u.custom_role_name,
                "trust_policy": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": { "Service": PTC_SERVICE },
                        "Action": "sts:AssumeRole"
                    }]
                },
                "permissions_policy": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Sid": "PullThroughCacheFromTheCentralRegistry",
                        "Effect": "Allow",
                        "Action": ROLE_ACTIONS,
                        "Resource": "*"
                    }]
                }
            })
        })
        .collect();
    Value::Array(roles)
}

/// Per ECR upstream, the statement the central registry's owner adds to its registry policy (or
/// each repository's policy) so that every account of the Organization may pull. The guide's
/// example names each downstream account's root; `aws:PrincipalOrgID` (a global condition key)
/// names them all, new accounts included, which the guide does not show: our choice.
pub(super) fn central_statements(ups: &[&Upstream], org_id: &str) -> Value {
    let statements: Vec<Value> = ups
        .iter()
        .map(|u| {
            let (account, region) = u
                .central_registry()
                .unwrap_or(("CENTRAL_ACCOUNT", "REGION"));
            let partition = regions::partition(region);
            let resource = match u
                .upstream_repository_prefix
                .as_deref()
                .map(|p| p.trim_end_matches('/'))
            {
                Some(p) if p != "ROOT" => {
                    format!("arn:{partition}:ecr:{region}:{account}:repository/{p}/*")
                }
                _ => format!("arn:{partition}:ecr:{region}:{account}:repository/*"),
            };
            json!({
                "upstream": u.name,
                "registry": u.url,
                "account": account,
                "region": region,
                "registry_policy_statement": {
                    // One statement per ECR upstream: the Sid names it (letters and digits only).
                    "Sid": format!(
                        "PullThroughCacheFromTheOrganization{}",
                        u.name.chars().filter(char::is_ascii_alphanumeric).collect::<String>()
                    ),
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": CENTRAL_PULL_ACTIONS,
                    "Resource": resource,
                    "Condition": { "StringEquals": { "aws:PrincipalOrgID": org_id } }
                }
            })
        })
        .collect();
    Value::Array(statements)
}

/// What the note says of the ECR-to-ECR documents.
pub(super) const NOTE: &str = " ecr_upstream_roles: the role each target account needs for ECR to read the central registry (its trust and permissions policies; `apply` checks it exists). central_registry_policies: the statement the central registry's owner adds to its registry policy (aws ecr put-registry-policy, in its account and Region) so that the Organization's accounts may pull.";

/// A single resource as a string (as the single form has always printed it), several as a list.
pub(super) fn one_or_many(mut items: Vec<String>) -> Value {
    if items.len() == 1 {
        Value::String(items.remove(0))
    } else {
        json!(items)
    }
}
