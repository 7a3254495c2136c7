//! Why a pull failed, in words, with the blame on the side that most likely caused it. ECR's
//! wording is not documented, so only a named action is taken as a fact; the rest says what is
//! likely, the upstream's side first once the rule is known to log in. The row's upstream is
//! named by its URL; only GitLab's rows get GitLab's advice (token roles, `token mint`).

use std::sync::LazyLock;

use regex::Regex;

use super::ImageRef;
use crate::aws::registry::Answer;
use crate::config::upstreams::Credential;
use crate::config::{role_name, Rollout, GITLAB_REGISTRY, REPORTER};

/// How AWS names a missing permission in an access-denied message.
static DENIED_ACTION_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"not authorized to perform: (ecr:[A-Za-z]+)").expect("valid regex")
});

/// What this run knows that decides the blame.
#[derive(Debug, Clone, Default)]
pub(crate) struct Blame {
    /// The rule validated in this run (or the report found it valid): the upstream accepts
    /// the rule's login, so an upstream failure is about the image, not the password.
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
            "image not found upstream: {} ({said})",
            upstream_image(image, r)
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

/// The image as the upstream names it: its URL, the upstream's own repository prefix
/// (ECR-to-ECR: ECR puts it where the rule's prefix was, `my-app/image1` -> `upstream-app/image1`
/// in the user guide's pull-through-cache-private-wildcards.html), the path and the tag or digest.
fn upstream_image(image: &ImageRef, r: &Rollout) -> String {
    let upstream_prefix = r
        .upstream
        .upstream_repository_prefix
        .as_deref()
        .map(|p| p.trim_end_matches('/'))
        .filter(|p| *p != "ROOT" && !p.is_empty());
    let path = match upstream_prefix {
        Some(p) => format!("{p}/{}", image.path),
        None => image.path.clone(),
    };
    let sep = if image.reference.starts_with("sha256:") {
        '@'
    } else {
        ':'
    };
    format!("{}/{path}{sep}{}", r.upstream.url, image.reference)
}

/// ECR could not get the image from GitLab. Once the rule logs in (validated), the token's
/// password is right, so GitLab refused this image to it: its role, the project's visibility
/// or the path. IAM comes last, and only for a workload role, which may lack the import
/// permissions (ECR reports them alike); the member role holds them.
fn upstream_failure(image: &ImageRef, r: &Rollout, blame: &Blame, said: &str) -> String {
    if r.upstream.kind.registry != GITLAB_REGISTRY {
        return other_upstream_failure(image, r, blame, said);
    }
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
        "the image path or tag may be wrong: {} (GitLab refuses a missing image as it refuses a private one)",
        upstream_image(image, r)
    ));
    workload_cause(blame, &mut causes);
    let lead = if blame.validated {
        "GitLab refused the image although the rule validated in this run (the token logs in)"
    } else {
        "ECR reports an upstream failure"
    };
    format!("{lead}: {} ({said})", causes.join("; or "))
}

/// ECR could not get the image from an upstream other than GitLab: its credential (a secret,
/// or for a central ECR the role ECR assumes and the central registry's policy), then the
/// image, then a workload role's import permissions.
fn other_upstream_failure(image: &ImageRef, r: &Rollout, blame: &Blame, said: &str) -> String {
    let u = &r.upstream;
    let mut causes = Vec::new();
    match u.kind.credential {
        Credential::Secret if !blame.validated => causes.push(format!(
            "the credential in {} may be refused by {} (check with `ptc-rollout validate`)",
            r.secret_name(),
            u.url
        )),
        Credential::Secret => causes.push(format!(
            "the repository may be private to another account than the credential's in {}",
            r.secret_name()
        )),
        Credential::Role => causes.push(format!(
            "ECR may not be able to assume the role {} of this account, or the registry policy of {} may not let this account pull (`ptc-rollout iam-policy` prints both)",
            u.custom_role_name.as_deref().unwrap_or("(none)"),
            u.url
        )),
        Credential::None => {}
    }
    causes.push(format!(
        "the image path or tag may be wrong: {}",
        upstream_image(image, r)
    ));
    workload_cause(blame, &mut causes);
    let lead = if blame.validated {
        format!(
            "{} refused the image although the rule validated in this run",
            u.url
        )
    } else {
        format!("ECR reports an upstream failure from {}", u.url)
    };
    format!("{lead}: {} ({said})", causes.join("; or "))
}

/// A workload role may lack the import permissions, which ECR reports as an upstream failure.
fn workload_cause(blame: &Blame, causes: &mut Vec<String>) {
    if let Some(role) = &blame.as_role {
        causes.push(format!(
            "the role {role} may lack ecr:BatchImportUpstreamImage or ecr:CreateRepository, which ECR reports alike (grant them with [pull_access])"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::registry::RegistryError;
    use crate::config::test_rollouts;

    fn rollout() -> Rollout {
        test_rollouts::single()
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
    /// The views of a rollout of Docker Hub and a central ECR, by upstream name.
    fn others() -> Vec<Rollout> {
        test_rollouts::rollout(&[test_rollouts::DOCKER_HUB, test_rollouts::CENTRAL]).views()
    }

    #[test]
    fn other_upstreams_are_named_by_their_url_without_gitlab_advice() {
        let views = others();
        let (hub, golden) = (&views[0], &views[1]);
        let image = ImageRef {
            path: "library/nginx".into(),
            reference: "latest".into(),
        };
        let missing = explain(
            &answer(404, "MANIFEST_UNKNOWN", "nope"),
            Asked::Manifest,
            &image,
            hub,
            &Blame::default(),
        );
        assert!(
            missing
                .starts_with("image not found upstream: registry-1.docker.io/library/nginx:latest"),
            "{missing}"
        );
        let upstream = answer(403, "DENIED", "failed to pull from the upstream registry");
        let text = explain(&upstream, Asked::Manifest, &image, hub, &Blame::default());
        assert!(
            text.starts_with("ECR reports an upstream failure from registry-1.docker.io: the credential in ecr-pullthroughcache/docker-hub may be refused by registry-1.docker.io"),
            "{text}"
        );
        for gitlab in ["GitLab", "Reporter", "token mint"] {
            assert!(!text.contains(gitlab), "{text}");
        }
        // A central ECR: the upstream's own prefix takes the rule's, and the role is named.
        let image = ImageRef {
            path: "app".into(),
            reference: "1.0".into(),
        };
        let text = explain(
            &upstream,
            Asked::Manifest,
            &image,
            golden,
            &Blame::default(),
        );
        assert!(text.contains("assume the role ecr-ptc"), "{text}");
        assert!(
            text.contains("111111111111.dkr.ecr.us-east-1.amazonaws.com/base/app:1.0"),
            "{text}"
        );
        assert!(!text.contains("GitLab"), "{text}");
    }
}
