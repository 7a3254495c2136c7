//! Restore completes: a run killed between RestoreSecret and PutSecretValue leaves the managed
//! secret restored with the token it held when it was deleted. `plan` shows it as `update
//! token` once GitLab refuses that token, the next `apply` stores the rollout's token, and a
//! plan after it is clean. A secret ptc-rollout did not create is never written.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support;
use serde_json::{json, Value};
use support::{read_report, rollout_text, run, Emulator, Run, TOKEN};

/// A token GitLab accepted once and no longer does (revoked).
const OLD: &str = "test-OldTokenValue9876543210";
const SECRET: &str = "ecr-pullthroughcache/gitlab";

fn secret_json(token: &str) -> Value {
    json!({"username": "ptc-bot", "accessToken": token})
}

fn value_of(emu: &Emulator, account: &str, region: &str) -> String {
    emu.secrets()
        .into_iter()
        .find(|s| s["account"] == account && s["region"] == region && s["name"] == SECRET)
        .expect("secret")["value"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn plan(emu: &Emulator, cfg: &std::path::Path) -> Run {
    run(emu
        .cmd()
        .args(["plan", "--detailed-exitcode", "--config"])
        .arg(cfg))
}

/// The plan table's row for the target.
fn plan_row<'a>(out: &'a Run, account: &str, region: &str) -> &'a str {
    out.stdout
        .lines()
        .find(|l| l.starts_with(account) && l.contains(region))
        .unwrap_or_else(|| panic!("no row for {account} {region}:\n{}", out.stdout))
}

/// Applies the rollout, then puts the older token in dev/us-east-1's secret; the config's path.
fn applied_then_old_token_in_dev(emu: &Emulator, dev: &str) -> PathBuf {
    let cfg = emu.rollout("r.toml", &rollout_text(""));
    let first = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
    assert_eq!(first.code, 0, "{}", first.stderr);
    emu.mutate(
        json!({"op": "put_secret_value", "account": dev, "region": "us-east-1",
        "name": SECRET, "value": secret_json(OLD)}),
    );
    cfg
}

fn assert_no_token(out: &Run) {
    for t in [TOKEN, OLD] {
        assert!(
            !out.stdout.contains(t) && !out.stderr.contains(t),
            "token leaked"
        );
    }
}

#[test]
fn a_restore_killed_before_its_token_is_finished_by_the_next_apply() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    // dev/us-east-1's secret was deleted while it held an older token, since revoked.
    let cfg = applied_then_old_token_in_dev(&emu, &dev);
    emu.mutate(
        json!({"op": "delete_secret", "account": dev, "region": "us-east-1", "name": SECRET}),
    );

    // apply restores it and is killed while its PutSecretValue is on the way.
    emu.post(
        "/_ptc/faults",
        json!({"rules": [{"service": "secretsmanager", "action": "PutSecretValue", "account": dev,
            "region": "us-east-1", "kind": "hang", "latency_ms": 120000, "times": 1}]}),
    );
    let mut child = emu
        .cmd()
        .args(["apply", "--yes", "--no-progress", "--config"])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !emu
        .calls_of("PutSecretValue")
        .iter()
        .any(|c| c["fault"] == "hang")
    {
        assert!(
            Instant::now() < deadline,
            "apply never reached PutSecretValue"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    emu.post("/_ptc/faults", json!({"rules": []}));
    assert!(emu
        .calls_of("RestoreSecret")
        .iter()
        .any(|c| c["account"] == dev && c["region"] == "us-east-1"));
    assert!(
        value_of(&emu, &dev, "us-east-1").contains(OLD),
        "restored, old token"
    );

    // The plan shows it: exit 3, `update token` there and nothing anywhere else.
    emu.reset_calls();
    let planned = plan(&emu, &cfg);
    assert_eq!(planned.code, 3, "{}\n{}", planned.stdout, planned.stderr);
    assert!(plan_row(&planned, &dev, "us-east-1").contains("update token"));
    assert_eq!(
        planned.stdout.matches("update token").count(),
        1,
        "{}",
        planned.stdout
    );
    assert!(planned.stdout.contains("1 secrets to get the token"));
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );
    assert_no_token(&planned);

    // apply repairs it, writing there only.
    emu.reset_calls();
    let report = emu.path("apply.csv");
    let applied = run(emu
        .cmd()
        .args(["apply", "--yes", "--config"])
        .arg(&cfg)
        .arg("--report")
        .arg(&report));
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert_no_token(&applied);
    let value = value_of(&emu, &dev, "us-east-1");
    assert!(value.contains(TOKEN) && !value.contains(OLD));
    for c in emu.calls() {
        let action = c["action"].as_str().unwrap();
        if ["PutSecretValue", "UpdateSecretVersionStage", "TagResource"].contains(&action) {
            assert_eq!(
                (c["account"].as_str(), c["region"].as_str()),
                (Some(dev.as_str()), Some("us-east-1"))
            );
        }
    }
    assert!(!emu.mutating_calls().is_empty());
    let rows = read_report(&report);
    let row = rows
        .iter()
        .find(|r| r["account_id"] == dev && r["region"] == "us-east-1")
        .unwrap();
    assert_eq!(
        (row["outcome"].as_str(), row["is_valid"].as_str()),
        ("updated", "true"),
        "{row:?}"
    );
    assert!(row["actions"].contains("update token"), "{row:?}");
    assert_eq!(
        rows.iter().filter(|r| r["outcome"] == "unchanged").count(),
        7
    );

    // Converged: the plan is clean and makes no mutating call.
    let clean = emu.assert_converged(&cfg);
    assert!(!clean.stdout.contains("update token"));
}

#[test]
fn a_secret_with_a_working_older_token_or_not_created_by_ptc_rollout_is_not_written() {
    let (emu, org) = Emulator::with_org();
    let (dev, prod) = (org.id("dev"), org.id("prod"));
    emu.set_valid_tokens(&[TOKEN, OLD]);
    // prod/eu-west-1: someone else's secret of that name, holding the old token.
    emu.mutate(
        json!({"op": "create_secret", "account": prod, "region": "eu-west-1",
        "name": SECRET, "value": secret_json(OLD)}),
    );
    // dev/us-east-1 holds the old token, which still works: rotate's business, not apply's.
    let cfg = applied_then_old_token_in_dev(&emu, &dev);
    emu.reset_calls();
    let planned = plan(&emu, &cfg);
    assert_eq!(planned.code, 0, "{}\n{}", planned.stdout, planned.stderr);
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );

    // GitLab revokes the old token: the unmanaged secret's rule fails, and still nothing of
    // theirs is written; ours is repaired.
    emu.set_valid_tokens(&[TOKEN]);
    let planned = plan(&emu, &cfg);
    assert_eq!(planned.code, 3, "{}\n{}", planned.stdout, planned.stderr);
    assert!(plan_row(&planned, &dev, "us-east-1").contains("update token"));
    assert!(!plan_row(&planned, &prod, "eu-west-1").contains("update token"));
    // Without the token at hand, plan cannot judge a secret's value and does not try.
    let no_token = run(emu
        .cmd()
        .env_remove("GITLAB_REGISTRY_TOKEN")
        .args(["plan", "--detailed-exitcode", "--config"])
        .arg(&cfg));
    assert_eq!(no_token.code, 0, "{}", no_token.stderr);
    emu.reset_calls();
    let applied = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
    assert_eq!(applied.code, 1, "the unmanaged secret's rule is invalid");
    assert!(
        value_of(&emu, &prod, "eu-west-1").contains(OLD),
        "theirs untouched"
    );
    assert!(value_of(&emu, &dev, "us-east-1").contains(TOKEN));
    let puts = emu.calls_of("PutSecretValue");
    assert!(!puts.is_empty());
    assert!(puts
        .iter()
        .all(|c| c["account"] == dev && c["region"] == "us-east-1"));
}

/// One converged account whose managed secret in us-east-1 is then force-deleted, the deletion
/// still being carried out (and DescribeSecret still showing it) for `ms`; with the old ARN.
fn converged_then_purging(ms: u64) -> (Emulator, String, PathBuf, Value) {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    let cfg = emu.rollout("r.toml", &rollout_text(&format!("accounts = [\"{dev}\"]")));
    let first = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
    assert_eq!(first.code, 0, "{}", first.stderr);
    emu.post(
        "/_ptc/force_delete_delay",
        json!({"ms": ms, "visible": true}),
    );
    let old = emu.mutate(
        json!({"op": "delete_secret", "account": dev, "region": "us-east-1",
        "name": SECRET, "force": true}),
    )["arn"]
        .clone();
    (emu, dev, cfg, old)
}

/// A forced deletion is carried out in the background: meanwhile DescribeSecret can still show
/// the secret with its DeletedDate, and RestoreSecret of it is refused. `apply` then creates
/// the secret anew once the name is free, and the rule follows the new ARN.
#[test]
fn a_secret_being_purged_is_created_anew_not_restored() {
    let (emu, dev, cfg, old) = converged_then_purging(2500);
    let planned = plan(&emu, &cfg);
    assert!(
        plan_row(&planned, &dev, "us-east-1").contains("restore secret"),
        "{}",
        planned.stdout
    );
    let (out, rows) = emu.with_report(&cfg, &["apply", "--yes"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let row = rows
        .iter()
        .find(|r| r["account_id"] == dev && r["region"] == "us-east-1")
        .unwrap();
    assert_eq!(
        (row["outcome"].as_str(), row["actions"].as_str()),
        ("created", "create secret; update rule credential"),
        "{row:?}"
    );
    assert_eq!(emu.calls_of("RestoreSecret").len(), 1);
    let new = emu
        .secrets()
        .into_iter()
        .find(|s| s["account"] == dev && s["region"] == "us-east-1")
        .unwrap()["arn"]
        .clone();
    assert_ne!(new, old);
    let rule = emu
        .rules()
        .into_iter()
        .find(|r| r["account"] == dev && r["region"] == "us-east-1")
        .unwrap();
    assert_eq!(rule["credentialArn"], new);
    emu.post("/_ptc/force_delete_delay", json!({"ms": 0}));
    emu.assert_converged(&cfg);
    assert_no_token(&out);
}

/// RestoreSecret refused (the secret is being purged), then CreateSecret refused for another
/// reason: the row's failure names both answers, since the first may be the cause.
#[test]
fn a_create_failing_after_a_refused_restore_keeps_the_restore_answer() {
    let (emu, dev, cfg, _) = converged_then_purging(60_000);
    emu.post(
        "/_ptc/faults",
        json!({"rules": [{"service": "secretsmanager", "action": "CreateSecret",
            "kind": "limit_exceeded"}]}),
    );
    let (out, rows) = emu.with_report(&cfg, &["apply", "--yes"]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    let row = rows
        .iter()
        .find(|r| r["account_id"] == dev && r["region"] == "us-east-1")
        .unwrap();
    let failure = &row["failure"];
    assert!(
        failure.contains("secretsmanager:CreateSecret: LimitExceededException")
            && failure.contains(
                "(after secretsmanager:RestoreSecret: InvalidRequestException: You can't perform this operation on the secret because it was deleted.)"
            ),
        "{row:?}"
    );
    assert_eq!(emu.calls_of("RestoreSecret").len(), 1);
    assert_no_token(&out);
    emu.post("/_ptc/faults", json!({"rules": []}));
    emu.post("/_ptc/force_delete_delay", json!({"ms": 0}));
}
