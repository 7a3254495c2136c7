//! Ctrl-C (SIGINT) during `apply`: every target is reported (finished, interrupted or not
//! attempted), a re-run finishes only what was left, and a call still hung after the drain
//! deadline leaves its target reported as interrupted.

use std::process::Stdio;

use super::*;

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
    support::interrupt_when(child, never, ready)
}
