//! What stops a rollout on purpose: the canary after a revoked token, `--max-failures`, and the
//! circuit breaker after repeated failed logins at GitLab. Every target is still reported.

use super::*;

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
    // Scheduling stopped at the second failure: one target in flight at a time, so exactly two
    // failed, whichever accounts were entered first (AssumeRole answers in any order), and
    // nothing was written for a target not attempted.
    assert_eq!(count(&rows, "failed"), 2, "{rows:?}");
    assert_eq!(emu.secrets().len(), count(&rows, "created"), "{rows:?}");
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
