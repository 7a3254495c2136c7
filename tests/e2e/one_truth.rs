//! One classification of a row (`compliant`, `warning`, `non-compliant`, `not inspected`,
//! `skipped`), read alike by `report`'s exit code, its stderr summary and its CSV; and `rotate`
//! failing over a target it cannot rotate whose rule does not validate.

use std::collections::HashMap;

use crate::support;
use serde_json::json;
use support::{date_in, rollout_text, run, Emulator, Org};

const SECRET: &str = "ecr-pullthroughcache/gitlab";

type Rows = Vec<HashMap<String, String>>;

/// The summary's count of `state` (`Compliance: N targets, 3 compliant, 0 warning, …`).
fn summary_count(stderr: &str, state: &str) -> usize {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("Compliance: "))
        .unwrap_or_else(|| panic!("no summary in {stderr}"));
    line.split(", ")
        .find_map(|part| {
            let (n, name) = part.split_once(' ')?;
            (name == state).then(|| n.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {state:?} count in {line:?}"))
}

/// Every state's count in the summary equals the CSV's.
fn assert_summary_matches(stderr: &str, rows: &Rows) {
    for state in [
        "compliant",
        "warning",
        "non-compliant",
        "not inspected",
        "skipped",
    ] {
        let in_csv = rows.iter().filter(|r| r["state"] == state).count();
        assert_eq!(summary_count(stderr, state), in_csv, "{state}: {stderr}");
    }
}

fn report(emu: &Emulator, cfg: &std::path::Path, extra: &[&str]) -> (support::Run, Rows) {
    let out_path = emu.path("one-truth.csv");
    let _ = std::fs::remove_file(&out_path);
    let out = run(emu
        .cmd()
        .args(["report", "--out"])
        .arg(&out_path)
        .args(extra)
        .arg("--config")
        .arg(cfg));
    let rows = if out_path.exists() {
        support::read_report(&out_path)
    } else {
        Vec::new()
    };
    (out, rows)
}

fn applied(emu: &Emulator, text: &str) -> std::path::PathBuf {
    let cfg = emu.rollout("one-truth.toml", text);
    let out = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    cfg
}

/// An opt-in Region no account enabled is `skipped` and lets the exit code be 0; a token
/// within the warning days is `warning` and fails it.
#[test]
fn a_skipped_region_passes_and_a_due_token_warns() {
    let (emu, org) = Emulator::with_org();
    let text = rollout_text("")
        .replace("\"eu-west-1\"", "\"af-south-1\"")
        .replace(
            "token_env = \"GITLAB_REGISTRY_TOKEN\"",
            &format!(
                "token_env = \"GITLAB_REGISTRY_TOKEN\"\ntoken_expires_on = \"{}\"",
                date_in(90)
            ),
        );
    let cfg = applied(&emu, &text);

    let (out, rows) = report(&emu, &cfg, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(rows.len(), 2 * org.active().len(), "{rows:?}");
    for r in &rows {
        let want = if r["region"] == "af-south-1" {
            "skipped"
        } else {
            "compliant"
        };
        assert_eq!(r["state"], want, "{r:?}");
    }
    assert!(rows
        .iter()
        .filter(|r| r["state"] == "skipped")
        .all(|r| r["compliant"] == "false" && r["reasons"].contains("GetRegionOptStatus")));
    assert_summary_matches(&out.stderr, &rows);

    // 90 days left, warned from 100: due, not broken.
    let (out, rows) = report(&emu, &cfg, &["--expiry-warning-days", "100"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    for r in rows.iter().filter(|r| r["region"] == "us-east-1") {
        assert_eq!(r["state"], "warning", "{r:?}");
        assert_eq!(r["reasons"], "token expires within 100 days", "{r:?}");
    }
    assert_summary_matches(&out.stderr, &rows);
}

/// AssumeRole refused in one account: its rows are `not inspected`, and the summary counts what
/// the CSV says.
#[test]
fn an_account_that_cannot_be_entered_is_not_inspected() {
    let (emu, org) = Emulator::with_org();
    let cfg = applied(&emu, &rollout_text(""));
    let prod = org.id("prod");
    emu.deny_assume_role(&[prod.as_str()]);

    let (out, rows) = report(&emu, &cfg, &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    for r in &rows {
        let want = if r["account_id"] == prod {
            "not inspected"
        } else {
            "compliant"
        };
        assert_eq!(r["state"], want, "{r:?}");
    }
    assert_eq!(summary_count(&out.stderr, "not inspected"), 2);
    assert_summary_matches(&out.stderr, &rows);
}

/// A target whose secret is gone: `rotate` cannot rotate it, validates its rule anyway, and the
/// invalid rule fails the run.
#[test]
fn rotate_fails_over_a_target_it_cannot_rotate() {
    let (emu, org) = Emulator::with_org();
    let cfg = applied(&emu, &rollout_text(""));
    let prod = org.id("prod");
    emu.mutate(json!({
        "op": "delete_secret", "account": prod, "region": "eu-west-1", "name": SECRET, "force": true
    }));

    let (out, rows) = emu.with_report(&cfg, &["rotate", "--yes"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let broken = one(&rows, &org, "prod", "eu-west-1");
    assert_eq!(broken["outcome"], "skipped", "{broken:?}");
    assert_eq!(broken["is_valid"], "false", "{broken:?}");
    // The failure line says the outcome once.
    assert!(
        out.stderr.contains(&format!(
            "error: {prod} eu-west-1 (prod) skipped: no secret to rotate"
        )),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("skipped: skipped:"), "{}", out.stderr);
    assert!(rows
        .iter()
        .filter(|r| r["account_id"] != prod || r["region"] != "eu-west-1")
        .all(|r| r["is_valid"] == "true"));
}

fn one<'a>(rows: &'a Rows, org: &Org, name: &str, region: &str) -> &'a HashMap<String, String> {
    let id = org.id(name);
    rows.iter()
        .find(|r| r["account_id"] == id && r["region"] == region)
        .unwrap_or_else(|| panic!("no row {name} {region}: {rows:?}"))
}

/// The first IAM example of docs/iam.md is what `iam-policy` prints for `plans/gitlab.toml`.
#[test]
fn the_documented_caller_policy_is_what_iam_policy_prints() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("docs/iam.md")).unwrap();
    let section = readme
        .split_once("# IAM permissions")
        .expect("the IAM section")
        .1;
    let example = section
        .split_once("```json\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a JSON example")
        .0;
    let example: serde_json::Value = serde_json::from_str(example).unwrap();
    let out = run(
        std::process::Command::new(env!("CARGO_BIN_EXE_ptc-rollout"))
            .args(["iam-policy", "--config"])
            .arg(root.join("plans/gitlab.toml")),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let printed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(example, printed["caller_policy"]);
}

/// A failed pull is `pull failed` on stderr, as in JUnit, not `invalid` (probe checks no rule).
#[test]
fn probe_says_pull_failed_for_a_failed_pull() {
    let (emu, org) = Emulator::with_org();
    let cfg = applied(&emu, &rollout_text(""));
    let dev = org.id("dev");
    emu.mutate(
        json!({"op": "delete_rule", "account": dev, "region": "eu-west-1", "prefix": "gitlab"}),
    );
    let (out, _rows) = emu.with_report(
        &cfg,
        &["probe", "--image", "demo-group/demo-project/app:1.0"],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "error: {dev} eu-west-1 (dev) pull failed: no pull through cache rule"
        )),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(") invalid:"), "{}", out.stderr);
}
