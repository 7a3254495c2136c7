//! Failure handling, with faults injected at the emulator. This file: what AWS does to single
//! targets (throttling, hung requests, refused roles, the rule cap, an opt-in Region not
//! enabled); faults/limits.rs: what stops a run on purpose (canary, --max-failures, the circuit
//! breaker); faults/interrupts.rs: Ctrl-C. Each test checks the emulator's final state, the
//! report and the exit code.

mod interrupts;
mod limits;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support;
use serde_json::{json, Value};
use support::{read_report, rollout_text, run, Emulator, Org, TOKEN};

/// Quick backoff and a short attempt timeout, so fault tests run in seconds.
const FAST: &str =
    "[tuning]\ninitial_backoff_ms = 50\nmax_backoff_ms = 400\nattempt_timeout_seconds = 2\n";

fn config(emu: &Emulator, extra_targets: &str) -> std::path::PathBuf {
    emu.rollout(
        "r.toml",
        &format!("{}\n{FAST}", rollout_text(extra_targets)),
    )
}

fn faults(emu: &Emulator, rules: Value) {
    emu.post("/_ptc/faults", json!({ "rules": rules }));
}

fn apply(
    emu: &Emulator,
    config: &std::path::Path,
    extra: &[&str],
) -> (support::Run, Vec<HashMap<String, String>>) {
    let report = emu.path("report.csv");
    let _ = std::fs::remove_file(&report);
    let out = run(emu
        .cmd()
        .args(["apply", "--yes", "--config"])
        .arg(config)
        .arg("--report")
        .arg(&report)
        .args(extra));
    let rows = if report.exists() {
        read_report(&report)
    } else {
        Vec::new()
    };
    (out, rows)
}

/// Asserts one secret and one rule in each of `targets`, and nothing else.
fn assert_exactly_once(emu: &Emulator, targets: &[(String, &str)]) {
    let (secrets, rules) = (emu.secrets(), emu.rules());
    assert_eq!(secrets.len(), targets.len(), "{secrets:?}");
    assert_eq!(rules.len(), targets.len(), "{rules:?}");
    for (account, region) in targets {
        let n = |list: &[Value]| {
            list.iter()
                .filter(|x| x["account"] == *account && x["region"] == *region)
                .count()
        };
        assert_eq!((n(&secrets), n(&rules)), (1, 1), "{account} {region}");
    }
}

fn all_targets(org: &Org) -> Vec<(String, &'static str)> {
    org.active()
        .into_iter()
        .flat_map(|a| [(a.clone(), "eu-west-1"), (a, "us-east-1")])
        .collect()
}

fn count(rows: &[HashMap<String, String>], outcome: &str) -> usize {
    rows.iter().filter(|r| r["outcome"] == outcome).count()
}

#[test]
fn scenario_1_a_quarter_of_regional_calls_throttled_still_converges_once() {
    let (emu, org) = Emulator::with_org();
    faults(
        &emu,
        json!([{"service": "ecr", "kind": "throttle", "rate": 0.25},
                        {"service": "secretsmanager", "kind": "throttle", "rate": 0.25}]),
    );
    let (out, rows) = apply(&emu, &config(&emu, ""), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        emu.calls().iter().any(|c| c["fault"] == "throttle"),
        "throttling was injected"
    );
    assert_exactly_once(&emu, &all_targets(&org));
    assert!(
        rows.iter()
            .all(|r| r["outcome"] == "created" && r["is_valid"] == "true"),
        "{rows:?}"
    );
}

#[test]
fn scenario_2_refused_roles_fail_their_rows_only_and_a_rerun_converges() {
    let (emu, org) = Emulator::with_org();
    let (dev, prod) = (org.id("dev"), org.id("prod"));
    emu.deny_assume_role(&[&dev, &prod]);
    let cfg = config(&emu, "");
    let (out, rows) = apply(&emu, &cfg, &[]);
    assert_eq!(out.code, 1);
    assert_eq!(rows.len(), 8);
    for r in &rows {
        if r["account_id"] == dev || r["account_id"] == prod {
            assert_eq!(r["outcome"], "failed");
            assert!(
                r["failure"].contains("sts:AssumeRole") && r["failure"].contains("AccessDenied"),
                "{r:?}"
            );
        } else {
            assert_eq!(
                (r["outcome"].as_str(), r["is_valid"].as_str()),
                ("created", "true"),
                "{r:?}"
            );
        }
    }
    emu.deny_assume_role(&[]);
    let (out, rows) = apply(&emu, &cfg, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(count(&rows, "created"), 4);
    assert_eq!(count(&rows, "unchanged"), 4);
    assert_exactly_once(&emu, &all_targets(&org));
}

#[test]
fn scenario_3_one_account_throttled_hard_does_not_slow_the_others() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    faults(
        &emu,
        json!([{"service": "ecr", "account": dev, "kind": "throttle", "rate": 0.9},
                        {"service": "secretsmanager", "account": dev, "kind": "throttle", "rate": 0.9}]),
    );
    let (_, rows) = apply(&emu, &config(&emu, ""), &["--no-canary"]);
    assert_eq!(rows.len(), 8);
    for r in rows.iter().filter(|r| r["account_id"] != dev) {
        assert_eq!(
            (r["outcome"].as_str(), r["is_valid"].as_str()),
            ("created", "true"),
            "{r:?}"
        );
    }
    for r in rows.iter().filter(|r| r["account_id"] == dev) {
        assert!(
            r["outcome"] == "created" || r["failure"].contains("Throttling"),
            "{r:?}"
        );
    }
    // The others made exactly their own calls: no retries, so no waiting on dev's storm.
    let calls = emu.calls();
    for account in org.active().iter().filter(|a| **a != dev) {
        let regional: Vec<_> = calls
            .iter()
            .filter(|c| {
                c["account"] == *account
                    && (c["service"] == "ecr" || c["service"] == "secretsmanager")
            })
            .collect();
        assert_eq!(
            regional.len(),
            2 * 5,
            "{account}: 5 calls per target, no retries: {regional:?}"
        );
    }
    assert!(
        calls
            .iter()
            .filter(|c| c["account"] == dev && c["fault"] == "throttle")
            .count()
            > 10
    );
}

#[test]
fn scenario_4_a_hung_request_times_out_and_the_target_converges() {
    let (emu, org) = Emulator::with_org();
    let prod = org.id("prod");
    faults(
        &emu,
        json!([{"service": "secretsmanager", "action": "CreateSecret", "account": prod, "region": "eu-west-1",
                         "kind": "hang", "latency_ms": 8000, "times": 1}]),
    );
    let start = Instant::now();
    let (out, rows) = apply(&emu, &config(&emu, ""), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "the 2 s attempt timeout fired, not the hang's end"
    );
    assert_exactly_once(&emu, &all_targets(&org));
    let creates = emu
        .calls()
        .into_iter()
        .filter(|c| {
            c["action"] == "CreateSecret" && c["account"] == prod && c["region"] == "eu-west-1"
        })
        .count();
    assert_eq!(creates, 2, "the hung attempt, then the retry");
    assert!(rows.iter().all(|r| r["is_valid"] == "true"));
}

#[test]
fn scenario_5_the_rule_cap_fails_that_target_at_once() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    for i in 0..50 {
        emu.mutate(json!({"op": "create_rule", "account": dev, "region": "us-east-1", "prefix": format!("other{i}"),
            "upstream_registry": "ecr-public", "upstream_url": "public.ecr.aws"}));
    }
    let (out, rows) = apply(&emu, &config(&emu, ""), &["--no-canary"]);
    assert_eq!(out.code, 1);
    let row = rows
        .iter()
        .find(|r| r["account_id"] == dev && r["region"] == "us-east-1")
        .unwrap();
    assert_eq!(row["outcome"], "failed");
    assert!(
        row["failure"].contains("LimitExceededException")
            && row["failure"].contains("50 pull through cache rules"),
        "{row:?}"
    );
    let creates = emu
        .calls()
        .into_iter()
        .filter(|c| {
            c["action"] == "CreatePullThroughCacheRule"
                && c["account"] == dev
                && c["region"] == "us-east-1"
        })
        .count();
    assert_eq!(creates, 1, "no retry storm");
    assert_eq!(count(&rows, "created"), 7, "the others converged");
    assert!(
        emu.secrets()
            .iter()
            .any(|s| s["account"] == dev && s["region"] == "us-east-1"),
        "the secret came first"
    );
}

#[test]
fn an_opt_in_region_the_account_has_not_enabled_is_skipped() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    // af-south-1 is opt-in: every account but dev has enabled it.
    for account in org.active().into_iter().filter(|a| *a != dev) {
        emu.post(
            "/_ptc/region_opt",
            json!({"account": account, "region": "af-south-1", "status": "ENABLED"}),
        );
    }
    let cfg = emu.rollout(
        "r.toml",
        &format!(
            "{}\n{FAST}",
            rollout_text("").replace("\"eu-west-1\"", "\"af-south-1\"")
        ),
    );
    let (out, rows) = apply(&emu, &cfg, &[]);
    assert_eq!(
        out.code, 0,
        "a skipped target is not a failure: {}",
        out.stderr
    );
    let row = rows
        .iter()
        .find(|r| r["account_id"] == dev && r["region"] == "af-south-1")
        .unwrap();
    assert_eq!(row["outcome"], "skipped");
    assert!(row["failure"].contains("opt-in Region"), "{row:?}");
    assert!(
        row["failure"].contains("GetRegionOptStatus: DISABLED"),
        "{row:?}"
    );
    assert_eq!(count(&rows, "created"), 7);
}

#[test]
fn a_listing_cut_short_is_said_when_it_happens_and_fails_the_run() {
    let (emu, _org) = Emulator::with_org();
    faults(
        &emu,
        json!([{"service": "organizations", "action": "ListAccounts", "kind": "http500"}]),
    );
    let report = emu.path("validate.csv");
    let out = run(emu
        .cmd()
        .args(["validate", "--config"])
        .arg(config(&emu, ""))
        .arg("--report")
        .arg(&report));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let said = out
        .stderr
        .find("error: cannot list the Organization's accounts")
        .unwrap_or_else(|| panic!("{}", out.stderr));
    let summary = out
        .stderr
        .find("Validate: ")
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(said < summary, "said before the summary: {}", out.stderr);
    assert!(
        report.exists(),
        "the report of what was done is still written"
    );
}
