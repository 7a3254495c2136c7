//! Least-privilege IAM policies for a rollout (`iam-policy`): what the member role may do, who
//! may assume it, and what the caller needs. Built from the rollout file, so the secret
//! resource names exactly the configured secret.

use serde_json::{json, Value};

use crate::config::{RepositoryTemplate, Rollout};
use crate::data::regions::role_arn;

mod ecr;
use ecr::one_or_many;

/// The service-linked role ECR creates with an account's first pull through cache rule.
const PTC_SERVICE: &str = "pullthroughcache.ecr.amazonaws.com";
/// The service of AWSServiceRoleForECRTemplate, created with an account's first template.
const TEMPLATE_SERVICE: &str = "ecr.amazonaws.com";

/// Everything `iam-policy` prints.
pub(crate) struct Policies {
    pub(crate) member_role_policy: Value,
    pub(crate) member_role_trust_policy: Value,
    pub(crate) caller_policy: Value,
    /// What a workload's role (nodes, runners) needs to pull through the cache by identity
    /// policy alone, for teams that prefer that to `[pull_access]`'s registry policy.
    pub(crate) consumer_policy: Value,
    /// ECR-to-ECR only: the role each target account needs, per ECR upstream.
    pub(crate) ecr_upstream_roles: Option<Value>,
    /// ECR-to-ECR only: the central registry's statement letting the Organization pull.
    pub(crate) central_registry_policies: Option<Value>,
}

impl Policies {
    /// `partition` is `aws`, `aws-us-gov` or `aws-cn`; `caller_role_arn` and `org_id` go into
    /// the trust policy.
    /// `probe_as_role`: the role `probe --as-role` assumes from the member role, if any.
    pub(crate) fn for_rollout(
        r: &Rollout,
        partition: &str,
        caller_role_arn: &str,
        org_id: &str,
        probe_as_role: Option<&str>,
    ) -> Self {
        let cached = cached_repositories(r, partition);
        let ecr_ups = ecr::ecr_upstreams(r);
        let mut member = rule_statements(r, partition);
        member.extend(ecr::member_statements(&ecr_ups, partition));
        if let Some(t) = &r.repository_template {
            member.extend(template_statements(t, partition));
        }
        member.extend(registry_statements());
        member.extend(probe_statements(&cached, partition, probe_as_role));
        Policies {
            consumer_policy: consumer_policy(&cached),
            member_role_policy: json!({ "Version": "2012-10-17", "Statement": member }),
            member_role_trust_policy: trust_policy(r, caller_role_arn, org_id),
            caller_policy: caller_policy(r, partition),
            ecr_upstream_roles: (!ecr_ups.is_empty()).then(|| ecr::roles(&ecr_ups)),
            central_registry_policies: (!ecr_ups.is_empty())
                .then(|| ecr::central_statements(&ecr_ups, org_id)),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut note = "The caller's own account is rolled out with the caller's credentials: give the caller the member_role_policy permissions too. consumer_policy is what a workload role needs to pull through the cache without [pull_access]; with [pull_access], its usual read-only ECR policy is enough.".to_owned();
        let mut doc = json!({
            "member_role_policy": self.member_role_policy,
            "member_role_trust_policy": self.member_role_trust_policy,
            "caller_policy": self.caller_policy,
            "consumer_policy": self.consumer_policy,
        });
        // Only with an ECR upstream: the single form prints what it always has.
        if let (Some(roles), Some(central)) =
            (&self.ecr_upstream_roles, &self.central_registry_policies)
        {
            doc["ecr_upstream_roles"] = roles.clone();
            doc["central_registry_policies"] = central.clone();
            note.push_str(ecr::NOTE);
        }
        doc["note"] = json!(note);
        doc
    }
}

/// The repositories first pulls create, under each rule's prefix: what probes and consumers
/// pull.
fn cached_repositories(r: &Rollout, partition: &str) -> Value {
    let mut all: Vec<String> = r
        .upstreams
        .iter()
        .map(|u| {
            let prefix = u.ecr_repository_prefix.trim_end_matches('/');
            if prefix == "ROOT" {
                format!("arn:{partition}:ecr:*:*:repository/*")
            } else {
                format!("arn:{partition}:ecr:*:*:repository/{prefix}/*")
            }
        })
        .collect();
    all.dedup();
    one_or_many(all)
}

/// The member role's core: the secrets, the rules, and the role ECR makes with the first rule.
fn rule_statements(r: &Rollout, partition: &str) -> Vec<Value> {
    let secrets: Vec<&str> = r
        .upstreams
        .iter()
        .filter_map(|u| u.secret.as_ref().map(|s| s.secret_name.as_str()))
        .collect();
    let mut out = Vec::new();
    if !secrets.is_empty() {
        out.extend(secret_statements(&secrets, partition));
    }
    out.extend([
        json!({
            "Sid": "PullThroughCacheRule",
            "Effect": "Allow",
            "Action": [
                "ecr:DescribePullThroughCacheRules",
                "ecr:CreatePullThroughCacheRule",
                "ecr:UpdatePullThroughCacheRule",
                "ecr:DeletePullThroughCacheRule",
                "ecr:ValidatePullThroughCacheRule"
            ],
            "Resource": "*"
        }),
        creates_service_linked_role(
            "FirstRuleCreatesTheServiceLinkedRole",
            partition,
            PTC_SERVICE,
            "*",
        ),
    ]);
    out
}

/// The managed secrets (every upstream with one), and describing them before they exist.
fn secret_statements(secrets: &[&str], partition: &str) -> [Value; 2] {
    let named = |f: &dyn Fn(&str) -> String| one_or_many(secrets.iter().map(|s| f(s)).collect());
    [
        json!({
            "Sid": "PullThroughCacheSecret",
            "Effect": "Allow",
            "Action": [
                "secretsmanager:DescribeSecret",
                "secretsmanager:CreateSecret",
                "secretsmanager:TagResource",
                "secretsmanager:PutSecretValue",
                "secretsmanager:UpdateSecretVersionStage",
                "secretsmanager:RestoreSecret",
                "secretsmanager:DeleteSecret"
            ],
            // Secrets Manager appends a hyphen and six characters to the name.
            "Resource": named(&|n| format!("arn:{partition}:secretsmanager:*:*:secret:{n}-??????"))
        }),
        // `plan` describes the secret by name in accounts where it does not exist yet. There
        // is no suffix to match then, and Secrets Manager answers AccessDeniedException rather
        // than ResourceNotFoundException to a caller allowed only `NAME-??????` (its guide:
        // "either a ResourceNotFoundException or an AccessDeniedException error, depending on
        // your permissions"). Metadata only, never the value.
        json!({
            "Sid": "DescribeSecretBeforeItExists",
            "Effect": "Allow",
            "Action": "secretsmanager:DescribeSecret",
            "Resource": named(&|n| describe_before_it_exists(n, partition))
        }),
    ]
}

/// What `DescribeSecretBeforeItExists` allows: the name, bare or with any suffix.
pub(crate) fn describe_before_it_exists(secret_name: &str, partition: &str) -> String {
    format!("arn:{partition}:secretsmanager:*:*:secret:{secret_name}*")
}

/// The member role creates the role a service needs when it first uses it in an account.
fn creates_service_linked_role(sid: &str, partition: &str, service: &str, role: &str) -> Value {
    json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": "iam:CreateServiceLinkedRole",
        "Resource": role_arn(partition, "*", &format!("aws-service-role/{service}/{role}")),
        "Condition": { "StringEquals": { "iam:AWSServiceName": service } }
    })
}

/// `[repository_template]` only: keeping the template, and passing it its role.
fn template_statements(t: &RepositoryTemplate, partition: &str) -> Vec<Value> {
    let mut out = vec![
        // The template actions have no resource type in the Service Authorization Reference
        // (a template has no ARN): they take only "*".
        json!({
            "Sid": "RepositoryCreationTemplate",
            "Effect": "Allow",
            "Action": [
                "ecr:DescribeRepositoryCreationTemplates",
                "ecr:CreateRepositoryCreationTemplate",
                "ecr:UpdateRepositoryCreationTemplate"
            ],
            "Resource": "*"
        }),
        // The Service Authorization Reference lists these as dependent actions of
        // Create/UpdateRepositoryCreationTemplate (with ecr:SetRepositoryPolicy, for a template
        // repository policy, which the rollout file has no field for, and iam:PassRole, below),
        // but neither it nor ECR's guide says which resource they are checked on when a
        // template is written: no repository exists yet. Scoped to `repository/PREFIX/*`, a
        // printed policy could refuse the first template in an account, so "*", as AWS's
        // template policies grant ecr:CreateRepository (ECRTemplateServiceRolePolicy, the
        // guide's template role policy).
        json!({
            "Sid": "RepositoryCreationTemplateRepositories",
            "Effect": "Allow",
            "Action": ["ecr:CreateRepository", "ecr:PutLifecyclePolicy"],
            "Resource": "*"
        }),
        creates_service_linked_role(
            "FirstTemplateCreatesTheServiceLinkedRole",
            partition,
            TEMPLATE_SERVICE,
            "AWSServiceRoleForECRTemplate",
        ),
    ];
    if let Some(role) = t.role_arn(partition, "*") {
        out.push(json!({
            "Sid": "TemplateRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": role,
            "Condition": { "StringEquals": { "iam:PassedToService": TEMPLATE_SERVICE } }
        }));
    }
    out
}

/// What every run may touch besides the rule: the registry policy, the secret's key, the
/// opt-in status of Regions.
fn registry_statements() -> Vec<Value> {
    vec![
        // `[pull_access]` keeps a statement in the registry policy; `destroy` looks for it even
        // when the rollout file no longer has the table. Only that statement is ever changed.
        json!({
            "Sid": "PullAccessInTheRegistryPolicy",
            "Effect": "Allow",
            "Action": ["ecr:GetRegistryPolicy", "ecr:PutRegistryPolicy", "ecr:DeleteRegistryPolicy"],
            "Resource": "*"
        }),
        // A secret of the rollout's name under a key of its own: is that key the customer's?
        json!({
            "Sid": "TellTheSecretsKey",
            "Effect": "Allow",
            "Action": "kms:DescribeKey",
            "Resource": "*"
        }),
        // An opt-in Region whose calls AWS does not recognise is skipped only once Account
        // Management confirms it is disabled for the account.
        json!({
            "Sid": "ConfirmDisabledRegions",
            "Effect": "Allow",
            "Action": "account:GetRegionOptStatus",
            "Resource": "*"
        }),
    ]
}

/// `probe` and `validate --probe-image`, as the member role or as the workload role it assumes.
fn probe_statements(cached: &Value, partition: &str, probe_as_role: Option<&str>) -> Vec<Value> {
    let mut out = vec![
        json!({
            "Sid": "ProbeRegistryCredential",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*"
        }),
        json!({
            "Sid": "ProbeThroughTheCache",
            "Effect": "Allow",
            "Action": [
                "ecr:DescribeRepositories",
                "ecr:GetLifecyclePolicy",
                "ecr:BatchGetImage",
                // The probe fetches blobs: ECR's redirect to S3 is authorised by this.
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchImportUpstreamImage",
                "ecr:CreateRepository"
            ],
            "Resource": cached
        }),
    ];
    if let Some(role) = probe_as_role {
        out.push(json!({
            "Sid": "ProbeAsWorkloadRole",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": role_arn(partition, "*", role)
        }));
    }
    out
}

/// Only the caller, and only from within the Organization (and with the external ID if set).
fn trust_policy(r: &Rollout, caller_role_arn: &str, org_id: &str) -> Value {
    let mut condition = json!({ "StringEquals": { "aws:PrincipalOrgID": org_id } });
    if let Some(id) = &r.external_id {
        condition["StringEquals"]["sts:ExternalId"] = json!(id);
    }
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "AWS": caller_role_arn },
            "Action": "sts:AssumeRole",
            "Condition": condition
        }]
    })
}

/// The caller lists the Organization and enters each member account through the rollout's role.
fn caller_policy(r: &Rollout, partition: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListTheOrganization",
                "Effect": "Allow",
                "Action": [
                    "organizations:ListAccounts",
                    "organizations:ListAccountsForParent",
                    "organizations:ListChildren",
                    // `report --format html` names each account's OU.
                    "organizations:ListRoots",
                    "organizations:ListOrganizationalUnitsForParent",
                    "organizations:DescribeOrganizationalUnit"
                ],
                "Resource": "*"
            },
            {
                "Sid": "Identify",
                "Effect": "Allow",
                "Action": "sts:GetCallerIdentity",
                "Resource": "*"
            },
            {
                "Sid": "EnterMemberAccounts",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": role_arn(partition, "*", &r.role_name)
            }
        ]
    })
}

/// A workload pulling through the cache by identity policy alone, first pulls included.
fn consumer_policy(cached: &Value) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RegistryCredential",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*"
            },
            {
                "Sid": "PullThroughTheCache",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchImportUpstreamImage",
                    "ecr:CreateRepository"
                ],
                "Resource": cached
            }
        ]
    })
}
