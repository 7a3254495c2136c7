//! Conformance: the same scenarios, through the real SDK clients, against the simulated AWS of
//! `sim/` (in process, paused clock) and the emulator of `emulator/` (moto server, real
//! clock). Each step's answer (success and what it showed, or the error code and HTTP status)
//! must be what AWS documents, and so the same from both: the two test doubles encode the same
//! AWS rules, and this keeps them from drifting apart. The scenarios are written once, generic
//! over [`Backend`].

mod backends;
mod model_refusals;
mod rule_limits;
mod templates;

use std::error::Error;
use std::future::Future;
use std::time::Duration;

use crate::support;
use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use backends::*;
use ptc_rollout::{Clients, Overrides, Regional, Tuning};
use ptc_sim::{LatencyModel, Quotas, Sim, SimConfig};
use serde_json::json;
use support::{Emulator, TOKEN};

const REGION: &str = "us-east-1";
/// An opt-in Region, disabled until a scenario enables it.
const OPT_IN: &str = "af-south-1";
const TOKEN_A: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const TOKEN_B: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const FORCE_DELETE_DELAY: Duration = Duration::from_millis(1500);

/// What AWS documents for each step, in the order the scenarios take them:
/// `scenario: step => answer`, the answer being `ok[ what it showed]` or the error code with
/// the HTTP status (`4xx`: any of the class) and perhaps the message.
const DOCUMENTED: &[&str] = &[
    "versions: create with A => ok",
    "versions: put B => ok",
    "versions: stages => ok A=AWSPREVIOUS B=AWSCURRENT",
    "versions: put A again with A's token => ok A",
    "versions: stages (AWSCURRENT did not move) => ok A=AWSPREVIOUS B=AWSCURRENT",
    "versions: GetSecretValue => ok B",
    "versions: A's token, another value => ResourceExistsException 4xx",
    "versions: move AWSCURRENT, no RemoveFromVersionId => InvalidParameterException 4xx",
    "versions: move AWSCURRENT back to A => ok",
    "versions: stages => ok A=AWSCURRENT B=AWSPREVIOUS",
    "versions: GetSecretValue => ok A",
    "opt-in: Secrets Manager, Region disabled => UnrecognizedClientException 400",
    "opt-in: ECR, Region disabled => UnrecognizedClientException 400",
    "opt-in: status of the member, asked by the management account => ok DISABLED",
    "opt-in: status asked by the member => ok DISABLED",
    "opt-in: status of another account, asked by a member => AccessDeniedException 403",
    "opt-in: status of the management account, naming itself => AccessDeniedException 403",
    "opt-in: status of no Region => ValidationException 400",
    "opt-in: status of a Region enabled by default => ok ENABLED_BY_DEFAULT",
    "opt-in: status once enabled => ok ENABLED",
    "opt-in: Secrets Manager once enabled => ok",
    "opt-in: ECR once enabled => ok 0 rules",
    "opt-in: management account, still disabled => UnrecognizedClientException 400",
    "rules: DescribeSecret, customer managed key => ok KmsKeyId=alias/conformance-key",
    "rules: DescribeSecret, default key => ok KmsKeyId=-",
    "rules: schedule a deletion => ok",
    "rules: create, customer managed key => UnableToDecryptSecretValueException 400",
    "rules: create, no such secret => SecretNotFoundException 400",
    "rules: create, secret scheduled for deletion => UnableToAccessSecretException 400",
    "rules: create, not a secret ARN => ValidationException 400",
    "rules: create, usable secret => ok",
    "rules: update to a customer managed key => UnableToDecryptSecretValueException 400",
    "rules: update, nothing to change => InvalidParameterException 400",
    "rules: validate => ok isValid=true",
    "rules: schedule the rule's secret for deletion => ok",
    "rules: validate => ok isValid=false \
     Unable to access the secret <ARN>: the secret is scheduled for deletion",
    "deletion: create => ok",
    "deletion: schedule => ok",
    "deletion: create again => InvalidRequestException 400: You can't create this secret \
     because a secret with this name is already scheduled for deletion.",
    "deletion: force-delete a secret scheduled for deletion => ok",
    "deletion: create at once => InvalidRequestException 400: You can't create this secret \
     because a secret with this name is already scheduled for deletion.",
    "deletion: DescribeSecret at once => ResourceNotFoundException 4xx",
    "deletion: force-delete a secret that is gone => ok",
    "deletion: create after the delay => ok",
    "sessions: 7200 s from the management account's user => ok",
    "sessions: role chaining above one hour => ValidationError 400: The requested \
     DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
    "sessions: role chaining for one hour => ok",
    "sessions: above the role's MaxSessionDuration => ValidationError 400: The requested \
     DurationSeconds exceeds the MaxSessionDuration set for this role.",
];

/// PutSecretValue A, B, A again with A's token (a no-op), then UpdateSecretVersionStage back
/// to A.
async fn secret_versions(b: &impl Backend, t: &mut Transcript) {
    t.section = "versions";
    let r = caller(b, REGION);
    let name = "ecr-pullthroughcache/conformance-versions";
    let create = r.secrets.create_secret().name(name);
    let create = create.client_request_token(TOKEN_A).secret_string("A");
    t.step("create with A", create.send().await.class());
    let put = |token: &str, value: &str| {
        let put = r.secrets.put_secret_value().secret_id(name);
        put.secret_string(value).client_request_token(token).send()
    };
    t.step("put B", put(TOKEN_B, "B").await.class());
    t.step("stages", stages(&r, name).await);
    let again = put(TOKEN_A, "A").await.shows(false, false, |o| {
        let id = o.version_id().unwrap_or_default();
        id.replace(TOKEN_A, "A")
    });
    t.step("put A again with A's token", again);
    t.step("stages (AWSCURRENT did not move)", stages(&r, name).await);
    t.step("GetSecretValue", current_value(&r, name).await);
    t.step(
        "A's token, another value",
        put(TOKEN_A, "not A").await.class(),
    );
    let stage = |remove: Option<&str>| {
        let u = r.secrets.update_secret_version_stage().secret_id(name);
        let u = u.version_stage("AWSCURRENT").move_to_version_id(TOKEN_A);
        u.set_remove_from_version_id(remove.map(str::to_owned))
            .send()
    };
    let blind = stage(None).await.class();
    t.step("move AWSCURRENT, no RemoveFromVersionId", blind);
    t.step(
        "move AWSCURRENT back to A",
        stage(Some(TOKEN_B)).await.class(),
    );
    t.step("stages", stages(&r, name).await);
    t.step("GetSecretValue", current_value(&r, name).await);
}

async fn opt_status(cfg: &SdkConfig, account: Option<&str>, region: &str) -> String {
    let call = Clients::account(cfg).get_region_opt_status();
    let call = call
        .region_name(region)
        .set_account_id(account.map(str::to_owned));
    call.send().await.shows(true, false, |o| {
        let status = o.region_opt_status();
        status.map(|s| s.as_str().to_owned()).unwrap_or_default()
    })
}

/// An opt-in Region: refused (400 UnrecognizedClientException) and DISABLED until enabled.
async fn opt_in_region(b: &impl Backend, t: &mut Transcript) {
    t.section = "opt-in";
    let [member, other] = b.members();
    let cfg = match enter(b, &b.clients().sts(), member, 900).await {
        Ok(cfg) => cfg,
        Err(e) => return t.step("enter the member", e),
    };
    let r = Clients::regional(&cfg, member, OPT_IN);
    let name = "ecr-pullthroughcache/conformance-opt-in";
    let describe = r.secrets.describe_secret().secret_id(name).send().await;
    t.step("Secrets Manager, Region disabled", describe.status());
    let rules = r.ecr.describe_pull_through_cache_rules().send().await;
    t.step("ECR, Region disabled", rules.status());
    let mgmt = b.clients().for_caller();
    let status = opt_status(&mgmt, Some(member), OPT_IN).await;
    t.step(
        "status of the member, asked by the management account",
        status,
    );
    let status = opt_status(&cfg, None, OPT_IN).await;
    t.step("status asked by the member", status);
    let status = opt_status(&cfg, Some(other), OPT_IN).await;
    t.step("status of another account, asked by a member", status);
    let status = opt_status(&mgmt, Some(b.management()), OPT_IN).await;
    t.step("status of the management account, naming itself", status);
    let status = opt_status(&mgmt, None, "xx-nowhere-1").await;
    t.step("status of no Region", status);
    let status = opt_status(&mgmt, Some(member), REGION).await;
    t.step("status of a Region enabled by default", status);

    b.set_region_opt(member, OPT_IN, true);
    let status = opt_status(&mgmt, Some(member), OPT_IN).await;
    t.step("status once enabled", status);
    let create = r.secrets.create_secret().name(name).secret_string("x");
    t.step("Secrets Manager once enabled", create.send().await.status());
    let rules = r.ecr.describe_pull_through_cache_rules().send().await;
    let rules = rules.shows(true, false, |o| {
        format!("{} rules", o.pull_through_cache_rules().len())
    });
    t.step("ECR once enabled", rules);
    let mgmt = caller(b, OPT_IN).secrets;
    let describe = mgmt.describe_secret().secret_id(name).send().await;
    t.step("management account, still disabled", describe.status());
}

/// `isValid=... failure` of the rule's validation, the secret's ARN written `<ARN>`.
async fn validate(r: &Regional, arn: &str) -> String {
    let call = r.ecr.validate_pull_through_cache_rule();
    let out = call.ecr_repository_prefix("conformance").send().await;
    out.shows(true, false, |v| {
        let failure = v.failure().unwrap_or_default().replace(arn, "<ARN>");
        let shown = format!("isValid={} {failure}", v.is_valid());
        shown.trim_end().to_owned()
    })
}

/// ECR uses only a live secret of its own account and Region under the default key.
async fn rule_secrets(b: &impl Backend, t: &mut Transcript) {
    t.section = "rules";
    let r = caller(b, REGION);
    let value = json!({"username": "conformance", "accessToken": TOKEN}).to_string();
    let mut arns = Vec::new();
    for (name, key) in [
        ("cmk", Some("alias/conformance-key")),
        ("plain", None),
        ("doomed", None),
    ] {
        let create = r.secrets.create_secret().secret_string(&value);
        let create = create.name(format!("ecr-pullthroughcache/conformance-{name}"));
        match create.set_kms_key_id(key.map(str::to_owned)).send().await {
            Ok(o) => arns.push(o.arn().unwrap_or_default().to_owned()),
            Err(e) => return t.step("create the secrets", Err::<(), _>(e).message()),
        }
    }
    let [cmk, plain, doomed] = &arns[..] else {
        unreachable!()
    };
    let kms = |arn: &str| {
        let call = r.secrets.describe_secret().secret_id(arn).send();
        async move {
            let shown =
                |d: DescribeSecretOutput| format!("KmsKeyId={}", d.kms_key_id().unwrap_or("-"));
            call.await.shows(false, false, shown)
        }
    };
    t.step("DescribeSecret, customer managed key", kms(cmk).await);
    t.step("DescribeSecret, default key", kms(plain).await);
    let schedule = |arn: &str| {
        let call = r.secrets.delete_secret().secret_id(arn);
        call.recovery_window_in_days(7).send()
    };
    t.step("schedule a deletion", schedule(doomed).await.class());

    let missing = format!("{}XXXXXX", &plain[..plain.len() - 6]);
    let not_a_secret = "arn:aws:secretsmanager:us-east-1:123:secret:nope";
    for (case, arn) in [
        ("customer managed key", cmk.as_str()),
        ("no such secret", &missing),
        ("secret scheduled for deletion", doomed),
        ("not a secret ARN", not_a_secret),
        ("usable secret", plain),
    ] {
        let create = r.ecr.create_pull_through_cache_rule();
        let create = create
            .ecr_repository_prefix("conformance")
            .credential_arn(arn);
        let create = create.upstream_registry_url("registry.gitlab.com").send();
        let (step, answer) = (format!("create, {case}"), create.await.status());
        // ECR's model takes only ecr-pullthroughcache/ secrets' ARNs.
        if arn == not_a_secret {
            t.refused(&step, answer);
        } else {
            t.step(&step, answer);
        }
    }
    let update = |arn: Option<&str>| {
        let call = r.ecr.update_pull_through_cache_rule();
        let call = call.ecr_repository_prefix("conformance");
        call.set_credential_arn(arn.map(str::to_owned)).send()
    };
    let to_cmk = update(Some(cmk)).await.status();
    t.step("update to a customer managed key", to_cmk);
    t.step("update, nothing to change", update(None).await.status());
    t.step("validate", validate(&r, plain).await);
    let scheduled = schedule(plain).await.class();
    t.step("schedule the rule's secret for deletion", scheduled);
    t.step("validate", validate(&r, plain).await);
}

/// A forced deletion: the name stays taken for a while, then is free.
async fn forced_deletion(b: &impl Backend, t: &mut Transcript) {
    t.section = "deletion";
    let r = caller(b, REGION);
    let name = "ecr-pullthroughcache/conformance-deleted";
    let create = || {
        let call = r.secrets.create_secret().name(name);
        call.secret_string("x").send()
    };
    let delete = |force: bool| {
        let call = r.secrets.delete_secret().secret_id(name);
        match force {
            true => call.force_delete_without_recovery(true).send(),
            false => call.recovery_window_in_days(7).send(),
        }
    };
    b.set_force_delete_delay(FORCE_DELETE_DELAY);
    t.step("create", create().await.class());
    t.step("schedule", delete(false).await.class());
    t.step("create again", create().await.message());
    let forced = delete(true).await.class();
    t.step("force-delete a secret scheduled for deletion", forced);
    let deleted = tokio::time::Instant::now();
    t.step("create at once", create().await.message());
    let describe = r.secrets.describe_secret().secret_id(name).send().await;
    t.step("DescribeSecret at once", describe.class());
    let forced = delete(true).await.class();
    t.step("force-delete a secret that is gone", forced);
    let free = deleted + FORCE_DELETE_DELAY + Duration::from_millis(200);
    tokio::time::sleep_until(free).await;
    t.step("create after the delay", create().await.class());
    b.set_force_delete_delay(Duration::ZERO);
}

/// AssumeRole's session limits: one hour when chaining, MaxSessionDuration otherwise.
async fn session_limits(b: &impl Backend, t: &mut Transcript) {
    t.section = "sessions";
    let [member, other] = b.members();
    let sts = b.clients().sts();
    let long = entered(enter(b, &sts, member, 7200).await);
    t.step("7200 s from the management account's user", long);
    let cfg = match enter(b, &sts, member, 900).await {
        Ok(cfg) => cfg,
        Err(e) => return t.step("enter the member", e),
    };
    let chained = aws_sdk_sts::Client::new(&cfg);
    let over = entered(enter(b, &chained, other, 3601).await);
    t.step("role chaining above one hour", over);
    let hour = entered(enter(b, &chained, other, 3600).await);
    t.step("role chaining for one hour", hour);
    b.set_max_session_duration(3600);
    let over = entered(enter(b, &sts, member, 7200).await);
    t.step("above the role's MaxSessionDuration", over);
    b.set_max_session_duration(43_200);
}

/// Each step's name and answer, and the steps whose calls the service-model check refused
/// other than as the step meant.
type Outcome = (Vec<(String, String)>, Vec<String>);

async fn scenarios(b: &impl Backend) -> Outcome {
    let mut t = Transcript::new(b);
    secret_versions(b, &mut t).await;
    opt_in_region(b, &mut t).await;
    rule_secrets(b, &mut t).await;
    forced_deletion(b, &mut t).await;
    session_limits(b, &mut t).await;
    rule_limits::rule_limits(b, &mut t).await;
    model_refusals::model_refusals(b, &mut t).await;
    templates::templates(b, &mut t).await;
    (t.steps, t.unexpected_refusals)
}

/// No retries: each step is one request and its one answer.
fn tuning() -> Tuning {
    Tuning {
        max_attempts: 1,
        ..Tuning::default()
    }
}

fn run<F: Future<Output = Outcome>>(paused: bool, f: impl FnOnce() -> F) -> Outcome {
    let mut runtime = tokio::runtime::Builder::new_current_thread();
    runtime.enable_all().start_paused(paused);
    runtime.build().expect("runtime").block_on(f())
}

fn on_simulation() -> Outcome {
    // On the paused clock, the forced-deletion delay passes at once.
    run(true, || async {
        let sim = Sim::new(SimConfig {
            member_accounts: 2,
            latency: LatencyModel::zero(),
            quotas: Quotas::none(),
            valid_tokens: Some(vec![TOKEN.to_owned()]),
            ..SimConfig::default()
        });
        let overrides = Overrides {
            http_client: Some(sim.http_client()),
            credentials: Some(sim.credentials()),
            region: Some(REGION.into()),
            ..Overrides::default()
        };
        let clients = Clients::load(overrides, &tuning()).await;
        let ids = sim.member_ids();
        let members = [ids[0].clone(), ids[1].clone()];
        scenarios(&Simulated {
            sim,
            clients,
            members,
        })
        .await
    })
}

fn on_emulator() -> Outcome {
    run(false, || async {
        // The steps that send values the service models refuse on purpose take their one
        // refusal (Transcript::refused); any other refusal fails the test.
        let (emu, org) = Emulator::with_org();
        let keys = Credentials::new("test", "test", None, None, "conformance");
        let overrides = Overrides {
            credentials: Some(SharedCredentialsProvider::new(keys)),
            region: Some(REGION.into()),
            endpoint_url: Some(emu.endpoint.clone()),
            ..Overrides::default()
        };
        let clients = Clients::load(overrides, &tuning()).await;
        let members = [org.id("dev"), org.id("prod")];
        scenarios(&Emulated {
            emu: emu.into(),
            clients,
            members,
        })
        .await
    })
}

#[test]
fn the_simulation_and_the_emulator_answer_alike() {
    let ((sim, _), (emu, refusals)) = (on_simulation(), on_emulator());
    assert!(
        refusals.is_empty(),
        "the emulator's service-model check (emulator/model_check.py) refused calls other than \
         the steps meant:\n{}",
        refusals.join("\n")
    );
    let none = (String::from("(no such step)"), String::from("(no answer)"));
    let mut table = String::new();
    let mut failures = 0;
    let documented = DOCUMENTED.len()
        + rule_limits::DOCUMENTED.len()
        + model_refusals::DOCUMENTED.len()
        + templates::DOCUMENTED.len();
    let steps = documented.max(sim.len()).max(emu.len());
    for i in 0..steps {
        let documented = DOCUMENTED
            .iter()
            .chain(rule_limits::DOCUMENTED)
            .chain(model_refusals::DOCUMENTED)
            .chain(templates::DOCUMENTED)
            .nth(i)
            .copied()
            .unwrap_or("(not documented) => ?");
        let (name, expected) = documented.split_once(" => ").expect("step => answer");
        let (s, e) = (sim.get(i).unwrap_or(&none), emu.get(i).unwrap_or(&none));
        let ok = s.0 == name && e.0 == name && s.1 == expected && e.1 == expected;
        failures += usize::from(!ok);
        let mark = if ok { "ok  " } else { "FAIL" };
        let at = |n: &str| {
            if n == name {
                String::new()
            } else {
                format!(" (step {n})")
            }
        };
        table += &format!("{mark} {name}\n    documented {expected}\n");
        table += &format!(
            "    simulation {}{}\n    emulator   {}{}\n",
            s.1,
            at(&s.0),
            e.1,
            at(&e.0)
        );
    }
    assert_eq!(
        failures, 0,
        "steps that differ from what AWS documents:\n{table}"
    );
    println!("{table}");
}
