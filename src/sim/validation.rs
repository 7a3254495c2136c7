//! The checks AWS makes on input (ECR prefixes, credential ARNs, secret names), without regexes,
//! and what ECR's login to the upstream registry concludes from a rule's secret.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::Deserialize;

use super::state::{Ctx, Rule, Target};

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
/// 50 to 612 characters, approximately and without a regex.
pub(crate) fn valid_credential_arn(a: &str) -> bool {
    let Some(name) = a
        .find(":secret:ecr-pullthroughcache/")
        .map(|i| &a[i + 30..])
    else {
        return false;
    };
    (50..=612).contains(&a.len())
        && a.starts_with("arn:aws")
        && a.contains(":secretsmanager:")
        && !name.is_empty()
        && name
            .bytes()
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
    let Some(s) = t.cred_secret(cred) else {
        let arn = cred.arn(ctx);
        return (
            false,
            Some(format!(
                "Unable to access the secret {arn}: the secret was not found"
            )),
        );
    };
    if s.deleted != 0 {
        let arn = cred.arn(ctx);
        return (
            false,
            Some(format!(
                "Unable to access the secret {arn}: the secret is scheduled for deletion"
            )),
        );
    }
    let login = s
        .value
        .as_deref()
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
