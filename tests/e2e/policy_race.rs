//! The registry policy's read-modify-write against another team's writer (the emulator's
//! `foreign_write` fault): ECR has no conditional write, so `apply` reads the policy again after
//! its write and merges once more when its statement was dropped, and `destroy` deletes the
//! policy only when a read right before the delete still holds its statement alone.

use std::path::{Path, PathBuf};

use crate::support;
use serde_json::{json, Value};
use support::{read_report, rollout_text, run, Emulator, Run};

const PULL_ACCESS: &str = "[pull_access]\nrole_names = [\"consumer\"]\n";
const SID: &str = "PtcRolloutPullThroughCache";
const REGION: &str = "us-east-1";

/// The statement another team's tool writes.
fn theirs() -> Value {
    json!({"Sid": "OtherTeam", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
        "Action": ["ecr:ReplicateImage"], "Resource": "*"})
}

fn config(emu: &Emulator) -> PathBuf {
    emu.rollout("r.toml", &format!("{}\n{PULL_ACCESS}", rollout_text("")))
}

/// The Sids in the target's registry policy; `None` without a policy.
fn sids(emu: &Emulator, account: &str) -> Option<Vec<String>> {
    let text = emu.registry_policy(account, REGION)?;
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut sids: Vec<String> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap_or_default().to_owned())
        .collect();
    sids.sort();
    Some(sids)
}

/// Another team's tool writes right after each matched call (or the first `times`).
fn foreign_write(emu: &Emulator, account: &str, rule: Value) {
    let mut rule = rule;
    let base = json!({"service": "ecr", "account": account, "region": REGION,
        "kind": "foreign_write", "statement": theirs()});
    for (k, v) in base.as_object().unwrap() {
        rule[k] = v.clone();
    }
    emu.post("/_ptc/faults", json!({ "rules": [rule] }));
}

fn calls_in(emu: &Emulator, action: &str, account: &str) -> usize {
    emu.calls_of(action)
        .iter()
        .filter(|c| c["account"] == account && c["region"] == REGION)
        .count()
}

fn cmd(emu: &Emulator, args: &[&str], cfg: &Path) -> Run {
    run(emu.cmd().args(args).arg("--config").arg(cfg))
}

#[test]
fn a_write_that_drops_ours_right_after_apply_is_merged_with_and_both_survive() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    let replication = json!({"Sid": "Replication", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::210987654321:root"}, "Action": ["ecr:CreateRepository"],
        "Resource": "*"});
    emu.mutate(
        json!({"op": "put_registry_policy", "account": dev, "region": REGION,
        "policy_text": json!({"Version": "2012-10-17", "Statement": [replication]}).to_string()}),
    );
    // The other team read the policy before our write and writes its own statement after it.
    foreign_write(
        &emu,
        &dev,
        json!({"action": "PutRegistryPolicy", "read": "before", "times": 1}),
    );
    let cfg = config(&emu);
    let applied = cmd(&emu, &["apply", "--yes"], &cfg);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert_eq!(
        sids(&emu, &dev),
        Some(vec!["OtherTeam".into(), SID.into(), "Replication".into()])
    );
    assert_eq!(calls_in(&emu, "PutRegistryPolicy", &dev), 2);
    assert!(emu.calls().iter().any(|c| c["fault"] == "foreign_write"));

    // Converged: nothing left to do, nothing written.
    emu.assert_converged(&cfg);
}

#[test]
fn a_policy_rewritten_after_each_write_fails_the_target_saying_so() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    foreign_write(
        &emu,
        &dev,
        json!({"action": "PutRegistryPolicy", "read": "before"}),
    );
    let cfg = config(&emu);
    let report = emu.path("apply.csv");
    let applied = run(emu
        .cmd()
        .args(["apply", "--yes", "--config"])
        .arg(&cfg)
        .arg("--report")
        .arg(&report));
    assert_eq!(applied.code, 1, "{}", applied.stderr);
    let rows = read_report(&report);
    let failed: Vec<_> = rows.iter().filter(|r| r["outcome"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{rows:?}");
    assert_eq!(
        (
            failed[0]["account_id"].as_str(),
            failed[0]["region"].as_str()
        ),
        (dev.as_str(), REGION)
    );
    assert!(
        failed[0]["failure"].contains("ecr:PutRegistryPolicy")
            && failed[0]["failure"].contains("no conditional write"),
        "{:?}",
        failed[0]
    );
    assert_eq!(calls_in(&emu, "PutRegistryPolicy", &dev), 2, "one retry");
    assert_eq!(sids(&emu, &dev), Some(vec!["OtherTeam".into()]));
}

#[test]
fn destroy_keeps_a_statement_added_just_before_its_delete() {
    let (emu, org) = Emulator::with_org();
    let (dev, prod) = (org.id("dev"), org.id("prod"));
    let cfg = config(&emu);
    assert_eq!(cmd(&emu, &["apply", "--yes"], &cfg).code, 0);
    assert_eq!(sids(&emu, &dev), Some(vec![SID.into()]));
    // The other team adds its statement right after destroy's own read of the policy (the
    // plan's read, the first, passes).
    foreign_write(
        &emu,
        &dev,
        json!({"action": "GetRegistryPolicy", "skip": 1, "times": 1}),
    );
    emu.reset_calls();
    let destroyed = cmd(&emu, &["destroy", "--yes"], &cfg);
    assert_eq!(destroyed.code, 0, "{}", destroyed.stderr);
    assert!(emu.calls().iter().any(|c| c["fault"] == "foreign_write"));
    assert_eq!(sids(&emu, &dev), Some(vec!["OtherTeam".into()]));
    assert_eq!(calls_in(&emu, "DeleteRegistryPolicy", &dev), 0);
    // Elsewhere ours was the last statement: the policy is gone.
    assert_eq!(sids(&emu, &prod), None);
    assert_eq!(calls_in(&emu, "DeleteRegistryPolicy", &prod), 1);
}
