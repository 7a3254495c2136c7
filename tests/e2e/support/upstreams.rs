//! Upstreams other than GitLab (emulator/upstreams.py): images on each upstream host, accepted
//! logins, a central ECR registry of the Organization as an upstream, and the roles and policies
//! an ECR-to-ECR rule needs.

// Helpers for the upstream tests still being written: unused ones must not warn meanwhile.
#![allow(dead_code)]

use serde_json::{json, Value};

use super::Emulator;

/// The login every secret-based upstream host (Docker Hub, ghcr.io, *.azurecr.io, cgr.dev)
/// accepts from the start; GitLab's are [`super::TOKEN`] and the tokens tests declare.
pub const UPSTREAM_USERNAME: &str = "ptc-demo";
pub const UPSTREAM_TOKEN: &str = "test-UpstreamTokenValue0123456789";
/// The service an ECR-to-ECR rule's role must trust (ECR user guide).
pub const PTC_SERVICE: &str = "pullthroughcache.ecr.amazonaws.com";
/// The actions the user guide's upstream policy grants the downstream account.
pub const CENTRAL_PULL_ACTIONS: [&str; 4] = [
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchImportUpstreamImage",
    "ecr:GetImageCopyStatus",
];

/// `[targets]` of the upstream tests: every account, two Regions.
pub const TARGETS: &str = r#"[targets]
regions = ["us-east-1", "eu-west-1"]
role_name = "OrganizationAccountAccessRole"
"#;

/// GitLab's entry, its token in `GITLAB_REGISTRY_TOKEN` (as the single form's).
pub const GITLAB: &str = r#"
[[upstreams]]
name = "gitlab"
registry = "gitlab-container-registry"
ecr_repository_prefix = "gitlab"
username = "ptc-bot"
token_env = "GITLAB_REGISTRY_TOKEN"
secret_name = "ecr-pullthroughcache/gitlab"
"#;

/// ECR Public's entry: no credential.
pub const ECR_PUBLIC: &str = r#"
[[upstreams]]
name = "ecr-public"
registry = "ecr-public"
ecr_repository_prefix = "ecr-public"
"#;

/// Docker Hub's entry, logging in as [`UPSTREAM_USERNAME`] with the token in `DOCKERHUB_TOKEN`.
pub fn docker_hub() -> String {
    format!(
        r#"
[[upstreams]]
name = "docker-hub"
registry = "docker-hub"
ecr_repository_prefix = "docker-hub"
username = "{UPSTREAM_USERNAME}"
token_env = "DOCKERHUB_TOKEN"
secret_name = "ecr-pullthroughcache/docker-hub"
"#
    )
}

/// A central ECR registry's entry `name` (also its prefix), read with the role `role`.
pub fn central(name: &str, url: &str, role: &str) -> String {
    format!(
        r#"
[[upstreams]]
name = "{name}"
registry = "ecr"
url = "{url}"
ecr_repository_prefix = "{name}"
custom_role_name = "{role}"
"#
    )
}

/// A rollout file of `targets` and these entries.
pub fn with_upstreams(targets: &str, entries: &[&str]) -> String {
    format!("{targets}{}", entries.concat())
}

/// The URL of `account`'s ECR registry in `region`, as an ECR upstream names it.
pub fn ecr_url(account: &str, region: &str) -> String {
    format!("{account}.dkr.ecr.{region}.amazonaws.com")
}

/// A registry policy letting every account of the Organization `org_id` pull from `central`.
pub fn org_pull_policy(central: &str, region: &str, org_id: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "PullThroughCacheFromOrg", "Effect": "Allow", "Principal": "*",
        "Action": CENTRAL_PULL_ACTIONS,
        "Resource": format!("arn:aws:ecr:{region}:{central}:repository/*"),
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}}}]})
}

/// A registry policy letting the listed downstream accounts pull from `central`.
pub fn accounts_pull_policy(central: &str, region: &str, downstream: &[&str]) -> Value {
    let principals: Vec<String> = downstream
        .iter()
        .map(|a| format!("arn:aws:iam::{a}:root"))
        .collect();
    json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "PullThroughCacheFromAccounts", "Effect": "Allow",
        "Principal": {"AWS": principals}, "Action": CENTRAL_PULL_ACTIONS,
        "Resource": format!("arn:aws:ecr:{region}:{central}:repository/*")}]})
}

impl Emulator {
    /// Publishes `repository:tag` on an upstream host (`registry-1.docker.io`, `public.ecr.aws`,
    /// `registry.k8s.io`, `quay.io`, `ghcr.io`, `NAME.azurecr.io`, `cgr.dev`,
    /// `registry.gitlab.com`); returns its listing (digest, media_type, blobs...).
    pub fn publish_upstream_image(&self, registry_url: &str, repository: &str, tag: &str) -> Value {
        let images = json!([{"registry_url": registry_url, "repository": repository, "tag": tag}]);
        self.post("/_ptc/upstream_images", json!({ "images": images }))["images"][0].clone()
    }

    /// Makes `registry_url` accept the login `username`/`token` (besides the default pair).
    pub fn accept_upstream_login(&self, registry_url: &str, username: &str, token: &str) {
        self.post(
            "/_ptc/upstream_credentials",
            json!({"registry_url": registry_url, "username": username, "token": token}),
        );
    }

    /// Puts `repository:tag` into `account`'s ECR registry in `region` (creating the
    /// repository): the image an ECR-to-ECR rule pulls from [`ecr_url`]. Returns its listing.
    pub fn publish_central_image(
        &self,
        account: &str,
        region: &str,
        repository: &str,
        tag: &str,
    ) -> Value {
        let images = json!([{"repository": repository, "tag": tag}]);
        let body = json!({"account": account, "region": region, "images": images});
        self.post("/_ptc/central_images", body)["images"][0].clone()
    }

    /// Replaces `account`'s registry policy in `region` (behind the API's back, unvalidated);
    /// see [`org_pull_policy`] and [`accounts_pull_policy`].
    pub fn put_registry_policy(&self, account: &str, region: &str, policy: &Value) {
        self.mutate(
            json!({"op": "put_registry_policy", "account": account, "region": region,
            "policy_text": policy.to_string()}),
        );
    }

    /// Creates the IAM role `name` in `account` (or replaces its trust policy) trusting
    /// `trust_service` (e.g. [`PTC_SERVICE`]; `None`: the management account only, a role ECR
    /// cannot assume). Returns its ARN.
    pub fn create_role(&self, account: &str, name: &str, trust_service: Option<&str>) -> String {
        let body = json!({"account": account, "name": name, "trust_service": trust_service});
        self.post("/_ptc/roles", body)["arn"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The emulated Organization's id (`o-...`), for `aws:PrincipalOrgID` conditions.
    pub fn organization_id(&self) -> String {
        self.get("/_ptc/organization")["id"]
            .as_str()
            .expect("an Organization is seeded")
            .to_owned()
    }
}
