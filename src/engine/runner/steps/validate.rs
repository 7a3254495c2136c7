//! Validation in one target: the validate pass (then a probe's pull through a valid rule), and
//! every validation of a run admitted through the login window ([`login_window`]) and stopped
//! by the circuit breaker after a few failed logins at GitLab.com, which bans an address for 15
//! minutes after 300 failures in one minute. The logins come from the AWS addresses ECR uses,
//! not this machine's. What counts as one is decided here; how many may be in flight, in
//! [`login_window`].

pub(in crate::engine::runner) mod login_window;

use super::ending::opt_in_verdict;
use super::probe::{probe_into, Prober};
use super::{open, Cx};
use crate::aws::clients::Regional;
use crate::data::target::{Observed, Outcome, SecretState, Target, TargetResult, Validation};
use crate::engine::resources;
use login_window::Ended;

/// Validates the rule; with a prober that has an image of the target's upstream, then pulls
/// through it if it is valid (a pull through an invalid rule would only be another failed login
/// upstream).
pub(super) async fn validate_one(cx: &Cx<'_>, t: Target, prober: Option<&Prober>) -> TargetResult {
    let (r, c) = match open(cx, t).await {
        Ok(opened) => opened,
        Err(row) => return row,
    };
    let validation = validate_guarded(cx, &c, &r.target, None).await;
    if validation.skipped {
        return TargetResult {
            outcome: Outcome::Skipped,
            error: validation.failure,
            ..r
        };
    }
    let valid = validation.is_valid;
    let r = TargetResult {
        validation: Some(validation),
        ..r
    };
    match prober {
        Some(prober) if valid && prober.pulls_in(&r.target) => probe_into(cx, r, &c, prober).await,
        _ => r,
    }
}

/// Validates when the login window admits it, unless the circuit breaker is open. An error
/// from the call itself is an invalid result with the error as the failure: the rule's
/// state is unknown. `known_secret`: see [`is_login_failure`].
pub(super) async fn validate_guarded(
    cx: &Cx<'_>,
    c: &Regional,
    t: &Target,
    known_secret: Option<&str>,
) -> Validation {
    let admitted = match cx.logins.admit().await {
        Ok(admitted) => admitted,
        Err(seen) => {
            // GitLab.com bans an address after many failed logins; other registries may too.
            let upstream = match cx.rollout.upstream.kind.registry {
                crate::config::GITLAB_REGISTRY => "GitLab.com".to_owned(),
                _ => cx.rollout.upstream.url.clone(),
            };
            return Validation::not_checked(format!(
                "not validated: validation stopped after {seen} upstream authentication failures (circuit breaker), to keep {upstream} from banning the AWS addresses ECR logs in from"
            ));
        }
    };
    let validated = resources::validate(c, t, cx.rollout).await;
    // The gate bounds the call only: what follows runs at the run's concurrency.
    admitted.end(match &validated {
        Ok(v) if v.is_valid => Ended::Valid,
        Ok(v) if is_login_failure(v, known_secret) => Ended::LoginFailed,
        _ => Ended::Neutral,
    });
    match validated {
        Ok(v) => v,
        Err(e) => match opt_in_verdict(cx, t, &e).await {
            Some(Ok(skipped)) => Validation::skipped(skipped),
            Some(Err(hint)) => Validation::not_checked(format!("{e}; {hint}")),
            None => Validation::not_checked(e.to_string()),
        },
    }
}

/// Whether a failed validation was a failed login at GitLab.com (what the circuit breaker
/// counts). ECR does not document its failure texts, so what this run knows comes first:
/// `known_secret` is the ARN of a secret read just now, present and written by ptc-rollout (so
/// well-formed). A rule using it failed its login; a rule using another secret says nothing
/// about the token. Without that knowledge, the words are the last resort, and a failure to
/// reach or read the secret never counts: it is no login at GitLab.com.
fn is_login_failure(v: &Validation, known_secret: Option<&str>) -> bool {
    if v.is_valid || !v.checked {
        return false;
    }
    // The words, without the names in them (a secret named .../gitlab-access-token must not
    // read as a failure to access a secret).
    let mut f = v.failure.as_deref().unwrap_or_default().to_owned();
    for name in [v.credential_arn.as_deref(), known_secret]
        .into_iter()
        .flatten()
    {
        f = f.replace(name, "");
    }
    let f = ARN_RE.replace_all(&f, "").to_ascii_lowercase();
    let about_the_secret = f.contains("secret")
        && [
            "access",
            "not found",
            "decrypt",
            "deleted",
            "scheduled",
            "read",
            "json",
        ]
        .iter()
        .any(|w| f.contains(w));
    if about_the_secret {
        return false;
    }
    if let Some(arn) = known_secret {
        return v.credential_arn.as_deref() == Some(arn);
    }
    [
        "username or password",
        "unauthorized",
        "401",
        "authentication",
        "denied",
        "credentials",
    ]
    .iter()
    .any(|needle| f.contains(needle))
}

/// ARNs in a failure text: names, not words.
static ARN_RE: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"arn:[^\s,;)]+").expect("valid regex"));

/// The secret a rule should use, when this run read it and ptc-rollout wrote it.
pub(super) fn known_secret(o: Option<&Observed>) -> Option<&str> {
    match o.map(|o| &o.secret) {
        Some(SecretState::Present { arn, managed: true }) => Some(arn),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(text: &str, arn: Option<&str>) -> Validation {
        Validation {
            is_valid: false,
            failure: Some(text.to_owned()),
            upstream_registry_url: None,
            credential_arn: arn.map(str::to_owned),
            checked: true,
            skipped: false,
        }
    }

    #[test]
    fn login_failures_are_known_from_the_secret_before_the_words() {
        // A well-formed secret of ours behind the rule: whatever the words, a failed login.
        let v = failed("Something unexpected happened", Some("arn:s"));
        assert!(is_login_failure(&v, Some("arn:s")));
        // The rule uses another secret: nothing is known of the token.
        assert!(!is_login_failure(&v, Some("arn:other")));
        // No rule (no credential in the answer), or not validated at all: not a login.
        assert!(!is_login_failure(
            &failed("no pull through cache rule", None),
            Some("arn:s")
        ));
        assert!(!is_login_failure(
            &Validation::not_checked("x".into()),
            None
        ));
    }

    #[test]
    fn without_knowledge_the_words_decide_and_secret_access_never_counts() {
        let login = |text: &str| is_login_failure(&failed(text, None), None);
        assert!(login(
            "Invalid username or password for the upstream registry"
        ));
        assert!(login("401 Unauthorized"));
        assert!(!login("no pull through cache rule for prefix \"gitlab\""));
        assert!(!login(
            "Unable to read credentials from the secret arn:x: the value must be JSON"
        ));
        assert!(!login("Unable to access the secret arn:x: access denied"));
        // A name is not a word: a login failure for a secret named .../gitlab-access-token.
        assert!(login(
            "Invalid username or password for the secret arn:aws:secretsmanager:r:1:secret:ecr-pullthroughcache/gitlab-access-token-abc"
        ));
        // What the secret's reader said vetoes even a known secret.
        let unreadable = failed(
            "Unable to read credentials from the secret: not JSON",
            Some("arn:s"),
        );
        assert!(!is_login_failure(&unreadable, Some("arn:s")));
    }
}
