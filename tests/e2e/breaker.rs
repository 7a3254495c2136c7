//! The breaker that bounds failed logins: every pass that validates admits
//! ValidatePullThroughCacheRule (a login at GitLab) one at a time until one succeeds, so a token
//! GitLab refuses fails at most 5 logins at `--concurrency 256`, while a good token still
//! validates every target.

use std::collections::HashMap;

use crate::support;
use serde_json::{json, Value};
use support::{read_report, rollout_text, run, Emulator, TOKEN};

/// The bound in docs/failures.md ("The circuit breaker"): failed logins with a token refused from the start.
const BOUND: usize = 5;
const TARGETS: usize = 200;

/// 99 members and the management account, in two Regions: 200 targets.
fn organization() -> (Emulator, std::path::PathBuf) {
    let emu = Emulator::start();
    let accounts: Vec<Value> = (0..TARGETS / 2 - 1)
        .map(|i| json!({"name": format!("member-{i}"), "parent": "root"}))
        .collect();
    emu.seed(json!({"ous": [], "accounts": accounts}));
    emu.set_valid_tokens(&[TOKEN]);
    let cfg = emu.rollout("r.toml", &rollout_text(""));
    (emu, cfg)
}

/// Runs `args` (with `--concurrency 256`) from a clean call log: its report's rows and how many
/// ValidatePullThroughCacheRule calls it made.
fn pass(
    emu: &Emulator,
    cfg: &std::path::Path,
    args: &[&str],
) -> (Vec<HashMap<String, String>>, usize) {
    emu.reset_calls();
    let (out, rows) = emu.with_report(cfg, &[args, &["--concurrency", "256"]].concat());
    assert!(out.code == 0 || out.code == 1, "{args:?}: {}", out.stderr);
    (rows, emu.calls_of("ValidatePullThroughCacheRule").len())
}

#[test]
fn a_refused_token_fails_at_most_five_logins_at_concurrency_256_in_every_pass() {
    let (emu, cfg) = organization();
    let (rows, logins) = pass(&emu, &cfg, &["apply", "--yes"]);
    assert_eq!(rows.len(), TARGETS);
    assert!(rows.iter().all(|r| r["is_valid"] == "true"), "{rows:?}");
    assert_eq!(logins, TARGETS);

    // A good token: every target validates, the window grown to the run's concurrency.
    let (rows, logins) = pass(&emu, &cfg, &["validate"]);
    assert_eq!(rows.len(), TARGETS);
    assert!(rows.iter().all(|r| r["is_valid"] == "true"), "{rows:?}");
    assert_eq!(logins, TARGETS, "one validation per target");

    // GitLab now refuses the token: each pass that validates stops at the bound.
    emu.set_valid_tokens(&[]);
    for args in [
        &["validate"][..],
        &["apply", "--yes", "--no-canary"],
        &["rotate", "--yes", "--no-canary"],
    ] {
        let (rows, logins) = pass(&emu, &cfg, args);
        assert!(logins <= BOUND, "{args:?}: {logins} failed logins");
        assert_eq!(rows.len(), TARGETS, "{args:?}: every target is reported");
        let refused = rows.iter().filter(|r| r["is_valid"] == "false").count();
        assert_eq!(refused, logins, "{args:?}");
        let stopped = rows
            .iter()
            .filter(|r| r["is_valid"].is_empty() && r["failure"].contains("not validated"))
            .filter(|r| r["failure"].contains("circuit breaker"))
            .count();
        assert_eq!(stopped, TARGETS - logins, "{args:?}: {rows:?}");
        assert_eq!(emu.mutating_calls(), Vec::<String>::new(), "{args:?}");
    }

    // `report` (the pass token revoke-old's check runs too).
    emu.reset_calls();
    let out_csv = emu.path("compliance.csv");
    let out = run(emu
        .cmd()
        .args(["report", "--concurrency", "256", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out_csv));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let rows = read_report(&out_csv);
    assert_eq!(rows.len(), TARGETS);
    let logins = emu.calls_of("ValidatePullThroughCacheRule").len();
    assert!(logins <= BOUND, "report: {logins} failed logins");
    let stopped = rows
        .iter()
        .filter(|r| r["reasons"].contains("rule not validated"))
        .count();
    assert_eq!(stopped, TARGETS - logins, "{rows:?}");
}
