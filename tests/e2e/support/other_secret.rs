//! A GitLab rule over a secret ptc-rollout does not manage, as another team would set one up.

use serde_json::{json, Value};

use super::Emulator;

impl Emulator {
    /// Creates the secret `name` holding `value` in `account`'s us-east-1 and replaces that
    /// Region's `gitlab` rule with one whose credential is that secret; returns its ARN.
    pub fn rule_over_other_secret(&self, account: &str, name: &str, value: Value) -> String {
        let secret = self.mutate(json!({"op": "create_secret", "account": account,
            "region": "us-east-1", "name": name, "value": value}));
        let arn = secret["arn"].as_str().unwrap().to_owned();
        self.mutate(
            json!({"op": "delete_rule", "account": account, "region": "us-east-1",
            "prefix": "gitlab"}),
        );
        self.mutate(
            json!({"op": "create_rule", "account": account, "region": "us-east-1",
            "prefix": "gitlab", "upstream_registry": "gitlab-container-registry",
            "upstream_url": "registry.gitlab.com", "credential_arn": arn}),
        );
        arn
    }
}
