//! Least-privilege IAM policies for a rollout (`iam-policy`): what the member role may do, who
//! may assume it, and what the caller needs. Built from the rollout file, so the secret
//! resource names exactly the configured secret.

use serde_json::{json, Value};

use crate::rollout::Rollout;

/// The service-linked role ECR creates with an account's first pull through cache rule.
const PTC_SERVICE: &str = "pullthroughcache.ecr.amazonaws.com";
/// The service of AWSServiceRoleForECRTemplate, created with an account's first template.
const TEMPLATE_SERVICE: &str = "ecr.amazonaws.com";

/// Everything `iam-policy` prints.
pub struct Policies {
    pub member_role_policy: Value,
    pub member_role_trust_policy: Value,
    pub caller_policy: Value,
    /// What a workload's role (nodes, runners) needs to pull through the cache by identity
    /// policy alone, for teams that prefer that to `[pull_access]`'s registry policy.
    pub consumer_policy: Value,
}

impl Policies {
    /// `partition` is `aws`, `aws-us-gov` or `aws-cn`; `caller_role_arn` and `org_id` go into
    /// the trust policy.
    /// `probe_as_role`: the role `probe --as-role` assumes from the member role, if any.
    pub fn for_rollout(
        r: &Rollout,
        partition: &str,
        caller_role_arn: &str,
        org_id: &str,
        probe_as_role: Option<&str>,
    ) -> Self {
        let prefix = r.ecr_repository_prefix.trim_end_matches('/');
        let cached = if prefix == "ROOT" {
            format!("arn:{partition}:ecr:*:*:repository/*")
        } else {
            format!("arn:{partition}:ecr:*:*:repository/{prefix}/*")
        };
        let mut member = vec![
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
                "Resource": format!("arn:{partition}:secretsmanager:*:*:secret:{}-??????", r.secret_name)
            }),
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
            json!({
                "Sid": "FirstRuleCreatesTheServiceLinkedRole",
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": format!("arn:{partition}:iam::*:role/aws-service-role/{PTC_SERVICE}/*"),
                "Condition": { "StringEquals": { "iam:AWSServiceName": PTC_SERVICE } }
            }),
        ];
        if let Some(t) = &r.repository_template {
            member.push(json!({
                "Sid": "RepositoryCreationTemplate",
                "Effect": "Allow",
                "Action": [
                    "ecr:DescribeRepositoryCreationTemplates",
                    "ecr:CreateRepositoryCreationTemplate",
                    "ecr:UpdateRepositoryCreationTemplate",
                    "ecr:CreateRepository",
                    "ecr:PutLifecyclePolicy"
                ],
                "Resource": "*"
            }));
            member.push(json!({
                "Sid": "FirstTemplateCreatesTheServiceLinkedRole",
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": format!("arn:{partition}:iam::*:role/aws-service-role/{TEMPLATE_SERVICE}/AWSServiceRoleForECRTemplate"),
                "Condition": { "StringEquals": { "iam:AWSServiceName": TEMPLATE_SERVICE } }
            }));
            let role = match (&t.custom_role_name, &t.custom_role_arn) {
                (Some(name), _) => Some(format!("arn:{partition}:iam::*:role/{name}")),
                (None, arn) => arn.clone(),
            };
            if let Some(role) = role {
                member.push(json!({
                    "Sid": "TemplateRole",
                    "Effect": "Allow",
                    "Action": "iam:PassRole",
                    "Resource": role,
                    "Condition": { "StringEquals": { "iam:PassedToService": TEMPLATE_SERVICE } }
                }));
            }
        }
        // `[pull_access]` keeps a statement in the registry policy; `destroy` looks for it even
        // when the rollout file no longer has the table. Only that statement is ever changed.
        member.push(json!({
            "Sid": "PullAccessInTheRegistryPolicy",
            "Effect": "Allow",
            "Action": ["ecr:GetRegistryPolicy", "ecr:PutRegistryPolicy", "ecr:DeleteRegistryPolicy"],
            "Resource": "*"
        }));
        // A secret of the rollout's name under a key of its own: is that key the customer's?
        member.push(json!({
            "Sid": "TellTheSecretsKey",
            "Effect": "Allow",
            "Action": "kms:DescribeKey",
            "Resource": "*"
        }));
        // An opt-in Region whose calls AWS does not recognise is skipped only once Account
        // Management confirms it is disabled for the account.
        member.push(json!({
            "Sid": "ConfirmDisabledRegions",
            "Effect": "Allow",
            "Action": "account:GetRegionOptStatus",
            "Resource": "*"
        }));
        // `probe` and `validate --probe-image`, as the member role.
        member.push(json!({
            "Sid": "ProbeRegistryCredential",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*"
        }));
        member.push(json!({
            "Sid": "ProbeThroughTheCache",
            "Effect": "Allow",
            "Action": [
                "ecr:DescribeRepositories",
                "ecr:GetLifecyclePolicy",
                "ecr:BatchGetImage",
                "ecr:BatchImportUpstreamImage",
                "ecr:CreateRepository"
            ],
            "Resource": cached
        }));
        if let Some(role) = probe_as_role {
            member.push(json!({
                "Sid": "ProbeAsWorkloadRole",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": format!("arn:{partition}:iam::*:role/{role}")
            }));
        }
        let mut trust_condition = json!({ "StringEquals": { "aws:PrincipalOrgID": org_id } });
        if let Some(id) = &r.external_id {
            trust_condition["StringEquals"]["sts:ExternalId"] = json!(id);
        }
        let consumer = json!({
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
        });
        Policies {
            consumer_policy: consumer,
            member_role_policy: json!({ "Version": "2012-10-17", "Statement": member }),
            member_role_trust_policy: json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "AWS": caller_role_arn },
                    "Action": "sts:AssumeRole",
                    "Condition": trust_condition
                }]
            }),
            caller_policy: json!({
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ListTheOrganization",
                        "Effect": "Allow",
                        "Action": [
                            "organizations:ListAccounts",
                            "organizations:ListAccountsForParent",
                            "organizations:ListChildren"
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
                        "Resource": format!("arn:{partition}:iam::*:role/{}", r.role_name)
                    }
                ]
            }),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "member_role_policy": self.member_role_policy,
            "member_role_trust_policy": self.member_role_trust_policy,
            "caller_policy": self.caller_policy,
            "consumer_policy": self.consumer_policy,
            "note": "The caller's own account is rolled out with the caller's credentials: give the caller the member_role_policy permissions too. consumer_policy is what a workload role needs to pull through the cache without [pull_access]; with [pull_access], its usual read-only ECR policy is enough."
        })
    }

    /// Every `service:Action` the policies allow (for checking coverage).
    pub fn actions(&self) -> Vec<String> {
        let mut out = Vec::new();
        for doc in [
            &self.member_role_policy,
            &self.caller_policy,
            &self.consumer_policy,
        ] {
            for statement in doc["Statement"].as_array().into_iter().flatten() {
                match &statement["Action"] {
                    Value::String(a) => out.push(a.clone()),
                    Value::Array(list) => {
                        out.extend(list.iter().filter_map(|a| a.as_str().map(str::to_owned)))
                    }
                    _ => {}
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}
