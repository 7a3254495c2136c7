//! One pull through the cache in one target, as `docker pull` makes it for one platform: a
//! registry credential from ECR GetAuthorizationToken, the image's manifest (for an index, then
//! the platform's manifest), then the config blob and the smallest layer through ECR's redirect
//! to S3, each checked against its digest. The manifest request makes ECR create the cached
//! repository and import the image; the blobs prove `ecr:GetDownloadUrlForLayer` and that S3 is
//! reachable. Together they prove what a validated rule does not: that a principal of the
//! account can really pull.

use aws_sdk_ecr::operation::describe_repositories::DescribeRepositoriesError;
use aws_sdk_ecr::operation::get_lifecycle_policy::GetLifecyclePolicyError;

use crate::aws::error::ApiError;
use crate::aws::registry::{Credential, Registry};
use crate::config::Rollout;

mod blobs;
mod explain;

use crate::config::image_ref::ImageRef;
use crate::data::target::{Probe, Target};
use crate::engine::resources::unless_absent;
pub(crate) use blobs::PullSpec;
pub(crate) use explain::{explain, Asked, Blame};

/// The principal that pulls: the member role's ECR client, or a role of the account assumed for
/// the probe (`--as-role`).
pub(crate) struct Puller<'a> {
    pub(crate) ecr: &'a aws_sdk_ecr::Client,
    pub(crate) role_arn: Option<String>,
}

/// What the repository looks like, from DescribeRepositories.
struct Repository {
    tag_mutability: Option<String>,
}

/// What a probe found, and a read after a successful pull that failed (the pull still counts).
pub(crate) struct Pulled {
    pub(crate) probe: Probe,
    pub(crate) unread: Option<ApiError>,
}

/// Pulls the image through the cache in one target. `member` reads the repository before and
/// after; `puller` gets the credential and pulls. A refused pull is a row, not an error: only
/// the member role's read before the pull fails the target. `blame`: what this run knows that
/// decides which side a refusal is blamed on.
pub(crate) async fn probe(
    member: &aws_sdk_ecr::Client,
    puller: Puller<'_>,
    t: &Target,
    r: &Rollout,
    spec: &PullSpec,
    registry: &Registry,
    blame: &Blame,
) -> Result<Pulled, ApiError> {
    let image = &spec.image;
    let name = image.repository(r.prefix());
    let before = describe_repository(member, t, &name).await?;
    let mut p = Probe {
        image: image.display(r.prefix()),
        pulled_as: puller.role_arn.clone(),
        cached: Some(before.is_some()),
        ..Probe::default()
    };
    let done = |probe| {
        Ok(Pulled {
            probe,
            unread: None,
        })
    };
    let (endpoint, credential) = match authorization(puller.ecr, t).await {
        Ok(found) => found,
        Err(why) => {
            p.failure = Some(why);
            return done(p);
        }
    };
    let started = std::time::Instant::now();
    let answer = match registry
        .manifest(&endpoint, &name, &image.reference, &credential)
        .await
    {
        Ok(a) => a,
        Err(e) => {
            p.failure = Some(e.to_string());
            return done(p);
        }
    };
    p.status = Some(answer.status);
    if answer.status != 200 {
        p.ms = Some(started.elapsed().as_millis() as u64);
        p.failure = Some(explain(&answer, Asked::Manifest, image, r, blame));
        return done(p);
    }
    p.digest = answer.digest.clone();
    // The manifest was served: ECR has imported the image. The rest of the pull (the
    // platform's manifest, the blobs through S3) decides whether a workload could run it.
    let pull = blobs::Pull {
        registry,
        base: &endpoint,
        name: &name,
        credential: &credential,
        spec,
        rollout: r,
        blame,
    };
    let fetched = pull.rest(answer).await;
    p.ms = Some(started.elapsed().as_millis() as u64);
    p.blobs = Some(fetched.blobs);
    p.bytes = Some(fetched.bytes);
    p.note = fetched.note;
    p.ok = fetched.failure.is_none();
    p.failure = fetched.failure;
    // What the repository was given (the template's settings): a failed read leaves the cells
    // empty and is said on the row, but the pull was made and stands.
    let after = async {
        let repo = match before {
            Some(repo) => Some(repo),
            None => describe_repository(member, t, &name).await?,
        };
        Ok::<_, ApiError>((repo, lifecycle_policy(member, t, &name).await?))
    };
    let unread = match after.await {
        Ok((repo, lifecycle)) => {
            p.repository_tag_mutability = repo.and_then(|a| a.tag_mutability);
            p.repository_lifecycle_policy = lifecycle;
            None
        }
        Err(e) => Some(e),
    };
    Ok(Pulled { probe: p, unread })
}

/// The registry's address and credential, or why the principal could not get them.
async fn authorization(
    ecr: &aws_sdk_ecr::Client,
    t: &Target,
) -> Result<(String, Credential), String> {
    let out = ecr.get_authorization_token().send().await.map_err(|e| {
        let e = ApiError::from_sdk(&t.account_id, &t.region, "ecr:GetAuthorizationToken", e);
        format!("no registry credential: {e}")
    })?;
    let data = out.authorization_data().first();
    let endpoint = data.and_then(|d| d.proxy_endpoint());
    let credential = data
        .and_then(|d| d.authorization_token())
        .and_then(Credential::from_ecr_token);
    match (endpoint, credential) {
        (Some(e), Some(c)) => Ok((e.to_owned(), c)),
        _ => {
            Err("ecr:GetAuthorizationToken answered without a usable token and endpoint".to_owned())
        }
    }
}

async fn describe_repository(
    ecr: &aws_sdk_ecr::Client,
    t: &Target,
    name: &str,
) -> Result<Option<Repository>, ApiError> {
    let sent = ecr
        .describe_repositories()
        .repository_names(name)
        .send()
        .await;
    let none = |e: &DescribeRepositoriesError| e.is_repository_not_found_exception();
    let out = unless_absent(sent, none, t, "ecr:DescribeRepositories")?;
    Ok(out.and_then(|out| {
        out.repositories().first().map(|r| Repository {
            tag_mutability: r.image_tag_mutability().map(|m| m.as_str().to_owned()),
        })
    }))
}

async fn lifecycle_policy(
    ecr: &aws_sdk_ecr::Client,
    t: &Target,
    name: &str,
) -> Result<Option<String>, ApiError> {
    let sent = ecr
        .get_lifecycle_policy()
        .repository_name(name)
        .send()
        .await;
    let none = |e: &GetLifecyclePolicyError| {
        e.is_lifecycle_policy_not_found_exception() || e.is_repository_not_found_exception()
    };
    let out = unless_absent(sent, none, t, "ecr:GetLifecyclePolicy")?;
    // Compact, so the report cell compares with the rollout file's policy.
    Ok(out.and_then(|out| {
        out.lifecycle_policy_text().map(|text| {
            serde_json::from_str::<serde_json::Value>(text)
                .map(|v| v.to_string())
                .unwrap_or_else(|_| text.to_owned())
        })
    }))
}
