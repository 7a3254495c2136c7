//! The simulation driven through the real SDK clients and the real per-target work, in paused
//! virtual time.

use std::time::Duration;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use futures::future::join_all;
use ptc_rollout::data::target::{Decision, RuleState, SecretState, Target};
use ptc_rollout::GitlabToken;
use ptc_rollout::Rollout;
use ptc_rollout::{discover, SkipReason};
use ptc_rollout::{Access, Caller};
use ptc_rollout::{Clients, Overrides, Regional, Tuning};
use ptc_sim::{Api, LatencyModel, Quotas, Sim, SimConfig};
use tokio::time::Instant;

#[path = "sdk/aws_rules.rs"]
mod aws_rules;
#[path = "sdk/identity.rs"]
mod identity;
#[path = "sdk/secret_versions.rs"]
mod secret_versions;
#[path = "sdk/services.rs"]
mod services;
#[path = "sdk/templates.rs"]
mod templates;

const MGMT: &str = "100000000000";
const GOOD: &str = "glpat-good-token";

async fn clients(sim: &Sim, tuning: &Tuning) -> Clients {
    let overrides = Overrides {
        http_client: Some(sim.http_client()),
        credentials: Some(sim.credentials()),
        region: Some("us-east-1".into()),
        ..Overrides::default()
    };
    Clients::load(overrides, tuning).await
}

fn no_retries() -> Tuning {
    Tuning {
        max_attempts: 1,
        ..Tuning::default()
    }
}

fn caller_regional(c: &Clients, region: &str) -> Regional {
    Clients::regional(&c.for_caller(), MGMT, region)
}

fn rollout(extra: &str) -> Rollout {
    Rollout::parse(&format!(
        "[targets]\nregions=[\"us-east-1\",\"eu-west-1\"]\nrole_name=\"OrganizationAccountAccessRole\"\n{extra}\n\
         [upstream]\nregistry=\"gitlab-container-registry\"\nusername=\"gitlab-user\"\ntoken_env=\"T\"\n\
         [rule]\necr_repository_prefix=\"gitlab\"\nsecret_name=\"ecr-pullthroughcache/gitlab\"\n"
    ))
    .unwrap()
}

/// The management account's target in us-east-1, where the caller's own clients act.
fn caller_target() -> Target {
    Target {
        account_id: MGMT.into(),
        account_name: "management".into(),
        region: "us-east-1".into(),
        upstream: "gitlab".into(),
        ou: None,
    }
}

fn code<E: ProvideErrorMetadata>(r: &Result<impl Sized, E>) -> Option<String> {
    r.as_ref().err().and_then(|e| e.code().map(str::to_owned))
}

#[tokio::test(start_paused = true)]
async fn latency_is_applied() {
    let sim = Sim::new(SimConfig::default());
    let c = clients(&sim, &Tuning::default()).await;
    let r = caller_regional(&c, "us-east-1");
    let start = Instant::now();
    let out = r
        .secrets
        .describe_secret()
        .secret_id("ecr-pullthroughcache/x")
        .send()
        .await;
    let took = start.elapsed();
    assert_eq!(code(&out).as_deref(), Some("ResourceNotFoundException"));
    assert!(
        took >= Duration::from_millis(20) && took <= Duration::from_secs(1),
        "{took:?}"
    );

    // Validate's median over 200 calls is near its configured 400 ms.
    let secret = r
        .secrets
        .create_secret()
        .name("ecr-pullthroughcache/gitlab")
        .secret_string(r#"{"username":"u","accessToken":"t"}"#)
        .send()
        .await
        .unwrap();
    r.ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("gitlab")
        .upstream_registry_url("registry.gitlab.com")
        .credential_arn(secret.arn().unwrap())
        .send()
        .await
        .unwrap();
    let mut took = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        let v = r
            .ecr
            .validate_pull_through_cache_rule()
            .ecr_repository_prefix("gitlab")
            .send();
        assert!(v.await.unwrap().is_valid());
        took.push(start.elapsed());
    }
    took.sort();
    let median = took[100].as_secs_f64();
    let want = LatencyModel::default()
        .get(Api::ValidatePullThroughCacheRule)
        .median
        .as_secs_f64();
    assert!(
        (median / want - 1.0).abs() < 0.2,
        "median {median} s, configured {want} s"
    );
    assert_eq!(sim.metrics().calls["ValidatePullThroughCacheRule"], 200);
}

#[tokio::test(start_paused = true)]
async fn quotas_are_enforced() {
    let sim = Sim::new(SimConfig::default());
    let c = clients(&sim, &no_retries()).await;
    let r = caller_regional(&c, "us-east-1");
    // Burst model: each bucket starts full with `burst` tokens (50 here) and refills at the
    // rate (50/s) while the calls' latencies spread their arrivals over about 0.2 s.
    let calls = (0..200).map(|i| {
        r.secrets
            .create_secret()
            .name(format!("ecr-pullthroughcache/s{i}"))
            .secret_string("{}")
            .send()
    });
    let results = join_all(calls).await;
    let throttled = results
        .iter()
        .filter(|r| code(r).as_deref() == Some("ThrottlingException"))
        .count() as u64;
    let ok = results.iter().filter(|r| r.is_ok()).count() as u64;
    assert_eq!(throttled + ok, 200);
    assert!((125..=150).contains(&throttled), "{throttled} throttled");
    let m = sim.metrics();
    assert_eq!(m.throttled, throttled);
    assert_eq!(
        (m.calls["CreateSecret"], m.mutating_calls, m.regional_calls),
        (200, 200, 200)
    );

    // Another account's bucket is its own; DescribeSecret's is far larger.
    let reads = (0..200).map(|_| {
        r.secrets
            .describe_secret()
            .secret_id("ecr-pullthroughcache/s0")
            .send()
    });
    assert!(join_all(reads)
        .await
        .iter()
        .all(|r| code(r).as_deref() != Some("ThrottlingException")));

    sim.reset_metrics();
    let orgs = c.organizations();
    let lists = (0..100).map(|_| orgs.list_accounts().send());
    let results = join_all(lists).await;
    let throttled = results
        .iter()
        .filter(|r| code(r).as_deref() == Some("TooManyRequestsException"))
        .count() as u64;
    assert!(
        (85..=92).contains(&throttled),
        "{throttled} of 100 ListAccounts throttled"
    );
    assert_eq!(sim.metrics().throttled, throttled);
}

#[tokio::test(start_paused = true)]
async fn discovery_lists_the_organization() {
    let sim = Sim::new(SimConfig {
        member_accounts: 45,
        organizational_units: 3,
        suspended_every: 10,
        ..SimConfig::default()
    });
    let c = clients(&sim, &Tuning::default()).await;
    let orgs = c.organizations();
    let d = discover(&orgs, &rollout("")).await.unwrap();
    assert_eq!(d.targeted.len() + d.skipped.len(), 46);
    assert_eq!(d.targeted[0].id, MGMT);
    let suspended: Vec<_> = d.skipped.iter().map(|(a, _)| a.id.as_str()).collect();
    assert_eq!(
        suspended,
        [
            "200000000009",
            "200000000019",
            "200000000029",
            "200000000039"
        ]
    );
    assert!(d
        .skipped
        .iter()
        .all(|(a, r)| a.state == "SUSPENDED" && *r == SkipReason::NotActive("SUSPENDED".into())));

    // OU subtrees: members 1, 4, 7, ... 43 are in the second OU; 19 is suspended.
    let ou = &sim.ou_ids()[1];
    let d = discover(&orgs, &rollout(&format!("organizational_units=[\"{ou}\"]")))
        .await
        .unwrap();
    assert_eq!(d.targeted.len(), 14);
    assert!(d
        .targeted
        .iter()
        .all(|a| (a.id.parse::<u64>().unwrap() - 200_000_000_000) % 3 == 1));
    let root = discover(&orgs, &rollout("organizational_units=[\"r-root\"]"))
        .await
        .unwrap();
    assert_eq!(root.targeted.len(), 42);
    let m = sim.metrics();
    assert!(
        m.calls["ListAccounts"] >= 3 && m.calls["ListChildren"] >= 2,
        "{m:?}"
    );
}

/// Observes, converges and validates one target; returns the observation after.
async fn roll_out(c: &Regional, t: &Target, r: &Rollout, token: &GitlabToken) -> Decision {
    let before = ptc_rollout::observe(c, t, r).await.unwrap();
    let decision = ptc_rollout::decide(&before, r, false);
    ptc_rollout::converge(c, t, r, &before, decision.actions(), Some(token))
        .await
        .unwrap();
    let v = ptc_rollout::validate(c, t, r).await.unwrap();
    assert!(v.is_valid, "{t:?}: {:?}", v.failure);
    decision
}

#[tokio::test(start_paused = true)]
async fn a_rollout_converges_and_stays_converged() {
    let sim = Sim::new(SimConfig {
        member_accounts: 20,
        suspended_every: 7,
        valid_tokens: Some(vec![GOOD.into()]),
        ..SimConfig::default()
    });
    let c = clients(&sim, &Tuning::default()).await;
    let r = rollout("");
    let sts = c.sts();
    let caller = Caller::identify(&sts, "sim").await.unwrap();
    assert_eq!(
        (caller.account_id.as_str(), caller.partition.as_str()),
        (MGMT, "aws")
    );
    let access = Access {
        caller,
        role_name: r.role_name.clone(),
        external_id: None,
        duration: Duration::from_secs(3600),
        session_name: "ptc-rollout-1".into(),
    };
    let d = discover(&c.organizations(), &r).await.unwrap();
    assert_eq!((d.targeted.len(), d.skipped.len()), (19, 2));
    let token = GitlabToken::new(GOOD.into()).unwrap();
    let accounts = d.targeted.iter().map(|a| async {
        let cfg = access.enter(&c, &sts, &a.id).await.unwrap();
        for region in &r.regions {
            let t = Target {
                account_id: a.id.clone(),
                account_name: a.name.clone(),
                region: region.clone(),
                upstream: "gitlab".into(),
                ou: None,
            };
            let regional = Clients::regional(&cfg, &a.id, region);
            let decision = roll_out(&regional, &t, &r, &token).await;
            assert_eq!(decision.actions().len(), 2, "{decision:?}");
        }
        cfg
    });
    let configs = join_all(accounts).await;
    let regions: Vec<&str> = r.regions.iter().map(String::as_str).collect();
    assert_eq!(
        sim.check_converged(&regions, "gitlab", "ecr-pullthroughcache/gitlab"),
        Ok(38)
    );
    let m = sim.metrics();
    assert_eq!(
        m.assume_role_calls, 18,
        "one AssumeRole per member, none for the caller"
    );
    assert_eq!(m.mutating_calls, 76);

    // A second pass reads and changes nothing.
    sim.reset_metrics();
    for (a, cfg) in d.targeted.iter().zip(&configs) {
        let t = Target {
            account_id: a.id.clone(),
            account_name: a.name.clone(),
            region: "eu-west-1".into(),
            upstream: "gitlab".into(),
            ou: None,
        };
        let regional = Clients::regional(cfg, &a.id, "eu-west-1");
        let o = ptc_rollout::observe(&regional, &t, &r).await.unwrap();
        assert!(
            matches!(o.secret, SecretState::Present { managed: true, .. }),
            "{o:?}"
        );
        assert!(matches!(o.rule, RuleState::Present { .. }));
        assert_eq!(
            ptc_rollout::decide(&o, &r, false),
            Decision::Change { actions: vec![] }
        );
    }
    let m = sim.metrics();
    assert_eq!(
        (m.mutating_calls, m.assume_role_calls, m.regional_calls),
        (0, 0, 38)
    );

    // A token GitLab would refuse: invalid, and the failure never shows it.
    let member = &d.targeted[1];
    let regional = Clients::regional(&configs[1], &member.id, "us-east-1");
    let arn = sim_secret_arn(&regional).await;
    regional
        .secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(r#"{"username":"gitlab-user","accessToken":"glpat-revoked"}"#)
        .send()
        .await
        .unwrap();
    let t = Target {
        account_id: member.id.clone(),
        account_name: member.name.clone(),
        region: "us-east-1".into(),
        upstream: "gitlab".into(),
        ou: None,
    };
    let v = ptc_rollout::validate(&regional, &t, &r).await.unwrap();
    assert!(!v.is_valid);
    let failure = v.failure.unwrap();
    assert!(
        failure.contains("username or password") && !failure.contains("revoked"),
        "{failure}"
    );

    // No way into the management account (or a suspended one) by AssumeRole.
    for account in [MGMT, "200000000006"] {
        let refused = sts
            .assume_role()
            .role_arn(format!(
                "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
            ))
            .role_session_name("ptc-rollout-1")
            .send()
            .await;
        assert_eq!(code(&refused).as_deref(), Some("AccessDenied"), "{account}");
    }
}

async fn sim_secret_arn(r: &Regional) -> String {
    let out = r
        .secrets
        .describe_secret()
        .secret_id("ecr-pullthroughcache/gitlab")
        .send();
    out.await.unwrap().arn().unwrap().to_owned()
}

#[tokio::test(start_paused = true)]
async fn injected_failures_follow_the_rate() {
    let sim = Sim::new(SimConfig {
        failure_rate: 0.2,
        latency: LatencyModel::zero(),
        quotas: Quotas::none(),
        ..SimConfig::default()
    });
    let c = clients(&sim, &no_retries()).await;
    let r = caller_regional(&c, "us-east-1");
    let mut failed = 0;
    for _ in 0..1000 {
        let out = r.ecr.describe_pull_through_cache_rules().send().await;
        if let Err(e) = &out {
            assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(500));
            assert_eq!(e.code(), Some("InternalFailure"));
            failed += 1;
        }
    }
    assert!((150..=250).contains(&failed), "{failed} of 1000 failed");
    let m = sim.metrics();
    assert_eq!((m.failed_injected, m.total_calls), (failed, 1000));
    // With the default retries, every call gets through.
    let c = clients(&sim, &Tuning::default()).await;
    let r = caller_regional(&c, "us-east-1");
    for _ in 0..100 {
        r.ecr
            .describe_pull_through_cache_rules()
            .send()
            .await
            .unwrap();
    }
}
