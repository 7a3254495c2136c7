//! The checks AWS makes on input (ECR prefixes, credential ARNs, secret names), without regexes,
//! and what ECR's login to the upstream registry concludes from a rule's secret.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::Deserialize;

use super::state::{Ctx, Rule, Target};
use super::versions::Secret;

pub(crate) fn valid_secret_name(n: &str) -> bool {
    (1..=512).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
}

/// `^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\/?|ROOT)$`,
/// 2 to 30 characters, without a regex.
pub(crate) fn valid_prefix(p: &str) -> bool {
    if !(2..=30).contains(&p.len()) {
        return false;
    }
    if p == "ROOT" {
        return true;
    }
    p.strip_suffix('/').unwrap_or(p).split('/').all(|part| {
        let b = part.as_bytes();
        let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        if b.is_empty() || !alnum(&b[0]) || !alnum(&b[b.len() - 1]) {
            return false;
        }
        // Runs of separators between alphanumerics: ".", "_", "__" or any number of "-".
        b.split(alnum)
            .filter(|sep| !sep.is_empty())
            .all(|sep| matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|&c| c == b'-'))
    })
}

/// `^arn:aws(-\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\-pullthroughcache\/[a-zA-Z0-9\/_+=.@-]+$`,
/// 50 to 612 characters, approximately and without a regex: `Err` with what AWS's request
/// validation says (a ValidationException).
pub(crate) fn check_credential_arn(a: &str) -> Result<(), String> {
    let fail = |constraint: &str| {
        Err(format!(
            "1 validation error detected: Value '{a}' at 'credentialArn' failed to satisfy constraint: Member must {constraint}"
        ))
    };
    if a.len() < 50 {
        return fail("have length greater than or equal to 50");
    }
    if a.len() > 612 {
        return fail("have length less than or equal to 612");
    }
    let name = a
        .find(":secret:ecr-pullthroughcache/")
        .map(|i| &a[i + 30..])
        .unwrap_or_default();
    let ok = a.starts_with("arn:aws")
        && a.contains(":secretsmanager:")
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b));
    if ok {
        Ok(())
    } else {
        fail("satisfy regular expression pattern: ^arn:aws(-\\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\\-pullthroughcache\\/[a-zA-Z0-9\\/_+=.@-]+$")
    }
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
    use super::*;

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
