//! Rollout files for the outputs' unit tests: the single form, and GitLab with ECR Public.

use crate::config::Rollout;

const TARGETS: &str = "[targets]\nregions = [\"us-east-1\"]\nrole_name = \"R\"\n";

pub(crate) fn single() -> Rollout {
    Rollout::parse(&format!(
        "{TARGETS}[upstream]\nregistry = \"gitlab-container-registry\"\nusername = \"u\"\ntoken_env = \"T\"\n[rule]\necr_repository_prefix = \"gitlab\"\nsecret_name = \"ecr-pullthroughcache/gitlab\"\n"
    ))
    .unwrap()
}

pub(crate) fn two() -> Rollout {
    two_with("ecr-public")
}

/// GitLab, then ECR Public under `public_prefix`.
pub(crate) fn two_with(public_prefix: &str) -> Rollout {
    Rollout::parse(&format!(
        "{TARGETS}[[upstreams]]\nname = \"gitlab\"\nregistry = \"gitlab-container-registry\"\necr_repository_prefix = \"gitlab\"\nusername = \"u\"\ntoken_env = \"T\"\nsecret_name = \"ecr-pullthroughcache/gitlab\"\ntoken_expires_on = \"2099-01-01\"\n[[upstreams]]\nname = \"ecr-public\"\nregistry = \"ecr-public\"\necr_repository_prefix = \"{public_prefix}\"\n"
    ))
    .unwrap()
}
