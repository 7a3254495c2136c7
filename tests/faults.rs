//! Failure handling, with faults injected at the emulator: throttling, hung requests, refused
//! roles, the rule cap, a revoked token, interrupts and failure limits. Each test checks the
//! emulator's final state, the report and the exit code.

mod support;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

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
fn scenario_6_a_revoked_token_stops_at_the_canary() {
    let (emu, _org) = Emulator::with_org();
    emu.set_valid_tokens(&["test-other-valid-token"]);
    let (out, rows) = apply(&emu, &config(&emu, ""), &[]);
    assert_eq!(out.code, 1);
    assert_eq!(emu.secrets().len(), 1, "only the canary target was written");
    assert_eq!(emu.rules().len(), 1);
    assert_eq!(rows.len(), 8);
    assert_eq!(count(&rows, "created"), 1);
    assert_eq!(count(&rows, "not attempted"), 7);
    let canary = rows.iter().find(|r| r["outcome"] == "created").unwrap();
    assert_eq!(canary["is_valid"], "false");
    assert!(rows
        .iter()
        .filter(|r| r["outcome"] == "not attempted")
        .all(|r| r["failure"].contains("canary")));
    assert!(out.stderr.contains("canary"), "{}", out.stderr);
    let validations = emu
        .calls()
        .into_iter()
        .filter(|c| c["action"] == "ValidatePullThroughCacheRule")
        .count();
    assert_eq!(validations, 1, "one failed login at GitLab, not eight");
}

#[test]
fn scenario_7_ctrl_c_half_way_reports_everything_and_a_rerun_finishes() {
    let (emu, org) = Emulator::with_org();
    faults(
        &emu,
        json!([{"service": "ecr", "kind": "latency", "latency_ms": 300},
                        {"service": "secretsmanager", "kind": "latency", "latency_ms": 300}]),
    );
    let cfg = config(&emu, "");
    let report = emu.path("report.csv");
    let out = apply_then_ctrl_c(
        &emu,
        &cfg,
        &report,
        &["--concurrency", "2"],
        "the rollout never got going",
        || emu.rules().len() >= 3,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let rows = read_report(&report);
    assert_eq!(rows.len(), 8, "every target is in the report");
    let finished: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r["outcome"] == "created")
        .map(|r| (r["account_id"].clone(), r["region"].clone()))
        .collect();
    assert!(finished.len() >= 3 && finished.len() < 8, "{rows:?}");
    for r in &rows {
        assert!(
            ["created", "interrupted", "not attempted"].contains(&r["outcome"].as_str()),
            "{r:?}"
        );
    }

    faults(&emu, json!([]));
    emu.reset_calls();
    let (out, _) = apply(&emu, &cfg, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_exactly_once(&emu, &all_targets(&org));
    for c in emu
        .calls()
        .into_iter()
        .filter(|c| c["service"] == "ecr" || c["service"] == "secretsmanager")
    {
        let key = (
            c["account"].as_str().unwrap().to_owned(),
            c["region"].as_str().unwrap().to_owned(),
        );
        if finished.contains(&key) {
            let action = c["action"].as_str().unwrap();
            assert!(
                [
                    "DescribeSecret",
                    "DescribePullThroughCacheRules",
                    "ValidatePullThroughCacheRule"
                ]
                .contains(&action),
                "a finished target got {action}"
            );
        }
    }
}

#[test]
fn scenario_8_max_failures_stops_scheduling() {
    let emu = Emulator::start();
    let accounts: Vec<Value> = (0..6)
        .map(|i| json!({"name": format!("member-{i}"), "parent": "root"}))
        .collect();
    let org = emu.seed(json!({"ous": [], "accounts": accounts}));
    emu.set_valid_tokens(&[TOKEN]);
    let failing = [org.id("member-0"), org.id("member-2"), org.id("member-4")];
    emu.deny_assume_role(&failing.iter().map(String::as_str).collect::<Vec<_>>());
    let (out, rows) = apply(
        &emu,
        &config(&emu, ""),
        &["--max-failures", "1", "--concurrency", "1", "--no-canary"],
    );
    assert_eq!(out.code, 1);
    assert_eq!(rows.len(), 14, "every target is reported");
    assert!(count(&rows, "not attempted") >= 1, "{rows:?}");
    assert!(rows
        .iter()
        .filter(|r| r["outcome"] == "not attempted")
        .all(|r| r["failure"].contains("--max-failures 1")));
    assert!(
        out.stderr.contains("more than --max-failures 1"),
        "{}",
        out.stderr
    );
    assert!(emu.secrets().len() < 8, "scheduling stopped early");
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
fn the_circuit_breaker_stops_validating_after_repeated_auth_failures() {
    let emu = Emulator::start();
    let accounts: Vec<Value> = (0..4)
        .map(|i| json!({"name": format!("member-{i}"), "parent": "root"}))
        .collect();
    emu.seed(json!({"ous": [], "accounts": accounts}));
    emu.set_valid_tokens(&[TOKEN]);
    let cfg = config(&emu, "");
    assert_eq!(apply(&emu, &cfg, &[]).0.code, 0);
    // The token is revoked at GitLab: every login now fails.
    emu.set_valid_tokens(&[]);
    emu.reset_calls();
    let report = emu.path("v.csv");
    let out = run(emu
        .cmd()
        .args(["validate", "--concurrency", "1", "--config"])
        .arg(&cfg)
        .arg("--report")
        .arg(&report));
    assert_eq!(out.code, 1);
    let rows = read_report(&report);
    assert_eq!(rows.len(), 10);
    // Five validated and refused; five never asked, so neither true nor false.
    assert_eq!(rows.iter().filter(|r| r["is_valid"] == "false").count(), 5);
    assert_eq!(rows.iter().filter(|r| r["is_valid"].is_empty()).count(), 5);
    let stopped = rows
        .iter()
        .filter(|r| r["failure"].contains("circuit breaker"))
        .count();
    assert_eq!(stopped, 5, "{rows:?}");
    let logins = emu
        .calls()
        .into_iter()
        .filter(|c| c["action"] == "ValidatePullThroughCacheRule")
        .count();
    assert_eq!(logins, 5, "validation stopped after five failed logins");
}

#[test]
fn a_target_still_in_flight_after_the_drain_deadline_is_reported_interrupted() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    // One CreateSecret hangs longer than the 10 s drain; the attempt timeout is longer still.
    faults(
        &emu,
        json!([{"service": "secretsmanager", "action": "CreateSecret", "account": dev, "region": "eu-west-1",
                         "kind": "hang", "latency_ms": 30000}]),
    );
    let cfg = emu.rollout(
        "r.toml",
        &format!(
            "{}\n[tuning]\nattempt_timeout_seconds = 60\n",
            rollout_text("")
        ),
    );
    let report = emu.path("report.csv");
    let out = apply_then_ctrl_c(
        &emu,
        &cfg,
        &report,
        &["--no-canary"],
        "the rollout never reached the hung call",
        || emu.calls().iter().any(|c| c["fault"] == "hang") && emu.rules().len() >= 7,
    );
    assert_eq!(out.status.code(), Some(130));
    let rows = read_report(&report);
    assert_eq!(rows.len(), 8);
    let hung = rows
        .iter()
        .find(|r| r["account_id"] == dev && r["region"] == "eu-west-1")
        .unwrap();
    assert_eq!(hung["outcome"], "interrupted", "{hung:?}");
    assert!(hung["failure"].contains("re-run"), "{hung:?}");
    assert_eq!(count(&rows, "created"), 7);
}

/// Starts `apply --yes`, waits until `ready` (or fails with `never`), then sends SIGINT, as
/// Ctrl-C would, and waits for the process to end.
fn apply_then_ctrl_c(
    emu: &Emulator,
    cfg: &std::path::Path,
    report: &std::path::Path,
    extra: &[&str],
    never: &str,
    ready: impl Fn() -> bool,
) -> std::process::Output {
    let child = emu
        .cmd()
        .args(["apply", "--yes", "--config"])
        .arg(cfg)
        .arg("--report")
        .arg(report)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "{never}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    child.wait_with_output().unwrap()
}
