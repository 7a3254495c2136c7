//! ECR-to-ECR: `apply` reads each target account's role (IAM GetRole) before a rule names it,
//! and refuses the rule where it is missing, naming it; `iam-policy` prints the role and the
//! central registry's statement for the Organization.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::support::upstreams::{
    central, ecr_url, org_pull_policy, with_upstreams, CENTRAL_PULL_ACTIONS, PTC_SERVICE, TARGETS,
};
use crate::support::{read_report, run, Emulator, Run, MANAGEMENT};

const ROLE: &str = "ecr-ptc";
/// Not a target Region: no target is the central registry itself.
const CENTRAL_REGION: &str = "eu-west-1";

fn rollout(emu: &Emulator) -> std::path::PathBuf {
    let entry = central("central", &ecr_url(MANAGEMENT, CENTRAL_REGION), ROLE);
    let targets = TARGETS.replace("[\"us-east-1\", \"eu-west-1\"]", "[\"us-east-1\"]");
    emu.rollout("central.toml", &with_upstreams(&targets, &[&entry]))
}

fn apply(emu: &Emulator, cfg: &Path) -> (Run, HashMap<String, HashMap<String, String>>) {
    let report = emu.path("apply.csv");
    let _ = std::fs::remove_file(&report);
    let out = run(emu
        .cmd()
        .args(["apply", "--yes", "--report"])
        .arg(&report)
        .arg("--config")
        .arg(cfg));
    let rows = read_report(&report)
        .into_iter()
        .map(|r| (r["account_id"].clone(), r))
        .collect();
    (out, rows)
}

#[test]
fn a_missing_role_is_a_conflict_naming_it_and_the_rest_are_created() {
    let (emu, org) = Emulator::with_org();
    emu.publish_central_image(MANAGEMENT, CENTRAL_REGION, "base", "1.0");
    let org_id = emu.organization_id();
    emu.put_registry_policy(
        MANAGEMENT,
        CENTRAL_REGION,
        &org_pull_policy(MANAGEMENT, CENTRAL_REGION, &org_id),
    );
    let dev = org.id("dev");
    let active = org.active();
    for account in active.iter().filter(|a| **a != dev) {
        emu.create_role(account, ROLE, Some(PTC_SERVICE));
    }
    let cfg = rollout(&emu);

    // The role is missing in dev: that target is a conflict, nothing written there.
    let (out, rows) = apply(&emu, &cfg);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let row = &rows[&dev];
    assert_eq!(row["outcome"], "conflict", "{row:?}");
    for needle in [
        format!("\"{ROLE}\""),
        format!("account {dev}"),
        "ptc-rollout iam-policy".to_owned(),
    ] {
        assert!(row["failure"].contains(&needle), "{needle}: {row:?}");
    }
    for account in active.iter().filter(|a| **a != dev) {
        let row = &rows[account];
        assert_eq!(row["outcome"], "created", "{account}: {row:?}");
        assert_eq!(row["is_valid"], "true", "{account}: {row:?}");
    }
    let rules = emu.rules();
    assert!(
        !rules.iter().any(|r| r["account"] == dev.as_str()),
        "no rule in dev: {rules:?}"
    );
    // One GetRole per target.
    assert_eq!(emu.calls_of("GetRole").len(), active.len());

    // The role created: the rule follows.
    emu.create_role(&dev, ROLE, Some(PTC_SERVICE));
    let (out, rows) = apply(&emu, &cfg);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(rows[&dev]["outcome"], "created", "{:?}", rows[&dev]);
    for account in active.iter().filter(|a| **a != dev) {
        assert_eq!(rows[account]["outcome"], "unchanged", "{:?}", rows[account]);
    }
    assert!(
        emu.rules().iter().any(|r| r["account"] == dev.as_str()),
        "dev's rule"
    );
    // The rule names dev's own role (ECR takes only a role of the rule's account).
    let role_arn = format!("arn:aws:iam::{dev}:role/{ROLE}");
    assert_eq!(rows[&dev]["credential_arn"], role_arn, "{:?}", rows[&dev]);

    let validated = run(emu.cmd().args(["validate", "--config"]).arg(&cfg));
    assert_eq!(
        validated.code, 0,
        "{}\n{}",
        validated.stdout, validated.stderr
    );

    // Converged: the role is read again, nothing is written.
    emu.reset_calls();
    let (out, rows) = apply(&emu, &cfg);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        rows.values().all(|r| r["outcome"] == "unchanged"),
        "{rows:?}"
    );
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );
    assert_eq!(emu.calls_of("GetRole").len(), active.len());
}

#[test]
fn plan_names_the_missing_role_and_writes_nothing() {
    let (emu, org) = Emulator::with_org();
    let cfg = rollout(&emu);
    emu.reset_calls();
    let plan = run(emu
        .cmd()
        .args(["plan", "--detailed-exitcode", "--config"])
        .arg(&cfg));
    assert_ne!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    let text = format!("{}{}", plan.stdout, plan.stderr);
    assert!(
        text.contains(&format!("account {}", org.id("dev"))) && text.contains(ROLE),
        "{text}"
    );
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );
}

#[test]
fn iam_policy_prints_the_role_and_the_central_statement() {
    let emu = Emulator::start();
    let cfg = rollout(&emu);
    let out = run(emu
        .cmd()
        .args(["iam-policy", "--org-id", "o-abcdef1234", "--config"])
        .arg(&cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let role = &doc["ecr_upstream_roles"][0];
    assert_eq!(role["role_name"], ROLE);
    let trust = &role["trust_policy"]["Statement"][0];
    assert_eq!(trust["Principal"]["Service"], PTC_SERVICE);
    assert_eq!(trust["Action"], "sts:AssumeRole");
    let actions = role["permissions_policy"]["Statement"][0]["Action"]
        .as_array()
        .unwrap();
    for a in [
        "ecr:BatchImportUpstreamImage",
        "ecr:GetImageCopyStatus",
        "ecr:PutImage",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a}: {actions:?}");
    }
    let central = &doc["central_registry_policies"][0];
    assert_eq!(central["account"], MANAGEMENT);
    let st = &central["registry_policy_statement"];
    assert_eq!(st["Principal"], "*");
    assert_eq!(
        st["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
        "o-abcdef1234"
    );
    assert_eq!(st["Action"], serde_json::json!(CENTRAL_PULL_ACTIONS));
    assert_eq!(
        st["Resource"],
        format!("arn:aws:ecr:{CENTRAL_REGION}:{MANAGEMENT}:repository/*")
    );
    // The member role reads the role before a rule names it.
    let member = doc["member_role_policy"]["Statement"].as_array().unwrap();
    assert!(
        member.iter().any(|s| s["Action"] == "iam:GetRole"
            && s["Resource"] == format!("arn:aws:iam::*:role/{ROLE}")),
        "{member:?}"
    );
    // No secret upstream: no secret statement.
    assert!(
        !out.stdout.contains("secretsmanager:CreateSecret"),
        "{}",
        out.stdout
    );
}

/// The statement `iam-policy` prints, put into the central registry, is what lets the
/// Organization's accounts pull (the emulator evaluates `aws:PrincipalOrgID`).
#[test]
fn the_printed_central_statement_lets_the_organization_pull() {
    let (emu, org) = Emulator::with_org();
    emu.publish_central_image(MANAGEMENT, CENTRAL_REGION, "base", "1.0");
    let org_id = emu.organization_id();
    for account in org.active() {
        emu.create_role(&account, ROLE, Some(PTC_SERVICE));
    }
    let cfg = rollout(&emu);
    let printed = run(emu
        .cmd()
        .args(["iam-policy", "--org-id", &org_id, "--config"])
        .arg(&cfg));
    assert_eq!(printed.code, 0, "{}", printed.stderr);
    let doc: Value = serde_json::from_str(&printed.stdout).unwrap();
    let statement = doc["central_registry_policies"][0]["registry_policy_statement"].clone();
    emu.put_registry_policy(
        MANAGEMENT,
        CENTRAL_REGION,
        &serde_json::json!({"Version": "2012-10-17", "Statement": [statement]}),
    );
    let (out, rows) = apply(&emu, &cfg);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(rows.values().all(|r| r["is_valid"] == "true"), "{rows:?}");
}

/// docs/iam.md's ECR-to-ECR examples are what `iam-policy` prints for plans/org.toml.
#[test]
fn docs_show_what_iam_policy_prints_for_the_org_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = run(
        std::process::Command::new(env!("CARGO_BIN_EXE_ptc-rollout"))
            .args(["iam-policy", "--config"])
            .arg(root.join("plans/org.toml")),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let page = std::fs::read_to_string(root.join("docs/iam.md")).unwrap();
    let (_, section) = page
        .split_once("## A central ECR registry as an upstream (ECR to ECR)")
        .expect("the ECR to ECR section");
    let blocks: Vec<Value> = section
        .split("```json\n")
        .skip(1)
        .map(|b| serde_json::from_str(b.split_once("```").unwrap().0).unwrap())
        .collect();
    let role = &doc["ecr_upstream_roles"][0];
    assert_eq!(blocks[0]["trust_policy"], role["trust_policy"]);
    assert_eq!(blocks[0]["permissions_policy"], role["permissions_policy"]);
    assert_eq!(
        blocks[1],
        doc["central_registry_policies"][0]["registry_policy_statement"]
    );
}
