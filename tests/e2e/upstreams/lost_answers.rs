//! The rule and policy writes of upstreams without a secret, each applied by AWS with its answer
//! lost (a 502 after the write): the retry or the next run finds the truth by reading, and a
//! converged rollout makes no write.

use serde_json::{json, Value};

use crate::support::upstreams::{
    central, ecr_url, org_pull_policy, with_upstreams, ECR_PUBLIC, GITLAB, PTC_SERVICE, TARGETS,
};
use crate::support::{read_report, run, Emulator, MANAGEMENT};

/// Every `action` of ECR answers 502 after being carried out, `times` times.
fn lose_answers(emu: &Emulator, action: &str, times: u32) {
    let rules =
        json!([{"service": "ecr", "action": action, "kind": "apply_then_http502", "times": times}]);
    emu.post("/_ptc/faults", json!({ "rules": rules }));
}

fn lost(emu: &Emulator, action: &str) -> usize {
    let calls: Vec<Value> = emu.calls_of(action);
    calls
        .iter()
        .filter(|c| c["fault"] == "apply_then_http502")
        .count()
}

/// ECR Public and a central ECR (with a namespace) in eu-west-1, the central registry in
/// us-east-1: every target is downstream.
fn ecr_public_and_central(emu: &Emulator, org: &crate::support::Org) -> std::path::PathBuf {
    for account in org.active() {
        emu.create_role(&account, "ecr-ptc", Some(PTC_SERVICE));
    }
    let policy = org_pull_policy(MANAGEMENT, "us-east-1", &emu.organization_id());
    emu.put_registry_policy(MANAGEMENT, "us-east-1", &policy);
    let targets = TARGETS.replace("[\"us-east-1\", \"eu-west-1\"]", "[\"eu-west-1\"]");
    let golden = central("golden", &ecr_url(MANAGEMENT, "us-east-1"), "ecr-ptc")
        + "upstream_repository_prefix = \"images\"\n";
    emu.rollout(
        "lost.toml",
        &with_upstreams(&targets, &[ECR_PUBLIC, &golden]),
    )
}

#[test]
fn a_rule_created_without_a_secret_whose_answer_was_lost_is_found_and_kept() {
    let (emu, org) = Emulator::with_org();
    let cfg = ecr_public_and_central(&emu, &org);
    lose_answers(&emu, "CreatePullThroughCacheRule", 3);
    let report = emu.path("apply.csv");
    let out = run(emu
        .cmd()
        .args(["apply", "--yes", "--config"])
        .arg(&cfg)
        .arg("--report")
        .arg(&report));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(lost(&emu, "CreatePullThroughCacheRule"), 3);
    let rows = read_report(&report);
    assert!(
        rows.iter()
            .all(|r| r["outcome"] == "created" && r["is_valid"] == "true"),
        "{rows:#?}"
    );
    assert_eq!(emu.rules().len(), org.active().len() * 2);
    emu.assert_converged(&cfg);
}

#[test]
fn a_role_set_on_a_rule_whose_answer_was_lost_converges() {
    let (emu, org) = Emulator::with_org();
    let cfg = ecr_public_and_central(&emu, &org);
    // A rule of the central registry with no role yet (as one made by hand or by Terraform).
    let dev = org.id("dev");
    emu.mutate(
        json!({"op": "create_rule", "account": dev, "region": "eu-west-1", "prefix": "golden",
        "upstream_registry": "ecr", "upstream_url": ecr_url(MANAGEMENT, "us-east-1"),
        "upstream_repository_prefix": "images"}),
    );
    lose_answers(&emu, "UpdatePullThroughCacheRule", 1);
    let report = emu.path("apply.csv");
    let out = run(emu
        .cmd()
        .args(["apply", "--yes", "--config"])
        .arg(&cfg)
        .arg("--report")
        .arg(&report));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(lost(&emu, "UpdatePullThroughCacheRule"), 1);
    let rows = read_report(&report);
    let row = rows
        .iter()
        .find(|r| r["account_id"] == dev && r["upstream"] == "golden")
        .expect("dev's row");
    assert_eq!(row["outcome"], "updated", "{row:?}");
    assert!(row["credential_arn"].ends_with(":role/ecr-ptc"), "{row:?}");
    // Read again, the rule holds the role: nothing more to write.
    emu.assert_converged(&cfg);
}

#[test]
fn a_statement_for_every_prefix_and_a_secretless_rule_deleted_with_answers_lost_converge() {
    let (emu, org) = Emulator::with_org();
    let access = "\n[pull_access]\nrole_names = [\"eks-node-role\"]\n";
    let cfg = emu.rollout(
        "two.toml",
        &with_upstreams(TARGETS, &[GITLAB, ECR_PUBLIC, access]),
    );
    lose_answers(&emu, "PutRegistryPolicy", 2);
    let applied = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert_eq!(lost(&emu, "PutRegistryPolicy"), 2);
    let dev = org.id("dev");
    let policy = emu.registry_policy(&dev, "us-east-1").unwrap_or_default();
    assert!(
        policy.contains("repository/gitlab/*") && policy.contains("repository/ecr-public/*"),
        "{policy}"
    );
    emu.assert_converged(&cfg);

    lose_answers(&emu, "DeletePullThroughCacheRule", 3);
    let destroyed = run(emu.cmd().args(["destroy", "--yes", "--config"]).arg(&cfg));
    assert_eq!(destroyed.code, 0, "{}", destroyed.stderr);
    assert_eq!(lost(&emu, "DeletePullThroughCacheRule"), 3);
    assert!(emu.rules().is_empty(), "{:?}", emu.rules());
    // Nothing left to remove: a second destroy writes nothing.
    emu.reset_calls();
    let again = run(emu.cmd().args(["destroy", "--yes", "--config"]).arg(&cfg));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );
}
