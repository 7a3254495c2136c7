//! Why a pull failed, in words, with the blame on the side that most likely caused it. ECR's
//! wording is not documented, so only a named action is taken as a fact; the rest says what is
//! likely, GitLab's side first once the rule is known to log in.

use std::sync::LazyLock;

use regex::Regex;

use super::ImageRef;
use crate::aws::registry::Answer;
use crate::config::{role_name, Rollout, GITLAB_REGISTRY_URL, REPORTER};

/// How AWS names a missing permission in an access-denied message.
static DENIED_ACTION_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"not authorized to perform: (ecr:[A-Za-z]+)").expect("valid regex")
});

/// What this run knows that decides the blame.
#[derive(Debug, Clone, Default)]
pub(crate) struct Blame {
    /// The rule validated in this run (or the report found it valid): GitLab accepts the
    /// token's login, so an upstream failure is about the image, not the password.
    pub(crate) validated: bool,
    /// The registry token's GitLab access level, when GitLab was asked (`[gitlab]` and the API
    /// token); `None`: not known.
    pub(crate) token_level: Option<u64>,
    /// The workload role that pulled (`--as-role`, `--probe-as-role`), which may lack the
    /// import permissions the member role holds.
    pub(crate) as_role: Option<String>,
}

/// Which registry request failed: they fail for different reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asked {
    Manifest,
    /// A config or layer blob: authorised by `ecr:GetDownloadUrlForLayer`.
    Blob,
}

/// Why a registry request failed, from its status and error and from what this run knows.
/// ECR's own message is kept after the explanation: it names the principal, the action or the
/// upstream's answer.
pub(crate) fn explain(
    answer: &Answer,
    asked: Asked,
    image: &ImageRef,
    r: &Rollout,
    blame: &Blame,
) -> String {
    let (code, message) = answer
        .error
        .as_ref()
        .map_or(("", ""), |e| (e.code.as_str(), e.message.as_str()));
    let said = if message.is_empty() {
        format!("HTTP {}", answer.status)
    } else {
        format!("HTTP {} {code}: {message}", answer.status)
    };
    if let Some(action) = DENIED_ACTION_RE.captures(message).map(|c| c[1].to_owned()) {
        let fix = if crate::engine::resources::registry_policy::ACTIONS.contains(&action.as_str()) {
            "grant it with [pull_access] in the rollout file (then apply), or in the principal's identity policy"
        } else {
            "grant it in the principal's identity policy (see the consumer policy of `ptc-rollout iam-policy`)"
        };
        return format!("principal lacks {action}: {fix} ({said})");
    }
    let lower = message.to_ascii_lowercase();
    match (answer.status, code) {
        (401, _) => format!("the registry refused ECR's credential ({said})"),
        (404, "NAME_UNKNOWN") => format!(
            "no pull through cache rule for prefix {:?} took the pull, and no such repository exists: check the rule with `ptc-rollout plan` ({said})",
            r.prefix()
        ),
        (404, _) if asked == Asked::Blob => format!("the registry has no such blob ({said})"),
        (404, _) => format!(
            "image not found upstream: {GITLAB_REGISTRY_URL}/{}:{} ({said})",
            image.path, image.reference
        ),
        (403, _) if lower.contains("upstream") => upstream_failure(image, r, blame, &said),
        (403, _) if asked == Asked::Blob => format!(
            "the registry denied the blob: the principal most likely lacks ecr:GetDownloadUrlForLayer, which authorises ECR's redirect to S3; grant it in the principal's identity policy ({said})"
        ),
        (403, _) => format!("the registry denied the pull ({said})"),
        (429, _) => format!("rate limited by the registry ({said})"),
        _ => said,
    }
}

/// ECR could not get the image from GitLab. Once the rule logs in (validated), the token's
/// password is right, so GitLab refused this image to it: its role, the project's visibility
/// or the path. IAM comes last, and only for a workload role, which may lack the import
/// permissions (ECR reports them alike); the member role holds them.
fn upstream_failure(image: &ImageRef, r: &Rollout, blame: &Blame, said: &str) -> String {
    let mut causes = Vec::new();
    if !blame.validated {
        causes.push(format!(
            "the token in {} may be refused by GitLab (check with `ptc-rollout validate`)",
            r.secret_name()
        ));
    }
    let guest_only = "a Guest token pulls only from public projects: mint a Reporter token with `ptc-rollout token mint`, then `rotate`";
    match blame.token_level {
        Some(level) if level < REPORTER => causes.push(format!(
            "the token's role is {} ({guest_only})",
            role_name(level).unwrap_or("below Reporter")
        )),
        Some(_) => {}
        None => causes.push(format!(
            "the token's role may be below Reporter ({guest_only}; `ptc-rollout token status` says the role)"
        )),
    }
    causes.push(format!(
        "the project of {} may be private to the token (it reads only its own group's projects)",
        image.path
    ));
    causes.push(format!(
        "the image path or tag may be wrong: {GITLAB_REGISTRY_URL}/{}:{} (GitLab refuses a missing image as it refuses a private one)",
        image.path, image.reference
    ));
    if let Some(role) = &blame.as_role {
        causes.push(format!(
            "the role {role} may lack ecr:BatchImportUpstreamImage or ecr:CreateRepository, which ECR reports alike (grant them with [pull_access])"
        ));
    }
    let lead = if blame.validated {
        "GitLab refused the image although the rule validated in this run (the token logs in)"
    } else {
        "ECR reports an upstream failure"
    };
    format!("{lead}: {} ({said})", causes.join("; or "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::registry::RegistryError;

    fn rollout() -> Rollout {
        Rollout::parse(
            "[targets]\nregions=[\"us-east-1\"]\nrole_name=\"R\"\n[upstream]\nregistry=\"gitlab-container-registry\"\nusername=\"u\"\ntoken_env=\"T\"\n[rule]\necr_repository_prefix=\"gitlab\"\nsecret_name=\"ecr-pullthroughcache/gitlab\"\n",
        )
        .unwrap()
    }

    fn answer(status: u16, code: &str, message: &str) -> Answer {
        Answer {
            status,
            error: Some(RegistryError {
                code: code.into(),
                message: message.into(),
            }),
            ..Answer::default()
        }
    }

    #[test]
    fn failures_are_explained() {
        let r = rollout();
        let image = ImageRef::parse("--image", "g/p/app:1.0").unwrap();
        let b = Blame::default();
        let denied = answer(403, "DENIED", "User: arn:aws:sts::1:assumed-role/c/s is not authorized to perform: ecr:CreateRepository on resource: x");
        assert!(explain(&denied, Asked::Manifest, &image, &r, &b)
            .starts_with("principal lacks ecr:CreateRepository: grant it with [pull_access]"));
        let blob = answer(
            403,
            "DENIED",
            "User: u is not authorized to perform: ecr:GetDownloadUrlForLayer on resource: x",
        );
        assert!(explain(&blob, Asked::Blob, &image, &r, &b).starts_with(
            "principal lacks ecr:GetDownloadUrlForLayer: grant it in the principal's identity policy"
        ));
        assert!(explain(
            &answer(404, "MANIFEST_UNKNOWN", "nope"),
            Asked::Manifest,
            &image,
            &r,
            &b
        )
        .starts_with("image not found upstream: registry.gitlab.com/g/p/app:1.0"));
        assert!(explain(
            &answer(404, "NAME_UNKNOWN", "nope"),
            Asked::Manifest,
            &image,
            &r,
            &b
        )
        .starts_with("no pull through cache rule"));
        assert!(explain(
            &answer(404, "BLOB_UNKNOWN", "nope"),
            Asked::Blob,
            &image,
            &r,
            &b
        )
        .starts_with("the registry has no such blob"));
        assert!(explain(
            &answer(403, "DENIED", "denied"),
            Asked::Blob,
            &image,
            &r,
            &b
        )
        .contains("most likely lacks ecr:GetDownloadUrlForLayer"));
    }

    #[test]
    fn an_upstream_failure_blames_gitlab_first() {
        let r = rollout();
        let image = ImageRef::parse("--image", "g/p/app:1.0").unwrap();
        let upstream = answer(
            403,
            "DENIED",
            "authentication to the upstream registry failed",
        );
        let unvalidated = explain(&upstream, Asked::Manifest, &image, &r, &Blame::default());
        assert!(
            unvalidated.contains("may be refused by GitLab"),
            "{unvalidated}"
        );
        assert!(
            !unvalidated.contains("BatchImportUpstreamImage"),
            "{unvalidated}"
        );
        let guest = Blame {
            validated: true,
            token_level: Some(10),
            as_role: None,
        };
        let text = explain(&upstream, Asked::Manifest, &image, &r, &guest);
        assert!(
            text.starts_with("GitLab refused the image although the rule validated in this run (the token logs in): the token's role is Guest"),
            "{text}"
        );
        assert!(
            !text.contains("ecr:"),
            "the member role is not blamed: {text}"
        );
        let workload = Blame {
            validated: true,
            token_level: Some(20),
            as_role: Some("eks-node".into()),
        };
        let text = explain(&upstream, Asked::Manifest, &image, &r, &workload);
        assert!(!text.contains("role is"), "{text}");
        assert!(text.contains("private to the token"), "{text}");
        assert!(
            text.contains("the role eks-node may lack ecr:BatchImportUpstreamImage"),
            "{text}"
        );
    }
}
