//! Where the emulator's AWS and the real one used to differ, and rows that said more than was
//! checked: each test here failed before the tool (and the emulator) behaved as AWS does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support;
use serde_json::{json, Value};
use support::{read_report, rollout_text, run, Emulator, TOKEN};

const SECRET: &str = "ecr-pullthroughcache/gitlab";
const OTHER_TOKEN: &str = "test-other-token-5555555555";

fn config(emu: &Emulator, extra_targets: &str, extra: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    emu.rollout(
        &format!("g{n}.toml"),
        &format!("{}\n{extra}", rollout_text(extra_targets)),
    )
}

/// The SDK pointed at the emulator, as the management account's static keys.
async fn sdk_config(emu: &Emulator) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&emu.endpoint)
        .credentials_provider(aws_credential_types::Credentials::for_tests())
        .load()
        .await
}

fn secret_in(emu: &Emulator, account: &str, region: &str) -> Option<Value> {
    emu.secrets().into_iter().find(|s| {
        s["account"] == account
            && s["region"] == region
            && s["name"] == SECRET
            && s["deleted"] == false
    })
}

fn row<'a>(
    rows: &'a [HashMap<String, String>],
    account: &str,
    region: &str,
) -> &'a HashMap<String, String> {
    rows.iter()
        .find(|r| r["account_id"] == account && r["region"] == region)
        .unwrap_or_else(|| panic!("no row for {account} {region}"))
}

/// Gap 1: PutSecretValue with an existing version's token and value does nothing: rotating back to
/// an earlier token must move AWSCURRENT to it.
#[test]
fn rotating_back_to_an_earlier_token_makes_it_current_again() {
    let (emu, org) = Emulator::with_org();
    emu.set_valid_tokens(&[TOKEN, OTHER_TOKEN]);
    let cfg = config(&emu, "", "");
    let rotate = |token: &str| {
        let out = run(emu
            .cmd()
            .args(["rotate", "--yes", "--config"])
            .arg(&cfg)
            .env("GITLAB_REGISTRY_TOKEN", token));
        assert_eq!(out.code, 0, "{}", out.stderr);
    };
    let out = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dev = org.id("dev");
    let first = secret_in(&emu, &dev, "us-east-1").unwrap()["current_version"].clone();
    rotate(OTHER_TOKEN);
    assert!(secret_in(&emu, &dev, "us-east-1").unwrap()["value"]
        .as_str()
        .unwrap()
        .contains(OTHER_TOKEN));
    rotate(TOKEN);
    for account in org.active() {
        for region in ["us-east-1", "eu-west-1"] {
            let s = secret_in(&emu, &account, region).unwrap();
            assert!(
                s["value"].as_str().unwrap().contains(TOKEN),
                "{account} {region}: {s}"
            );
        }
    }
    assert_eq!(
        secret_in(&emu, &dev, "us-east-1").unwrap()["current_version"],
        first
    );
    // Converged: the same rotation again writes nothing.
    emu.reset_calls();
    rotate(TOKEN);
    let writes: Vec<String> = emu
        .mutating_calls()
        .into_iter()
        .filter(|a| a.contains("Secret"))
        .collect();
    assert_eq!(writes, Vec::<String>::new());
}

/// Gap 2: Unrecognised credentials in an opt-in Region are skipped only when Account Management
/// confirms the Region is disabled; an enabled one fails with a hint.
#[test]
fn an_opt_in_region_is_skipped_only_when_confirmed_disabled() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    let prod = org.id("prod");
    // dev enabled af-south-1, but its calls there are still not recognised (as with tokens of
    // the global STS endpoint); prod has not enabled it (the default).
    emu.post(
        "/_ptc/region_opt",
        json!({"account": dev, "region": "af-south-1", "status": "ENABLED"}),
    );
    emu.post(
        "/_ptc/faults",
        json!({"rules": [{"account": dev, "region": "af-south-1", "kind": "region_disabled"}]}),
    );
    let cfg = emu.rollout(
        "optin.toml",
        &rollout_text("accounts = [\"DEV\", \"PROD\"]")
            .replace("DEV", &dev)
            .replace("PROD", &prod)
            .replace("\"eu-west-1\"", "\"af-south-1\""),
    );
    let (out, rows) = emu.with_report(&cfg, &["apply", "--yes"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let skipped = row(&rows, &prod, "af-south-1");
    assert_eq!(skipped["outcome"], "skipped");
    assert!(
        skipped["failure"].contains("GetRegionOptStatus: DISABLED"),
        "{skipped:?}"
    );
    let failed = row(&rows, &dev, "af-south-1");
    assert_eq!(failed["outcome"], "failed");
    assert!(
        failed["failure"].contains("UnrecognizedClientException")
            && failed["failure"]
                .contains("is enabled for this account (GetRegionOptStatus: ENABLED)"),
        "{failed:?}"
    );
    assert_eq!(row(&rows, &dev, "us-east-1")["outcome"], "created");
}

/// Gap 3: A caller that is itself a role session chains roles: AWS grants at most an hour.
#[tokio::test(flavor = "multi_thread")]
async fn a_role_session_caller_asks_for_at_most_an_hour() {
    let (emu, _org) = Emulator::with_org();
    // The caller: a role session in the management account, as in GitLab CI through OIDC.
    let base = sdk_config(&emu).await;
    let creds = aws_sdk_sts::Client::new(&base)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{}:role/ci", support::MANAGEMENT))
        .role_session_name("ci-job")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let cfg = config(&emu, "session_duration_seconds = 7200", "");
    let out = run(emu
        .cmd()
        .args(["apply", "--yes", "--config"])
        .arg(&cfg)
        .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key())
        .env("AWS_SESSION_TOKEN", creds.session_token()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("using 3600 s"), "{}", out.stderr);
    // Every member account was entered (AWS refuses more than an hour to a chained session).
    let refused: Vec<Value> = emu
        .calls_of("AssumeRole")
        .into_iter()
        .filter(|c| c["status"] != 200)
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
}

/// Gap 4: ECR reads only secrets under the default key: a secret under a customer managed key is
/// a conflict named in the plan and the report, and no rule is made to point at it.
#[tokio::test(flavor = "multi_thread")]
async fn a_secret_under_a_customer_managed_key_gets_no_rule() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    // A key of dev's own, made as dev's administrator would.
    let base = sdk_config(&emu).await;
    let creds = aws_sdk_sts::Client::new(&base)
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{dev}:role/OrganizationAccountAccessRole"
        ))
        .role_session_name("admin")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let as_dev = base
        .to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    creds.access_key_id(),
                    creds.secret_access_key(),
                    Some(creds.session_token().to_owned()),
                    None,
                    "test",
                ),
            ),
        )
        .build();
    let key = aws_sdk_kms::Client::new(&as_dev)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let key = key.as_str();
    emu.mutate(
        json!({"op": "create_secret", "account": dev, "region": "us-east-1", "name": SECRET,
        "value": {"username": "ptc-bot", "accessToken": TOKEN}, "kms_key_id": key}),
    );
    let cfg = config(&emu, "", "");
    let plan = run(emu.cmd().args(["plan", "--config"]).arg(&cfg));
    assert!(
        plan.stdout.contains("customer managed KMS key"),
        "{}",
        plan.stdout
    );
    let (out, rows) = emu.with_report(&cfg, &["apply", "--yes"]);
    assert_eq!(out.code, 1);
    let conflict = row(&rows, &dev, "us-east-1");
    assert_eq!(conflict["outcome"], "conflict");
    assert!(conflict["failure"].contains(key), "{conflict:?}");
    assert!(!emu
        .rules()
        .iter()
        .any(|r| r["account"] == dev && r["region"] == "us-east-1"));
    let (out, rows) = emu.compliance(&cfg);
    assert_eq!(out.code, 1);
    assert!(row(&rows, &dev, "us-east-1")["reasons"].contains("customer managed KMS key"));
}

/// Gap 5: `destroy --force-delete-secrets` purges managed secrets already scheduled for deletion
/// too; AWS frees the name asynchronously, and an apply right after waits for it.
#[test]
fn force_deleted_secrets_are_purged_and_their_names_come_back() {
    let (emu, org) = Emulator::with_org();
    let cfg = config(&emu, "", "");
    assert_eq!(
        run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg)).code,
        0
    );
    // eu-west-1 first through the recovery window, then everything without one.
    let out = run(emu
        .cmd()
        .args(["destroy", "--yes", "--regions", "eu-west-1", "--config"])
        .arg(&cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(emu.secrets().iter().any(|s| s["deleted"] == true));
    emu.post("/_ptc/force_delete_delay", json!({"ms": 2500}));
    let (out, rows) = emu.with_report(&cfg, &["destroy", "--yes", "--force-delete-secrets"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dev = org.id("dev");
    assert!(
        row(&rows, &dev, "eu-west-1")["actions"].contains("delete secret"),
        "{rows:?}"
    );
    // The pending secrets are gone, and the names are still taken for a moment.
    let started = Instant::now();
    let (out, rows) = emu.with_report(&cfg, &["apply", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(rows.iter().all(|r| r["outcome"] == "created"), "{rows:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "apply waited for the names"
    );
    for account in org.active() {
        assert!(secret_in(&emu, &account, "eu-west-1").is_some());
    }
}

/// Gap 6: The circuit breaker counts failed logins at GitLab.com, not secrets ECR cannot read.
#[test]
fn secrets_ecr_cannot_read_do_not_trip_the_circuit_breaker() {
    let (emu, org) = Emulator::with_org();
    let cfg = config(&emu, "", "");
    assert_eq!(
        run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg)).code,
        0
    );
    for account in org.active() {
        for region in ["us-east-1", "eu-west-1"] {
            emu.mutate(
                json!({"op": "put_secret_value", "account": account, "region": region,
                "name": SECRET, "value": "not json"}),
            );
        }
    }
    let (out, rows) = emu.with_report(&cfg, &["validate", "--concurrency", "1"]);
    assert_eq!(out.code, 1);
    assert_eq!(rows.len(), org.active().len() * 2);
    for r in &rows {
        assert_eq!(r["is_valid"], "false", "every rule was validated: {r:?}");
        assert!(!r["failure"].contains("circuit breaker"), "{r:?}");
    }
}

/// Gap 7: The first run without usable credentials or endpoint: one or two lines with the cause
/// and the fix, no SDK warnings, no debug structures, a documented exit code, and quickly.
#[test]
fn a_first_run_that_cannot_start_says_why_in_two_lines() {
    let emu = Emulator::start();
    let cfg = config(&emu, "", "");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    // (environment changes, None to remove; what stderr must say)
    type Case<'a> = (Vec<(&'a str, Option<&'a str>)>, String);
    let cases: Vec<Case> = vec![
        (
            vec![("AWS_ENDPOINT_URL", Some(&closed))],
            format!("cannot reach {closed} (connection refused)"),
        ),
        (
            vec![
                ("AWS_ACCESS_KEY_ID", None),
                ("AWS_SECRET_ACCESS_KEY", None),
                ("AWS_PROFILE", Some("nosuch")),
            ],
            "The config profile (nosuch) could not be found".to_owned(),
        ),
        (
            vec![("AWS_ACCESS_KEY_ID", None), ("AWS_SECRET_ACCESS_KEY", None)],
            "Unable to locate credentials. You can configure credentials by running `aws configure` or `aws sso login`".to_owned(),
        ),
    ];
    for (env, expect) in cases {
        let mut cmd = emu.cmd();
        cmd.env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", emu.path("absent"))
            .env("AWS_SHARED_CREDENTIALS_FILE", emu.path("absent"));
        for (k, v) in env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let started = Instant::now();
        let out = run(cmd.args(["plan", "--config"]).arg(&cfg));
        assert_eq!(out.code, 4, "{}", out.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{expect}: took {:?}",
            started.elapsed()
        );
        assert!(out.stderr.contains(&expect), "{expect:?} in {}", out.stderr);
        assert!(out.stderr.lines().count() <= 2, "{}", out.stderr);
        for noise in ["WARN", "DispatchFailure", "ConnectorError", "{ "] {
            assert!(!out.stderr.contains(noise), "{noise} in {}", out.stderr);
        }
    }
}

/// Gap 8: `is_valid` is true or false only for a validation made in that run; rotate validates the
/// targets it leaves alone too, so it ends with the whole matrix's validity.
#[test]
fn rows_say_only_what_was_checked() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    // Someone else's secret in dev/eu-west-1: rotate leaves it alone, but validates its rule.
    emu.mutate(
        json!({"op": "create_secret", "account": dev, "region": "eu-west-1", "name": SECRET,
        "value": {"username": "theirs", "accessToken": TOKEN}}),
    );
    let cfg = config(&emu, "", "");
    assert_eq!(
        run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg)).code,
        0
    );
    emu.set_valid_tokens(&[TOKEN, OTHER_TOKEN]);
    let report = emu.path("r.csv");
    let out = run(emu
        .cmd()
        .args(["rotate", "--yes", "--report"])
        .arg(&report)
        .arg("--config")
        .arg(&cfg)
        .env("GITLAB_REGISTRY_TOKEN", OTHER_TOKEN));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows = read_report(&report);
    let skipped = row(&rows, &dev, "eu-west-1");
    assert_eq!(skipped["outcome"], "skipped");
    assert_eq!(
        skipped["is_valid"], "true",
        "validated although skipped: {skipped:?}"
    );
    // A run that validates nothing (the canary stops it) leaves is_valid empty, never false.
    emu.set_valid_tokens(&[]);
    let out = run(emu
        .cmd()
        .args(["rotate", "--yes", "--report"])
        .arg(&report)
        .arg("--config")
        .arg(&cfg)
        .env("GITLAB_REGISTRY_TOKEN", TOKEN));
    assert_eq!(out.code, 1);
    for r in read_report(&report)
        .iter()
        .filter(|r| r["outcome"] == "not attempted")
    {
        assert_eq!(r["is_valid"], "", "{r:?}");
    }
}

/// Gap 9: The benchmark measures the allocator that ships: the binary installs the same one.
#[test]
fn the_binary_ships_the_allocator_the_benchmark_measures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let line = "static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;";
    for file in ["src/main.rs", "benches/scale.rs"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(
            text.contains("#[global_allocator]") && text.contains(line),
            "{file}"
        );
    }
    let binary = std::fs::read(env!("CARGO_BIN_EXE_ptc-rollout")).unwrap();
    assert!(
        binary.windows(9).any(|w| w == b"mimalloc:"),
        "mimalloc is linked into the binary"
    );
}
