//! The checks AWS makes on input beyond the service model's (secret names by Secrets Manager's
//! own rule; the model's are `model_check.rs`'s), and what ECR's login to the upstream registry
//! concludes from a rule's secret.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::Deserialize;

use super::state::{Ctx, Rule, Target};
use super::versions::Secret;

/// Secrets Manager's own rule for names (the model gives only the length, 1 to 512): ASCII
/// letters, digits and `/_+=.@-`.
pub(crate) fn valid_secret_name(n: &str) -> bool {
    (1..=512).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Login<'a> {
    #[serde(borrow, default)]
    username: Cow<'a, str>,
    #[serde(borrow, default)]
    access_token: Cow<'a, str>,
}

/// Why ECR could not use a rule's secret: the ECR error Create/UpdatePullThroughCacheRule
/// answer for it and the reason. `None` when ECR can read and decrypt it.
pub(crate) fn secret_problem(s: Option<&Secret>) -> Option<(&'static str, Cow<'static, str>)> {
    let Some(s) = s else {
        return Some(("SecretNotFoundException", "the secret was not found".into()));
    };
    if s.deleted != 0 {
        return Some((
            "UnableToAccessSecretException",
            "the secret is scheduled for deletion".into(),
        ));
    }
    let key = s.kms_key()?;
    Some((
        "UnableToDecryptSecretValueException",
        format!(
            "the secret is encrypted with the customer managed KMS key {key}; ECR can decrypt only secrets encrypted with the default aws/secretsmanager key"
        )
        .into(),
    ))
}

/// What ECR's login to the upstream would conclude. The failure text never holds the token.
pub(crate) fn login(
    t: &Target,
    ctx: &Ctx,
    r: &Rule,
    valid_tokens: Option<&HashSet<String>>,
) -> (bool, Option<String>) {
    let Some(cred) = &r.cred else {
        return (true, None);
    };
    let s = t.cred_secret(cred);
    if let Some((code, reason)) = secret_problem(s) {
        let verb = if code == "UnableToDecryptSecretValueException" {
            "decrypt"
        } else {
            "access"
        };
        let arn = cred.arn(ctx);
        return (
            false,
            Some(format!("Unable to {verb} the secret {arn}: {reason}")),
        );
    }
    let login = s
        .and_then(Secret::value)
        .and_then(|v| serde_json::from_str::<Login>(v).ok());
    let Some(login) = login.filter(|l| !l.username.is_empty() && !l.access_token.is_empty()) else {
        let arn = cred.arn(ctx);
        return (
            false,
            Some(format!("Unable to read credentials from the secret {arn}: the value must be JSON with non-empty 'username' and 'accessToken'")),
        );
    };
    if valid_tokens.is_some_and(|ok| !ok.contains(&*login.access_token)) {
        return (
            false,
            Some("Invalid username or password for the upstream registry".to_owned()),
        );
    }
    (true, None)
}

#[cfg(test)]
mod tests {
    use super::super::model_check::check_str;
    use super::super::model_table::ECR_PULL_THROUGH_CACHE_RULE_REPOSITORY_PREFIX;

    /// A rule's prefix the model accepts (2 to 30 characters and its pattern).
    fn valid_prefix(p: &str) -> bool {
        let shape = &ECR_PULL_THROUGH_CACHE_RULE_REPOSITORY_PREFIX;
        check_str(shape, p, "ecrRepositoryPrefix").is_ok()
    }

    #[test]
    fn prefixes_follow_ecr_pattern() {
        for ok in ["gitlab", "ROOT", "a/b", "a-b--c", "a__b", "a.b/c_d/", "ab"] {
            assert!(valid_prefix(ok), "{ok}");
        }
        for bad in ["g", "Gitlab", "a..b", "a___b", "-a", "/a", "a//b", "a._b"] {
            assert!(!valid_prefix(bad), "{bad}");
        }
    }
}
