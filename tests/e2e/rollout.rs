//! End to end: the built binary against the emulator, checked the way a user would check a
//! rollout: the emulator's final state, the report, the exit code and what was printed.

use crate::support;
use serde_json::json;
use support::{read_report, rollout_text, run, Emulator, MANAGEMENT, TOKEN};

const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];

fn apply(emu: &Emulator, config: &std::path::Path, report: &str) -> support::Run {
    run(emu
        .cmd()
        .args(["apply", "--yes", "--config"])
        .arg(config)
        .arg("--report")
        .arg(emu.path(report)))
}

#[test]
fn plan_reads_only_and_says_what_apply_would_do() {
    let (emu, org) = Emulator::with_org();
    let config = emu.rollout("r.toml", &rollout_text(""));
    let out = run(emu
        .cmd()
        .args(["plan", "--detailed-exitcode", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(emu.path("plan.json")));
    assert_eq!(out.code, 3, "changes pending: {}", out.stderr);
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    assert!(emu.secrets().is_empty() && emu.rules().is_empty());
    // 4 active accounts (management included) x 2 Regions, each to get a secret and a rule.
    assert!(
        out.stdout.contains("Plan: 8 targets to change"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("8 secrets to create"), "{}", out.stdout);
    assert!(
        !out.stdout.contains(&org.id("legacy")),
        "suspended account is not a target"
    );
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(emu.path("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["targets"].as_array().unwrap().len(), 8);
    assert_eq!(
        plan["targets"][0]["decision"]["actions"],
        json!(["create_secret", "create_rule"])
    );
}

#[test]
fn apply_converges_every_active_target_and_a_rerun_changes_nothing() {
    let (emu, org) = Emulator::with_org();
    let config = emu.rollout("r.toml", &rollout_text(""));
    let out = apply(&emu, &config, "report.csv");
    assert_eq!(out.code, 0, "{}", out.stderr);

    let active = org.active();
    assert_eq!(active.len(), 4);
    assert!(active.contains(&MANAGEMENT.to_owned()));
    let secrets = emu.secrets();
    let rules = emu.rules();
    assert_eq!(secrets.len(), 8, "one secret per target");
    assert_eq!(rules.len(), 8, "one rule per target");
    for account in &active {
        for region in REGIONS {
            let s = secrets
                .iter()
                .find(|s| s["account"] == *account && s["region"] == region)
                .expect("secret");
            assert_eq!(s["name"], "ecr-pullthroughcache/gitlab");
            let value: serde_json::Value =
                serde_json::from_str(s["value"].as_str().unwrap()).unwrap();
            assert_eq!(value, json!({"username": "ptc-bot", "accessToken": TOKEN}));
            assert_eq!(s["tags"]["managed-by"], "ptc-rollout");
            assert_eq!(s["tags"]["team"], "platform");
            let r = rules
                .iter()
                .find(|r| r["account"] == *account && r["region"] == region)
                .expect("rule");
            assert_eq!(r["ecrRepositoryPrefix"], "gitlab");
            assert_eq!(r["upstreamRegistry"], "gitlab-container-registry");
            assert_eq!(r["upstreamRegistryUrl"], "registry.gitlab.com");
            assert_eq!(
                r["credentialArn"], s["arn"],
                "rule uses the secret's full ARN"
            );
        }
    }
    // The management account is reached with the caller's own credentials; each member with
    // exactly one AssumeRole, shared by its Regions.
    let assumes: Vec<_> = emu
        .calls()
        .into_iter()
        .filter(|c| c["action"] == "AssumeRole")
        .collect();
    assert_eq!(assumes.len(), 3, "{assumes:?}");

    let rows = read_report(&emu.path("report.csv"));
    assert_eq!(rows.len(), 8);
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["account_id"].clone(), r["region"].clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "sorted by account then Region");
    for r in &rows {
        assert_eq!(r["is_valid"], "true", "{r:?}");
        assert_eq!(r["failure"], "");
        assert_eq!(r["outcome"], "created");
        assert_eq!(r["upstream_registry_url"], "registry.gitlab.com");
        assert!(
            r["credential_arn"].starts_with("arn:aws:secretsmanager:"),
            "{r:?}"
        );
    }
    // A hostile account name is neutralised against spreadsheet formulas.
    assert!(rows
        .iter()
        .any(|r| r["account_name"] == "'=HYPERLINK(\"http://x\")"));

    emu.reset_calls();
    let again = apply(&emu, &config, "report2.csv");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        emu.mutating_calls(),
        Vec::<String>::new(),
        "a converged Organization gets no mutating call"
    );
    assert_eq!(emu.secrets().len(), 8);
    assert!(read_report(&emu.path("report2.csv"))
        .iter()
        .all(|r| r["outcome"] == "unchanged" && r["is_valid"] == "true"));
}

#[test]
fn validate_flags_a_secret_broken_behind_the_tools_back() {
    let (emu, org) = Emulator::with_org();
    let config = emu.rollout("r.toml", &rollout_text(""));
    assert_eq!(apply(&emu, &config, "a.csv").code, 0);
    let prod = org.id("prod");
    emu.mutate(json!({"op": "put_secret_value", "account": prod, "region": "eu-west-1",
        "name": "ecr-pullthroughcache/gitlab", "value": {"username": "ptc-bot", "accessToken": "revoked"}}));
    emu.reset_calls();
    let out = run(emu
        .cmd()
        .args(["validate", "--config"])
        .arg(&config)
        .arg("--report")
        .arg(emu.path("v.csv")));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        emu.mutating_calls(),
        Vec::<String>::new(),
        "validate is read-only"
    );
    let rows = read_report(&emu.path("v.csv"));
    assert_eq!(rows.len(), 8);
    for r in rows {
        let broken = r["account_id"] == prod && r["region"] == "eu-west-1";
        assert_eq!(
            r["is_valid"],
            if broken { "false" } else { "true" },
            "{r:?}"
        );
        assert_eq!(r["failure"].is_empty(), !broken, "{r:?}");
    }
    assert!(
        out.stderr.contains(&prod),
        "the failure is printed: {}",
        out.stderr
    );
}

const SECRET: &str = "ecr-pullthroughcache/gitlab";

/// Converges the standard Organization, so a test can then break one target.
fn converged() -> (Emulator, support::Org, std::path::PathBuf) {
    let (emu, org) = Emulator::with_org();
    let config = emu.rollout("r.toml", &rollout_text(""));
    assert_eq!(apply(&emu, &config, "first.csv").code, 0);
    (emu, org, config)
}

fn row(
    rows: &[std::collections::HashMap<String, String>],
    account: &str,
    region: &str,
) -> std::collections::HashMap<String, String> {
    rows.iter()
        .find(|x| x["account_id"] == account && x["region"] == region)
        .unwrap()
        .clone()
}

#[test]
fn a_rule_pointing_at_another_secret_gets_its_credential_updated() {
    let (emu, org, config) = converged();
    let dev = org.id("dev");
    emu.rule_over_other_secret(
        &dev,
        "ecr-pullthroughcache/other",
        json!({"username": "x", "accessToken": TOKEN}),
    );
    // Another secret's rule is taken over only when asked (see
    // another_teams_gitlab_rule_is_a_conflict_until_adopted).
    let plan = run(emu
        .cmd()
        .args(["plan", "--adopt-rules", "--config"])
        .arg(&config));
    assert!(
        plan.stdout.contains("adopt rule of another secret")
            && plan.stdout.contains("1 rules of other secrets to adopt"),
        "{}",
        plan.stdout
    );
    emu.reset_calls();
    let adopted = run(emu
        .cmd()
        .args(["apply", "--yes", "--adopt-rules", "--config"])
        .arg(&config)
        .arg("--report")
        .arg(emu.path("edge.csv")));
    assert_eq!(adopted.code, 0, "{}", adopted.stderr);
    assert_eq!(emu.mutating_calls(), ["UpdatePullThroughCacheRule"]);
    let d = row(&read_report(&emu.path("edge.csv")), &dev, "us-east-1");
    assert_eq!(
        (
            d["outcome"].as_str(),
            d["actions"].as_str(),
            d["is_valid"].as_str()
        ),
        ("updated", "adopt rule of another secret", "true")
    );
    let ours = emu
        .secrets()
        .into_iter()
        .find(|s| s["account"] == dev && s["region"] == "us-east-1" && s["name"] == SECRET)
        .unwrap();
    let rule = emu
        .rules()
        .into_iter()
        .find(|r| r["account"] == dev && r["region"] == "us-east-1")
        .unwrap();
    assert_eq!(rule["credentialArn"], ours["arn"]);
}

#[test]
fn a_secret_scheduled_for_deletion_is_restored() {
    let (emu, org, config) = converged();
    let prod = org.id("prod");
    emu.mutate(
        json!({"op": "delete_secret", "account": prod, "region": "eu-west-1", "name": SECRET}),
    );
    let plan = run(emu.cmd().args(["plan", "--config"]).arg(&config));
    assert!(plan.stdout.contains("restore secret"), "{}", plan.stdout);
    emu.reset_calls();
    assert_eq!(apply(&emu, &config, "edge.csv").code, 0);
    assert_eq!(emu.mutating_calls(), ["RestoreSecret", "PutSecretValue"]);
    let p = row(&read_report(&emu.path("edge.csv")), &prod, "eu-west-1");
    assert_eq!(
        (
            p["outcome"].as_str(),
            p["actions"].as_str(),
            p["is_valid"].as_str()
        ),
        ("updated", "restore secret", "true")
    );
    assert!(emu.secrets().iter().all(|s| s["deleted"] == false));
}

#[test]
fn a_prefix_held_by_another_upstream_is_a_conflict_and_left_untouched() {
    let (emu, org, config) = converged();
    let sandbox = org.id("=HYPERLINK(\"http://x\")");
    emu.mutate(
        json!({"op": "delete_rule", "account": sandbox, "region": "us-east-1", "prefix": "gitlab"}),
    );
    emu.mutate(
        json!({"op": "create_rule", "account": sandbox, "region": "us-east-1", "prefix": "gitlab",
        "upstream_registry": "ecr-public", "upstream_url": "public.ecr.aws"}),
    );
    let plan = run(emu.cmd().args(["plan", "--config"]).arg(&config));
    assert!(plan.stdout.contains("conflict"), "{}", plan.stdout);
    emu.reset_calls();
    let out = apply(&emu, &config, "edge.csv");
    assert_eq!(out.code, 1, "a conflict makes the run unsuccessful");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    let s = row(&read_report(&emu.path("edge.csv")), &sandbox, "us-east-1");
    // Nothing was validated there: is_valid says so by being empty.
    assert_eq!(
        (s["outcome"].as_str(), s["is_valid"].as_str()),
        ("conflict", "")
    );
    assert!(s["failure"].contains("public.ecr.aws"), "{s:?}");
    let rule = emu
        .rules()
        .into_iter()
        .find(|r| r["account"] == sandbox && r["region"] == "us-east-1")
        .unwrap();
    assert_eq!(rule["upstreamRegistryUrl"], "public.ecr.aws");
}

/// A GitLab rule for the prefix whose secret is not the rollout's is another team's: a conflict
/// naming that secret, never repointed or deleted unless `--adopt-rules` (recorded in a saved
/// plan) takes it over.
#[test]
fn another_teams_gitlab_rule_is_a_conflict_until_adopted() {
    let (emu, org, config) = converged();
    let sandbox = org.id("=HYPERLINK(\"http://x\")");
    let theirs = emu.rule_over_other_secret(
        &sandbox,
        "ecr-pullthroughcache/team-b",
        json!({"username": "b", "accessToken": TOKEN}),
    );
    let their_rule = |emu: &Emulator| {
        emu.rules()
            .into_iter()
            .find(|r| r["account"] == sandbox && r["region"] == "us-east-1")
            .map(|r| r["credentialArn"].clone())
    };
    let plan = run(emu.cmd().args(["plan", "--config"]).arg(&config));
    assert!(
        plan.stdout.contains("conflict") && plan.stdout.contains("ecr-pullthroughcache/team-b"),
        "{}",
        plan.stdout
    );
    emu.reset_calls();
    let out = apply(&emu, &config, "theirs.csv");
    assert_eq!(out.code, 1, "a conflict makes the run unsuccessful");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    let s = row(&read_report(&emu.path("theirs.csv")), &sandbox, "us-east-1");
    assert_eq!(s["outcome"], "conflict");
    assert!(
        s["failure"].contains("ecr-pullthroughcache/team-b"),
        "{s:?}"
    );
    // destroy removes only what uses ptc-rollout's secret.
    let out = run(emu
        .cmd()
        .args(["destroy", "--yes", "--config"])
        .arg(&config));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(their_rule(&emu), Some(json!(theirs)));
    // Adopted in a saved plan, carried out by an apply of that plan without the flag.
    let saved = emu.path("adopt.json");
    let plan = run(emu
        .cmd()
        .args(["plan", "--adopt-rules", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&saved));
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    emu.reset_calls();
    let out = run(emu
        .cmd()
        .args(["apply", "--yes", "--config"])
        .arg(&config)
        .arg("--plan")
        .arg(&saved));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let updates: Vec<_> = emu
        .calls()
        .into_iter()
        .filter(|c| c["action"] == "UpdatePullThroughCacheRule")
        .collect();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["account"], sandbox.as_str());
    let ours = emu
        .secrets()
        .into_iter()
        .find(|x| {
            x["account"] == sandbox
                && x["region"] == "us-east-1"
                && x["name"] == "ecr-pullthroughcache/gitlab"
        })
        .unwrap()["arn"]
        .clone();
    assert_eq!(their_rule(&emu), Some(ours));
    emu.assert_converged(&config);
}

#[test]
fn an_unmanaged_secret_is_used_and_never_overwritten() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    emu.mutate(json!({"op": "create_secret", "account": dev, "region": "eu-west-1",
        "name": "ecr-pullthroughcache/gitlab", "value": {"username": "theirs", "accessToken": TOKEN}}));
    let config = emu.rollout("r.toml", &rollout_text(&format!("accounts = [\"{dev}\"]")));
    let plan = run(emu.cmd().args(["plan", "--config"]).arg(&config));
    assert!(plan.stdout.contains("unmanaged secret"), "{}", plan.stdout);
    assert_eq!(apply(&emu, &config, "r.csv").code, 0);
    let s = emu
        .secrets()
        .into_iter()
        .find(|s| s["account"] == dev && s["region"] == "eu-west-1")
        .unwrap();
    assert!(
        s["value"].as_str().unwrap().contains("theirs"),
        "value left alone"
    );
    let rows = read_report(&emu.path("r.csv"));
    let row = rows.iter().find(|r| r["region"] == "eu-west-1").unwrap();
    assert_eq!(
        (row["secret_managed"].as_str(), row["actions"].as_str()),
        ("false", "create rule")
    );
}

#[test]
fn a_saved_plan_is_applied_and_changed_targets_are_refused_as_stale() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    let config = emu.rollout("r.toml", &rollout_text(""));
    let plan_path = emu.path("plan.json");
    assert_eq!(
        run(emu
            .cmd()
            .args(["plan", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(&plan_path))
        .code,
        0
    );
    // Someone creates the secret in dev/us-east-1 after the plan was made.
    emu.mutate(json!({"op": "create_secret", "account": dev, "region": "us-east-1",
        "name": "ecr-pullthroughcache/gitlab", "value": {"username": "ptc-bot", "accessToken": TOKEN}}));
    let out = run(emu
        .cmd()
        .args(["apply", "--yes", "--config"])
        .arg(&config)
        .arg("--plan")
        .arg(&plan_path)
        .arg("--report")
        .arg(emu.path("r.csv")));
    assert_eq!(out.code, 1);
    let rows = read_report(&emu.path("r.csv"));
    let stale: Vec<_> = rows.iter().filter(|r| r["outcome"] == "stale").collect();
    assert_eq!(stale.len(), 1);
    assert_eq!(
        (stale[0]["account_id"].as_str(), stale[0]["region"].as_str()),
        (dev.as_str(), "us-east-1")
    );
    assert_eq!(rows.iter().filter(|r| r["outcome"] == "created").count(), 7);
    assert!(
        !emu.rules()
            .iter()
            .any(|r| r["account"] == dev && r["region"] == "us-east-1"),
        "nothing written there"
    );
}

#[test]
fn accounts_lists_targets_and_skipped_accounts_with_why() {
    let (emu, org) = Emulator::with_org();
    let prod_ou = org.ou("Workloads");
    let config = emu.rollout(
        "r.toml",
        &rollout_text(&format!(
            "organizational_units = [\"{prod_ou}\"]\nexclude_accounts = [\"{}\"]",
            org.id("dev")
        )),
    );
    let out = run(emu
        .cmd()
        .args(["accounts", "--format", "json", "--config"])
        .arg(&config));
    assert_eq!(out.code, 0, "{}", out.stderr);
    support::json_schema::assert_valid("accounts.schema.json", &out.stdout);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let targeted: Vec<_> = doc["targeted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        targeted,
        [org.id("prod")],
        "Workloads subtree (Prod nested), minus the excluded dev"
    );
    let reason = |id: &str| {
        doc["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["account_id"] == id)
            .unwrap()["reason"]
            .clone()
    };
    assert_eq!(reason(&org.id("legacy")), "account state is SUSPENDED");
    assert_eq!(reason(&org.id("dev")), "listed in exclude_accounts");
    assert_eq!(
        reason(MANAGEMENT),
        "outside the organizational_units subtrees"
    );
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
}

#[test]
fn narrowing_flags_select_part_of_the_matrix() {
    let (emu, org) = Emulator::with_org();
    let prod = org.id("prod");
    let config = emu.rollout("r.toml", &rollout_text(""));
    let out = run(emu
        .cmd()
        .args([
            "apply",
            "--yes",
            "--regions",
            "eu-west-1",
            "--accounts",
            &prod,
            "--config",
        ])
        .arg(&config));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let secrets = emu.secrets();
    assert_eq!(secrets.len(), 1);
    assert_eq!(
        (
            secrets[0]["account"].as_str(),
            secrets[0]["region"].as_str()
        ),
        (Some(prod.as_str()), Some("eu-west-1"))
    );
}

#[test]
fn nested_ou_filters_target_each_account_once() {
    let (emu, org) = Emulator::with_org();
    let config = emu.rollout(
        "r.toml",
        &rollout_text(&format!(
            "organizational_units = [\"{}\", \"{}\"]",
            org.ou("Workloads"),
            org.ou("Prod")
        )),
    );
    // The streamed listing (validate), not only the collected one (accounts).
    let (_, rows) = emu.with_report(&config, &["validate"]);
    let mut seen: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["account_id"].clone(), r["region"].clone()))
        .collect();
    seen.sort();
    let before = seen.len();
    seen.dedup();
    assert_eq!(before, seen.len(), "a target twice: {rows:?}");
    assert_eq!(seen.len(), 4, "dev and prod, two Regions each: {rows:?}");
}
