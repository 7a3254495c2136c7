//! Rollout files for the outputs' unit tests: the single form, and GitLab with ECR Public
//! (from the rollout files the tiers' tests share).

use crate::config::test_rollouts::{rollout, ECR_PUBLIC, GITLAB};
use crate::config::Rollout;
use crate::data::target::{
    CheckedAt, Observed, Outcome, RuleState, SecretState, Target, TargetResult,
};

pub(crate) use crate::config::test_rollouts::single;

pub(crate) fn two() -> Rollout {
    two_with("ecr-public")
}

/// GitLab (its token dated), then ECR Public under `public_prefix`.
pub(crate) fn two_with(public_prefix: &str) -> Rollout {
    let gitlab = format!("{GITLAB}token_expires_on = \"2099-01-01\"\n");
    let public = ECR_PUBLIC.replace(
        "prefix = \"ecr-public\"",
        &format!("prefix = \"{public_prefix}\""),
    );
    rollout(&[&gitlab, &public])
}

/// A row of account 111111111111 (dev) in us-east-1 for `upstream`, which found nothing.
pub(crate) fn row(upstream: &str) -> Box<TargetResult> {
    let target = Target {
        account_id: "111111111111".into(),
        account_name: "dev".into(),
        region: "us-east-1".into(),
        upstream: upstream.into(),
        ou: None,
    };
    let mut r = TargetResult::new(target, Outcome::Unchanged, CheckedAt(0));
    r.observed = Some(Observed {
        secret: SecretState::Absent,
        rule: RuleState::Absent,
        template: None,
        pull_access: None,
        secret_kms_key: None,
        custom_role: None,
    });
    Box::new(r)
}
