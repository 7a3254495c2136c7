//! `[pull_access]`: which principals of each target account may pull through the cache, first
//! pulls included. ECR needs `ecr:CreateRepository` and `ecr:BatchImportUpstreamImage` for those,
//! which the usual read-only policies lack; `apply` grants them in the registry policy.

use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

use super::{model_rules, Problem};
use crate::data::regions;

/// The placeholder in `principal_arns` replaced by each target's account id.
const ACCOUNT_PLACEHOLDER: &str = "{account_id}";

/// An IAM role or user ARN, with `*`/`?` wildcards in the path and name, and the account part
/// either 12 digits or the placeholder. Only these can match `aws:PrincipalArn`: for a role
/// session it is the role's ARN, never the session's (`sts::...:assumed-role/...`).
static PRINCIPAL_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^arn:(aws[a-z-]*):iam::([0-9]{12}|\{account_id\}):(role|user)/[A-Za-z0-9_+=,.@/*?-]{1,512}$",
    )
    .expect("valid regex")
});

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPullAccess {
    #[serde(default)]
    role_names: Vec<String>,
    #[serde(default)]
    principal_arns: Vec<String>,
}

/// The principals granted pull access in every target account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PullAccess {
    /// Role names, made into `arn:PARTITION:iam::ACCOUNT:role/NAME` per account.
    pub(crate) role_names: Vec<String>,
    /// Principal ARN patterns, `{account_id}` replaced per account.
    pub(crate) principal_arns: Vec<String>,
    /// Every upstream's ECR prefix, in the file's order: one statement grants them all (the
    /// principals are the same, and one statement keeps the policy under ECR's size limit).
    pub(crate) prefixes: Vec<String>,
}

impl PullAccess {
    /// The principal ARN patterns for one account, sorted and without repeats.
    pub(crate) fn principals(&self, partition: &str, account_id: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .role_names
            .iter()
            .map(|n| regions::role_arn(partition, account_id, n))
            .chain(
                self.principal_arns
                    .iter()
                    .map(|a| a.replace(ACCOUNT_PLACEHOLDER, account_id)),
            )
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// `[pull_access]`: principals that a registry policy of each target account can name.
pub(super) fn check_pull_access(
    raw: RawPullAccess,
    target_regions: &[String],
    p: &mut Vec<Problem>,
) -> PullAccess {
    if raw.role_names.is_empty() && raw.principal_arns.is_empty() {
        p.push(Problem::new(
            "pull_access",
            "names no principal",
            "list role_names (e.g. [\"eks-node-role\"]) or principal_arns, or remove the table",
        ));
    }
    for (i, name) in raw.role_names.iter().enumerate() {
        if !model_rules::is_role_name(name) {
            p.push(Problem::new(
                format!("pull_access.role_names[{i}]"),
                format!("{name:?} is not an IAM role name"),
                "use the role's name (1 to 64 letters, digits or +=,.@_-), not its ARN; for a role with a path use principal_arns",
            ));
        }
    }
    check_principal_arns(&raw.principal_arns, target_regions, p);
    PullAccess {
        role_names: raw.role_names,
        principal_arns: raw.principal_arns,
        prefixes: Vec::new(),
    }
}

/// Only a principal of the target's own partition and account can be granted first pulls.
fn check_principal_arns(arns: &[String], target_regions: &[String], p: &mut Vec<Problem>) {
    let field = |i: usize| format!("pull_access.principal_arns[{i}]");
    let partitions: Vec<&str> = target_regions
        .iter()
        .map(|r| regions::partition(r))
        .collect();
    for (i, arn) in arns.iter().enumerate() {
        let Some(c) = PRINCIPAL_RE.captures(arn) else {
            p.push(Problem::new(
                field(i),
                format!("{arn:?} is not an IAM principal ARN"),
                "use a role or user ARN, e.g. \"arn:aws:iam::{account_id}:role/ci/*\" (* and ? allowed in the name; for a role's sessions give the role's ARN, not an sts assumed-role ARN)",
            ));
            continue;
        };
        let partition = &c[1];
        if let Some(other) = partitions.iter().find(|x| **x != partition) {
            p.push(Problem::new(
                field(i),
                format!("is in partition {partition:?}, but the targets' Regions are in {other:?}"),
                format!("use arn:{other}:... (principals of the target accounts)"),
            ));
        }
        if &c[2] != ACCOUNT_PLACEHOLDER {
            p.push(Problem::new(
                field(i),
                format!("names the fixed account {}", &c[2]),
                "pull through cache imports only for principals of the registry's own account: write {account_id} for the account part",
            ));
        }
    }
}
