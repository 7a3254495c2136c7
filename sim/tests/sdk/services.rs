//! Secrets Manager and ECR edge cases through the real SDK: idempotency, deletion and restore,
//! the rule cap, unknown operations.

use aws_sdk_ecr::types::UpstreamRegistry;

use super::*;

pub(super) const SECRET: &str = "ecr-pullthroughcache/gitlab";
const TOKEN_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

pub(super) fn quiet() -> SimConfig {
    SimConfig {
        latency: LatencyModel::zero(),
        quotas: Quotas::none(),
        ..SimConfig::default()
    }
}

#[tokio::test(start_paused = true)]
async fn secrets_are_idempotent_per_token_and_restorable() {
    let sim = Sim::new(quiet());
    let c = clients(&sim, &no_retries()).await;
    let r = caller_regional(&c, "us-east-1");
    let create = |token: &str| {
        r.secrets
            .create_secret()
            .name(SECRET)
            .secret_string(r#"{"username":"u","accessToken":"t"}"#)
            .client_request_token(token)
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("managed-by")
                    .value("ptc-rollout")
                    .build(),
            )
            .send()
    };
    let first = create(TOKEN_A).await.unwrap();
    let again = create(TOKEN_A).await.unwrap();
    assert_eq!(
        (first.arn(), first.version_id()),
        (again.arn(), Some(TOKEN_A))
    );
    let arn = first.arn().unwrap();
    assert!(arn.starts_with(&format!(
        "arn:aws:secretsmanager:us-east-1:{MGMT}:secret:{SECRET}-"
    )));
    assert_eq!(
        arn.len(),
        format!("arn:aws:secretsmanager:us-east-1:{MGMT}:secret:{SECRET}-").len() + 6
    );
    assert_eq!(
        code(&create(TOKEN_B).await).as_deref(),
        Some("ResourceExistsException")
    );

    let d = r
        .secrets
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (d.name(), d.tags().len(), d.deleted_date()),
        (Some(SECRET), 1, None)
    );
    assert!(d.created_date().is_some());

    let put = |token: &'static str, value: &'static str| {
        r.secrets
            .put_secret_value()
            .secret_id(arn)
            .secret_string(value)
            .client_request_token(token)
            .send()
    };
    assert_eq!(
        put(TOKEN_B, r#"{"v":2}"#).await.unwrap().version_id(),
        Some(TOKEN_B)
    );
    put(TOKEN_B, r#"{"v":2}"#).await.unwrap();
    assert_eq!(
        code(&put(TOKEN_B, r#"{"v":3}"#).await).as_deref(),
        Some("ResourceExistsException")
    );
    let value = r
        .secrets
        .get_secret_value()
        .secret_id(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(value.secret_string(), Some(r#"{"v":2}"#));

    r.secrets
        .delete_secret()
        .secret_id(arn)
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let d = r
        .secrets
        .describe_secret()
        .secret_id(SECRET)
        .send()
        .await
        .unwrap();
    assert!(d.deleted_date().is_some());
    assert_eq!(
        code(&create(TOKEN_A).await).as_deref(),
        Some("InvalidRequestException")
    );
    let rollout = rollout("");
    let t = caller_target();
    let o = ptc_rollout::observe(&r, &t, &rollout).await.unwrap();
    assert!(
        matches!(o.secret, SecretState::PendingDeletion { managed: true, .. }),
        "{o:?}"
    );
    let decision = ptc_rollout::decide(&o, &rollout, false);
    let token = GitlabToken::new(GOOD.into()).unwrap();
    ptc_rollout::converge(&r, &t, &rollout, &o, decision.actions(), Some(&token))
        .await
        .unwrap();
    assert!(
        ptc_rollout::validate(&r, &t, &rollout)
            .await
            .unwrap()
            .is_valid
    );
    let d = r
        .secrets
        .describe_secret()
        .secret_id(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(d.deleted_date(), None);

    // Forced deletion forgets the secret; the rule now points at nothing.
    r.secrets
        .delete_secret()
        .secret_id(SECRET)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let gone = r.secrets.describe_secret().secret_id(SECRET).send().await;
    assert_eq!(code(&gone).as_deref(), Some("ResourceNotFoundException"));
    let v = ptc_rollout::validate(&r, &t, &rollout).await.unwrap();
    assert!(!v.is_valid && v.failure.unwrap().contains("not found"));
}

#[tokio::test(start_paused = true)]
async fn rules_are_checked_capped_and_described() {
    let sim = Sim::new(quiet());
    let c = clients(&sim, &Tuning::default()).await;
    let r = caller_regional(&c, "us-east-1");
    let arn = r
        .secrets
        .create_secret()
        .name(SECRET)
        .secret_string(r#"{"username":"u","accessToken":""}"#)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let create = |prefix: String, arn: &str| {
        r.ecr
            .create_pull_through_cache_rule()
            .ecr_repository_prefix(prefix)
            .upstream_registry(UpstreamRegistry::GitLabContainerRegistry)
            .upstream_registry_url("registry.gitlab.com")
            .credential_arn(arn)
            .send()
    };
    let missing = format!("{}XXXXXX", &arn[..arn.len() - 6]);
    assert_eq!(
        code(&create("gitlab".into(), &missing).await).as_deref(),
        Some("SecretNotFoundException")
    );
    assert_eq!(
        code(&create("Bad!".into(), &arn).await).as_deref(),
        Some("InvalidParameterException")
    );
    let made = create("gitlab".into(), &arn).await.unwrap();
    assert_eq!(
        (made.credential_arn(), made.registry_id()),
        (Some(arn.as_str()), Some(MGMT))
    );
    let again = create("gitlab".into(), &arn).await;
    assert_eq!(
        code(&again).as_deref(),
        Some("PullThroughCacheRuleAlreadyExistsException")
    );
    for i in 1..50 {
        create(format!("p{i}"), &arn).await.unwrap();
    }
    let capped = create("p50".into(), &arn).await;
    assert_eq!(code(&capped).as_deref(), Some("LimitExceededException"));
    assert_eq!(
        sim.metrics().calls["CreatePullThroughCacheRule"],
        54,
        "the cap is not retried"
    );

    let all = r
        .ecr
        .describe_pull_through_cache_rules()
        .send()
        .await
        .unwrap();
    assert_eq!(all.pull_through_cache_rules().len(), 50);
    let one = r
        .ecr
        .describe_pull_through_cache_rules()
        .ecr_repository_prefixes("gitlab")
        .send();
    let one = one.await.unwrap();
    let rule = &one.pull_through_cache_rules()[0];
    assert_eq!(
        rule.upstream_registry(),
        Some(&UpstreamRegistry::GitLabContainerRegistry)
    );
    assert!(rule.created_at().is_some() && rule.updated_at().is_some());
    let none = r
        .ecr
        .describe_pull_through_cache_rules()
        .ecr_repository_prefixes("nope")
        .send();
    assert_eq!(
        code(&none.await).as_deref(),
        Some("PullThroughCacheRuleNotFoundException")
    );

    // An empty accessToken does not validate; the failure names the secret only.
    let v = r
        .ecr
        .validate_pull_through_cache_rule()
        .ecr_repository_prefix("gitlab")
        .send();
    let v = v.await.unwrap();
    assert!(!v.is_valid() && v.failure().unwrap().contains("accessToken"));
    let up = r
        .ecr
        .update_pull_through_cache_rule()
        .ecr_repository_prefix("gitlab")
        .credential_arn(&arn);
    assert!(up.send().await.unwrap().updated_at().is_some());
    let del = r
        .ecr
        .delete_pull_through_cache_rule()
        .ecr_repository_prefix("gitlab")
        .send();
    assert_eq!(del.await.unwrap().ecr_repository_prefix(), Some("gitlab"));
    let v = r
        .ecr
        .validate_pull_through_cache_rule()
        .ecr_repository_prefix("gitlab")
        .send();
    assert_eq!(
        code(&v.await).as_deref(),
        Some("PullThroughCacheRuleNotFoundException")
    );
}

#[tokio::test(start_paused = true)]
async fn unknown_operations_are_refused_and_counted() {
    let sim = Sim::new(quiet());
    let c = clients(&sim, &no_retries()).await;
    let r = caller_regional(&c, "us-east-1");
    let out = r.ecr.describe_repositories().send().await;
    assert_eq!(code(&out).as_deref(), Some("UnknownOperationException"));
    let out = c.sts().get_session_token().send().await;
    assert_eq!(code(&out).as_deref(), Some("UnknownOperationException"));
    assert_eq!(sim.metrics().calls["Unknown"], 2);
}
