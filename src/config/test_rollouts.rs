//! Rollout files for unit tests across the tiers: the single form, and `[[upstreams]]` entries
//! of each kind of credential to put together.

use super::Rollout;

pub(crate) const TARGETS: &str = "[targets]\nregions = [\"us-east-1\"]\nrole_name = \"R\"\n";

pub(crate) const SINGLE: &str = r#"
[upstream]
registry = "gitlab-container-registry"
username = "u"
token_env = "T"

[rule]
ecr_repository_prefix = "gitlab"
secret_name = "ecr-pullthroughcache/gitlab"
"#;

pub(crate) const GITLAB: &str = r#"
[[upstreams]]
name = "gitlab"
registry = "gitlab-container-registry"
ecr_repository_prefix = "gitlab"
username = "u"
token_env = "T"
secret_name = "ecr-pullthroughcache/gitlab"
"#;

pub(crate) const DOCKER_HUB: &str = r#"
[[upstreams]]
name = "hub"
registry = "docker-hub"
ecr_repository_prefix = "docker-hub"
username = "d"
token_env = "D"
secret_name = "ecr-pullthroughcache/docker-hub"
"#;

pub(crate) const ECR_PUBLIC: &str = r#"
[[upstreams]]
name = "ecr-public"
registry = "ecr-public"
ecr_repository_prefix = "ecr-public"
"#;

pub(crate) const CENTRAL: &str = r#"
[[upstreams]]
name = "golden"
registry = "ecr"
url = "111111111111.dkr.ecr.us-east-1.amazonaws.com"
ecr_repository_prefix = "golden"
upstream_repository_prefix = "base"
custom_role_name = "ecr-ptc"
"#;

/// `[targets]` and these tables, parsed.
pub(crate) fn rollout(tables: &[&str]) -> Rollout {
    let text = format!("{TARGETS}{}", tables.concat());
    Rollout::parse(&text).unwrap_or_else(|p| panic!("{p:?}\n{text}"))
}

/// The single `[upstream]`/`[rule]` form.
pub(crate) fn single() -> Rollout {
    rollout(&[SINGLE])
}
