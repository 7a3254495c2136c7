//! Rollout files for the outputs' unit tests: the single form, and GitLab with ECR Public
//! (from the rollout files the tiers' tests share).

use crate::config::test_rollouts::{rollout, ECR_PUBLIC, GITLAB};
use crate::config::Rollout;

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
