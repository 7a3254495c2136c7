//! What AWS documents and the simulation follows: opt-in Regions, AssumeRole's session limits,
//! and ECR's use of secrets (customer managed keys, deletion).

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_ecr::types::UpstreamRegistry;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use super::services::{quiet, SECRET};
use super::*;

const MEMBER_0: &str = "200000000000";
const MEMBER_1: &str = "200000000001";
pub(super) const VALUE_A: &str = r#"{"username":"u","accessToken":"a"}"#;

/// The HTTP status of an error answer.
pub(super) fn status<T, E>(r: &Result<T, SdkError<E, HttpResponse>>) -> Option<u16> {
    r.as_ref()
        .err()
        .and_then(|e| e.raw_response())
        .map(|r| r.status().as_u16())
}

/// A member account's configuration, through AssumeRole from the caller.
async fn member(c: &Clients, account: &str, seconds: i32) -> SdkConfig {
    let out = c
        .sts()
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        ))
        .role_session_name("sim-test")
        .duration_seconds(seconds)
        .send()
        .await
        .unwrap();
    let k = out.credentials().unwrap();
    c.for_account(SharedCredentialsProvider::new(Credentials::new(
        k.access_key_id(),
        k.secret_access_key(),
        Some(k.session_token().to_owned()),
        None,
        "sim-test",
    )))
}

#[tokio::test(start_paused = true)]
async fn opt_in_regions_are_disabled_until_enabled() {
    let sim = Sim::new(SimConfig {
        member_accounts: 3,
        opt_in_enabled: vec![(MEMBER_1.into(), "af-south-1".into())],
        ..quiet()
    });
    let c = clients(&sim, &no_retries()).await;
    let m0 = member(&c, MEMBER_0, 900).await;
    let m1 = member(&c, MEMBER_1, 900).await;
    let describe = |cfg: &SdkConfig, account: &str, region: &str| {
        let r = Clients::regional(cfg, account, region);
        async move { r.secrets.describe_secret().secret_id(SECRET).send().await }
    };
    let refused = describe(&m0, MEMBER_0, "af-south-1").await;
    assert_eq!(
        code(&refused).as_deref(),
        Some("UnrecognizedClientException")
    );
    assert_eq!(status(&refused), Some(400));
    let ecr = Clients::regional(&m0, MEMBER_0, "me-south-1")
        .ecr
        .describe_pull_through_cache_rules()
        .send()
        .await;
    assert_eq!(code(&ecr).as_deref(), Some("UnrecognizedClientException"));
    let mgmt = describe(&c.for_caller(), MGMT, "af-south-1").await;
    assert_eq!(code(&mgmt).as_deref(), Some("UnrecognizedClientException"));
    for (cfg, account, region) in [(&m1, MEMBER_1, "af-south-1"), (&m0, MEMBER_0, "us-east-1")] {
        let ok = describe(cfg, account, region).await;
        assert_eq!(code(&ok).as_deref(), Some("ResourceNotFoundException"));
    }

    let opt = |cfg: &SdkConfig, account: Option<&str>, region: &str| {
        let call = Clients::account(cfg)
            .get_region_opt_status()
            .set_account_id(account.map(str::to_owned))
            .region_name(region)
            .send();
        async move {
            call.await.map(|o| {
                o.region_opt_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default()
            })
        }
    };
    let caller = c.for_caller();
    assert_eq!(opt(&caller, None, "af-south-1").await.unwrap(), "DISABLED");
    assert_eq!(
        opt(&caller, Some(MEMBER_1), "af-south-1").await.unwrap(),
        "ENABLED"
    );
    assert_eq!(
        opt(&caller, Some(MEMBER_0), "af-south-1").await.unwrap(),
        "DISABLED"
    );
    assert_eq!(
        opt(&caller, Some(MEMBER_0), "eu-west-1").await.unwrap(),
        "ENABLED_BY_DEFAULT"
    );
    assert_eq!(opt(&m1, None, "af-south-1").await.unwrap(), "ENABLED");
    for (cfg, account) in [(&m0, MEMBER_1), (&caller, MGMT), (&caller, "999999999999")] {
        let denied = opt(cfg, Some(account), "af-south-1").await;
        assert_eq!(code(&denied).as_deref(), Some("AccessDeniedException"));
        assert_eq!(status(&denied), Some(403));
    }
    let bad = opt(&caller, None, "Not a Region").await;
    assert_eq!(code(&bad).as_deref(), Some("ValidationException"));

    // Enabling while running; the latest setting that applies wins.
    sim.set_region_opt(MEMBER_0, "af-south-1", true);
    let now = describe(&m0, MEMBER_0, "af-south-1").await;
    assert_eq!(code(&now).as_deref(), Some("ResourceNotFoundException"));
    sim.set_region_opt("*", "*", true);
    assert_eq!(opt(&caller, None, "mx-central-1").await.unwrap(), "ENABLED");
    sim.set_region_opt(MEMBER_0, "*", false);
    assert_eq!(
        opt(&caller, Some(MEMBER_0), "af-south-1").await.unwrap(),
        "DISABLED"
    );
    assert_eq!(
        opt(&caller, Some(MEMBER_1), "il-central-1").await.unwrap(),
        "ENABLED"
    );
    assert_eq!(sim.metrics().calls["GetRegionOptStatus"], 12);
}

#[tokio::test(start_paused = true)]
async fn assume_role_is_capped_by_chaining_and_max_session_duration() {
    let sim = Sim::new(SimConfig {
        member_accounts: 2,
        ..quiet()
    });
    let c = clients(&sim, &no_retries()).await;
    let assume = |sts: aws_sdk_sts::Client, account: &str, seconds: i32| {
        let call = sts
            .assume_role()
            .role_arn(format!(
                "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
            ))
            .role_session_name("sim-test")
            .duration_seconds(seconds)
            .send();
        async move {
            match call.await {
                Ok(_) => Ok(()),
                Err(e) => Err((
                    e.code().unwrap_or_default().to_owned(),
                    e.message().unwrap_or_default().to_owned(),
                    e.raw_response().map(|r| r.status().as_u16()),
                )),
            }
        }
    };
    assume(c.sts(), MEMBER_0, 43_200).await.unwrap();
    let m0 = member(&c, MEMBER_0, 900).await;
    let chained = aws_sdk_sts::Client::new(&m0);
    assume(chained.clone(), MEMBER_1, 3600).await.unwrap();
    let (code, message, status) = assume(chained, MEMBER_1, 3601).await.unwrap_err();
    assert_eq!(
        (code.as_str(), message.as_str(), status),
        (
            "ValidationError",
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            Some(400)
        )
    );
    sim.set_max_session_duration(7200);
    assume(c.sts(), MEMBER_0, 7200).await.unwrap();
    let (code, message, _) = assume(c.sts(), MEMBER_0, 7201).await.unwrap_err();
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "ValidationError",
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    );

    // A caller that is itself a role session (CI through OIDC, SSO) chains too.
    let sim = Sim::new(SimConfig {
        member_accounts: 2,
        caller_assumed_role: true,
        ..quiet()
    });
    let c = clients(&sim, &no_retries()).await;
    let who = c.sts().get_caller_identity().send().await.unwrap();
    assert!(who.arn().unwrap().contains(":assumed-role/"), "{who:?}");
    let (code, _, _) = assume(c.sts(), MEMBER_0, 7200).await.unwrap_err();
    assert_eq!(code, "ValidationError");
    assume(c.sts(), MEMBER_0, 3600).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn ecr_reads_only_live_secrets_under_the_default_key() {
    let sim = Sim::new(quiet());
    let c = clients(&sim, &no_retries()).await;
    let r = caller_regional(&c, "us-east-1");
    let make = |name: &str, key: Option<&str>| {
        let call = r
            .secrets
            .create_secret()
            .name(name)
            .secret_string(VALUE_A)
            .set_kms_key_id(key.map(str::to_owned))
            .send();
        async move { call.await.unwrap().arn().unwrap().to_owned() }
    };
    let cmk = make("ecr-pullthroughcache/cmk", Some("alias/team-key")).await;
    let plain = make(SECRET, None).await;
    let named_default = make(
        "ecr-pullthroughcache/default",
        Some("alias/aws/secretsmanager"),
    )
    .await;
    let key = |id: String| {
        let call = r.secrets.describe_secret().secret_id(id).send();
        async move { call.await.unwrap().kms_key_id().map(str::to_owned) }
    };
    assert_eq!(key(cmk.clone()).await.as_deref(), Some("alias/team-key"));
    assert_eq!(key(plain.clone()).await, None);
    assert_eq!(key(named_default).await, None);

    let create = |prefix: &str, arn: &str| {
        r.ecr
            .create_pull_through_cache_rule()
            .ecr_repository_prefix(prefix)
            .upstream_registry(UpstreamRegistry::GitLabContainerRegistry)
            .upstream_registry_url("registry.gitlab.com")
            .credential_arn(arn)
            .send()
    };
    let refused = create("gitlab", &cmk).await;
    assert_eq!(
        code(&refused).as_deref(),
        Some("UnableToDecryptSecretValueException")
    );
    let missing = format!("{}XXXXXX", &plain[..plain.len() - 6]);
    assert_eq!(
        code(&create("gitlab", &missing).await).as_deref(),
        Some("SecretNotFoundException")
    );
    let elsewhere = plain.replace(":us-east-1:", ":eu-west-1:");
    assert_eq!(
        code(&create("gitlab", &elsewhere).await).as_deref(),
        Some("SecretNotFoundException")
    );
    assert_eq!(
        code(&create("gitlab", "arn:aws:secretsmanager:us-east-1:1:secret:x").await).as_deref(),
        Some("ValidationException")
    );
    create("gitlab", &plain).await.unwrap();

    // The rule's secret comes under a customer managed key: Validate says so, without the
    // words of a failed upstream login; Update refuses it.
    r.secrets
        .update_secret()
        .secret_id(&plain)
        .kms_key_id("arn:aws:kms:us-east-1:100000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab")
        .send()
        .await
        .unwrap();
    let v = r
        .ecr
        .validate_pull_through_cache_rule()
        .ecr_repository_prefix("gitlab")
        .send();
    let v = v.await.unwrap();
    let failure = v.failure().unwrap();
    assert!(
        !v.is_valid() && failure.starts_with("Unable to decrypt the secret"),
        "{failure}"
    );
    let update = |arn: Option<&str>| {
        r.ecr
            .update_pull_through_cache_rule()
            .ecr_repository_prefix("gitlab")
            .set_credential_arn(arn.map(str::to_owned))
            .send()
    };
    assert_eq!(
        code(&update(Some(&plain)).await).as_deref(),
        Some("UnableToDecryptSecretValueException")
    );
    assert_eq!(
        code(&update(None).await).as_deref(),
        Some("InvalidParameterException")
    );

    // A secret scheduled for deletion cannot be read.
    let doomed = make("ecr-pullthroughcache/doomed", None).await;
    r.secrets
        .delete_secret()
        .secret_id(&doomed)
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(&create("doomed", &doomed).await).as_deref(),
        Some("UnableToAccessSecretException")
    );
}

#[test]
fn api_names_round_trip() {
    for api in Api::ALL {
        assert_eq!(Api::from_name(api.name()), api);
    }
    assert!(
        Api::UpdateSecretVersionStage.is_regional() && Api::UpdateSecretVersionStage.is_mutating()
    );
    assert!(!Api::GetRegionOptStatus.is_regional() && !Api::GetRegionOptStatus.is_mutating());
}
