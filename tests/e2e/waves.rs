//! Rolling out in waves (`[[waves]]`), against the emulator's Organization (Workloads/Prod,
//! Sandbox): the sandbox wave first, then the rest. What a user checks: the order of the calls
//! AWS saw, the report's `wave` column, a failed wave stopping the next, `--wave NAME`, `plan`
//! grouped by wave and `apply --plan` keeping the plan's waves, `rotate` in waves. The bad input
//! is in waves/refusals.rs.

mod refusals;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::support;
use serde_json::{json, Value};
use support::{read_report, rollout_text, run, Emulator, Org, Run, MANAGEMENT, TOKEN};

const WRITES: &[&str] = &[
    "CreateSecret",
    "PutSecretValue",
    "CreatePullThroughCacheRule",
    "UpdatePullThroughCacheRule",
];

/// Sandbox first, then every other target.
fn config(emu: &Emulator, org: &Org) -> PathBuf {
    let waves = format!(
        "\n[[waves]]\nname = \"sandbox\"\norganizational_units = [\"{}\"]\n\n[[waves]]\nname = \"rest\"\n",
        org.ou("Sandbox")
    );
    emu.rollout("waves.toml", &format!("{}{waves}", rollout_text("")))
}

/// The sandbox wave's one account (the one under the Sandbox OU).
fn sandbox(org: &Org) -> String {
    org.id("=HYPERLINK(\"http://x\")")
}

fn apply(emu: &Emulator, cfg: &Path, extra: &[&str]) -> (Run, Vec<HashMap<String, String>>) {
    let mut args = vec!["apply", "--yes"];
    args.extend(extra);
    emu.with_report(cfg, &args)
}

fn account(call: &Value) -> &str {
    call["account"].as_str().unwrap_or_default()
}

/// Asserts that every write outside `first` came after every validation in `first`.
fn assert_first_wave_validated_before_writes_elsewhere(emu: &Emulator, first: &str, write: &str) {
    let calls = emu.calls();
    let last_validation = calls
        .iter()
        .rposition(|c| c["action"] == "ValidatePullThroughCacheRule" && account(c) == first)
        .expect("the first wave was validated");
    let first_write = calls
        .iter()
        .position(|c| c["action"] == write && account(c) != first)
        .expect("the second wave was written");
    assert!(
        last_validation < first_write,
        "call {first_write} ({write} in {}) came before call {last_validation} (the first wave's last validation)",
        account(&calls[first_write])
    );
}

#[test]
fn apply_converges_the_sandbox_wave_before_the_rest() {
    let (emu, org) = Emulator::with_org();
    let (out, rows) = apply(&emu, &config(&emu, &org), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(rows.len(), 8);
    assert!(rows
        .iter()
        .all(|r| r["outcome"] == "created" && r["is_valid"] == "true"));
    assert_first_wave_validated_before_writes_elsewhere(&emu, &sandbox(&org), "CreateSecret");
    for r in &rows {
        let wave = if r["account_id"] == sandbox(&org) {
            "sandbox"
        } else {
            "rest"
        };
        assert_eq!(r["wave"], wave, "{r:?}");
    }
    assert!(
        out.stderr.contains("wave \"sandbox\" (1 of 2): 2 targets")
            && out.stderr.contains("wave \"rest\" (2 of 2): 6 targets"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_failure_in_the_first_wave_stops_the_second_unless_tolerated() {
    let (emu, org) = Emulator::with_org();
    let sandbox = sandbox(&org);
    emu.post(
        "/_ptc/faults",
        json!({"rules": [{"service": "ecr", "action": "CreatePullThroughCacheRule",
            "account": sandbox, "region": "eu-west-1", "kind": "limit_exceeded"}]}),
    );
    let cfg = config(&emu, &org);
    let (out, rows) = apply(&emu, &cfg, &["--no-canary"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(rows.len(), 8, "every target is reported");
    let rest: Vec<_> = rows.iter().filter(|r| r["account_id"] != sandbox).collect();
    assert_eq!(rest.len(), 6);
    for r in &rest {
        assert_eq!(r["outcome"], "not attempted", "{r:?}");
        assert_eq!(
            r["failure"],
            "not attempted: wave \"rest\" not started because wave \"sandbox\" has 1 failed target"
        );
        assert_eq!(r["wave"], "rest");
    }
    assert!(
        emu.calls()
            .iter()
            .all(|c| account(c) == sandbox || !WRITES.contains(&c["action"].as_str().unwrap())),
        "nothing was written outside the sandbox wave"
    );
    assert!(
        out.stderr.contains(
            "stopped: wave \"sandbox\" has 1 failed target; the later waves were not started"
        ),
        "{}",
        out.stderr
    );

    // Within --max-failures (counted per wave), the next wave starts.
    let (out, rows) = apply(&emu, &cfg, &["--no-canary", "--max-failures", "1"]);
    assert_eq!(
        out.code, 1,
        "the sandbox target still fails: {}",
        out.stderr
    );
    let failed: Vec<_> = rows.iter().filter(|r| r["outcome"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{rows:?}");
    assert!(rows
        .iter()
        .filter(|r| r["account_id"] != sandbox)
        .all(|r| r["outcome"] == "created" && r["is_valid"] == "true"));
}

#[test]
fn wave_runs_one_wave_only() {
    let (emu, org) = Emulator::with_org();
    let cfg = config(&emu, &org);
    let (out, rows) = apply(&emu, &cfg, &["--wave", "sandbox"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r["account_id"] == sandbox(&org)));
    let secrets = emu.secrets();
    assert_eq!(secrets.len(), 2);
    assert!(secrets.iter().all(|s| s["account"] == sandbox(&org)));

    let (out, rows) = apply(&emu, &cfg, &["--wave", "rest"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(rows.len(), 6);
    assert!(rows
        .iter()
        .all(|r| r["wave"] == "rest" && r["outcome"] == "created"));
    assert_eq!(emu.secrets().len(), 8);
}

#[test]
fn plan_groups_by_wave_and_apply_plan_keeps_the_waves() {
    let (emu, org) = Emulator::with_org();
    let cfg = config(&emu, &org);
    let plan = emu.path("plan.json");
    let out = run(emu
        .cmd()
        .args(["plan", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&plan));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = &out.stdout;
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s:?} in\n{text}"));
    let (first, second) = (
        at("Wave 1 of 2: sandbox (2 targets)"),
        at("Wave 2 of 2: rest (6 targets)"),
    );
    assert!(
        first < at(&sandbox(&org)) && at(&sandbox(&org)) < second,
        "{text}"
    );
    assert!(second < at(MANAGEMENT), "{text}");
    assert!(
        text.contains("Wave sandbox: 2 to change, 0 unchanged"),
        "{text}"
    );
    assert!(
        text.contains("Wave rest: 6 to change, 0 unchanged"),
        "{text}"
    );
    assert!(text.contains("Plan: 8 targets to change"), "{text}");
    assert!(emu.mutating_calls().is_empty());

    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(saved["waves"][0]["name"], "sandbox");
    assert_eq!(saved["waves"][0]["accounts"], json!([sandbox(&org)]));
    assert_eq!(saved["waves"][1]["accounts"].as_array().unwrap().len(), 3);

    emu.reset_calls();
    let (out, rows) = emu.with_report(&cfg, &["apply", "--yes", "--plan", plan.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(rows.len(), 8);
    assert_first_wave_validated_before_writes_elsewhere(&emu, &sandbox(&org), "CreateSecret");
}

#[test]
fn rotate_goes_wave_by_wave() {
    let (emu, org) = Emulator::with_org();
    let cfg = config(&emu, &org);
    assert_eq!(apply(&emu, &cfg, &[]).0.code, 0);
    let new = "test-new-token-9876543210";
    emu.set_valid_tokens(&[TOKEN, new]);
    emu.reset_calls();
    let report = emu.path("rotate.csv");
    let out = run(emu
        .cmd()
        .args(["rotate", "--yes", "--config"])
        .arg(&cfg)
        .arg("--report")
        .arg(&report)
        .env("GITLAB_REGISTRY_TOKEN", new));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_first_wave_validated_before_writes_elsewhere(&emu, &sandbox(&org), "PutSecretValue");
    let rows = read_report(&report);
    assert_eq!(rows.len(), 8);
    assert!(rows
        .iter()
        .all(|r| r["is_valid"] == "true" && !r["wave"].is_empty()));
    assert!(emu
        .secrets()
        .iter()
        .all(|s| s["value"].as_str().unwrap().contains(new)));
}

#[test]
fn accounts_shows_each_accounts_wave() {
    let (emu, org) = Emulator::with_org();
    let out = run(emu
        .cmd()
        .args(["accounts", "--format", "json", "--config"])
        .arg(config(&emu, &org)));
    assert_eq!(out.code, 0, "{}", out.stderr);
    support::json_schema::assert_valid("accounts.schema.json", &out.stdout);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    for a in doc["targeted"].as_array().unwrap() {
        let wave = if a["account_id"] == sandbox(&org).as_str() {
            "sandbox"
        } else {
            "rest"
        };
        assert_eq!(a["wave"], wave, "{a}");
    }
}

#[test]
fn the_canary_is_in_the_first_wave_and_its_failure_stops_every_later_wave() {
    let (emu, org) = Emulator::with_org();
    emu.set_valid_tokens(&["test-other-valid-token"]);
    let (out, rows) = apply(&emu, &config(&emu, &org), &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let secrets = emu.secrets();
    assert_eq!(secrets.len(), 1, "only the canary target was written");
    assert_eq!(
        secrets[0]["account"],
        sandbox(&org),
        "the canary is in the first wave"
    );
    assert!(rows
        .iter()
        .filter(|r| r["wave"] == "rest")
        .all(|r| r["outcome"] == "not attempted"
            && r["failure"].starts_with("not attempted: wave \"rest\" not started because wave \"sandbox\" has 2 failed targets")));
    assert!(
        out.stderr.contains("stopped: the canary target"),
        "{}",
        out.stderr
    );
}
