//! The JSON outputs as a tool this project did not write reads them: each validates against
//! the schema shipped in schemas/ (check-jsonschema), an unknown is `null` (never `""`), and
//! `reasons` is a list; the CSV of the same run keeps its cells (`""`, reasons joined by `; `).

use crate::support;
use serde_json::{json, Value};
use support::json_schema::assert_valid;
use support::{read_report, rollout_text, run, Emulator};

const SECRET: &str = "ecr-pullthroughcache/gitlab";

/// Every string in `v`, with where it is (`$.targets[3].rule`).
fn strings(v: &Value, at: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => out.push((at, s.clone())),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| strings(x, format!("{at}[{i}]"), out)),
        Value::Object(o) => o
            .iter()
            .for_each(|(k, x)| strings(x, format!("{at}.{k}"), out)),
        _ => {}
    }
}

#[test]
fn the_reports_json_has_null_for_unknown_and_reasons_as_a_list() {
    let (emu, org) = Emulator::with_org();
    let (dev, prod) = (org.id("dev"), org.id("prod"));
    let cfg = emu.rollout("r.toml", &rollout_text(""));
    let out = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // dev us-east-1: no rule and a secret scheduled for deletion (two reasons); prod: never
    // inspected (AssumeRole refused), so nothing is known of it.
    emu.mutate(
        json!({"op": "delete_rule", "account": dev, "region": "us-east-1", "prefix": "gitlab"}),
    );
    emu.mutate(
        json!({"op": "delete_secret", "account": dev, "region": "us-east-1", "name": SECRET}),
    );
    emu.deny_assume_role(&[&prod]);

    let result = run(emu
        .cmd()
        .args(["report", "--format", "json", "--config"])
        .arg(&cfg));
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert_valid("report.schema.json", &result.stdout);
    let doc: Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(doc["rollout"]["ecr_repository_prefix"], "gitlab");
    assert_eq!(doc["rollout"]["regions"], json!(["us-east-1", "eu-west-1"]));
    let mut all = Vec::new();
    strings(&doc, "$".into(), &mut all);
    let empty: Vec<_> = all.iter().filter(|(_, s)| s.is_empty()).collect();
    assert!(empty.is_empty(), "\"\" for unknown: {empty:?}");

    let target = |a: &str, r: &str| {
        doc["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["account_id"] == a && t["region"] == r)
            .unwrap_or_else(|| panic!("no {a} {r}: {doc}"))
            .clone()
    };
    // Not inspected: every cell but the target's names, the time and why is null.
    let p = target(&prod, "us-east-1");
    for key in [
        "rule",
        "upstream_registry_url",
        "credential_arn",
        "secret",
        "secret_managed",
        "secret_last_changed",
        "secret_age_days",
        "token_expires_on",
        "token_days_left",
        "is_valid",
        "failure",
        "pull_access",
    ] {
        assert_eq!(p[key], Value::Null, "{key} of a target not inspected: {p}");
    }
    assert_eq!(p["compliant"], false);
    let why = p["reasons"].as_array().unwrap();
    assert_eq!(why.len(), 1, "one reason, its error: {p}");
    assert!(why[0].as_str().unwrap().starts_with("not inspected"), "{p}");

    let d = target(&dev, "us-east-1");
    assert_eq!(
        d["reasons"],
        json!([
            "no pull through cache rule",
            "secret scheduled for deletion"
        ])
    );
    assert_eq!(
        (
            &d["rule"],
            &d["upstream_registry_url"],
            &d["credential_arn"]
        ),
        (&json!("absent"), &Value::Null, &Value::Null)
    );
    assert_eq!(d["secret"], "pending_deletion");

    // Compliant: no reasons, no failure; no [pull_access] in the file, so null.
    let ok = target(&dev, "eu-west-1");
    assert_eq!(ok["compliant"], true);
    assert_eq!(ok["reasons"], json!([]));
    assert_eq!(
        (&ok["failure"], &ok["pull_access"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(ok["is_valid"], true);
    assert_eq!(ok["secret_managed"], true);
    assert!(ok["secret_age_days"].is_i64(), "{ok}");
    // Without [gitlab] or token_expires_on, the token's expiry is not known.
    assert_eq!(
        (&ok["token_expires_on"], &ok["token_days_left"]),
        (&Value::Null, &Value::Null)
    );

    // The CSV of the same Organization keeps its cells: "" for unknown, reasons joined.
    let csv = emu.path("c.csv");
    let r = run(emu
        .cmd()
        .args(["report", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&csv));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let rows = read_report(&csv);
    let row = |a: &str, r: &str| {
        rows.iter()
            .find(|x| x["account_id"] == a && x["region"] == r)
            .unwrap()
            .clone()
    };
    let p = row(&prod, "us-east-1");
    assert_eq!(
        (
            p["rule"].as_str(),
            p["secret_managed"].as_str(),
            p["is_valid"].as_str()
        ),
        ("", "", "")
    );
    assert_eq!(
        row(&dev, "us-east-1")["reasons"],
        "no pull through cache rule; secret scheduled for deletion"
    );
    let ok = row(&dev, "eu-west-1");
    assert_eq!((ok["reasons"].as_str(), ok["failure"].as_str()), ("", ""));
}

#[test]
fn accounts_json_validates_against_its_schema() {
    let (emu, org) = Emulator::with_org();
    let cfg = emu.rollout(
        "r.toml",
        &rollout_text(&format!("exclude_accounts = [\"{}\"]", org.id("dev"))),
    );
    let out = run(emu
        .cmd()
        .args(["accounts", "--format", "json", "--config"])
        .arg(&cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_valid("accounts.schema.json", &out.stdout);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(!doc["skipped"].as_array().unwrap().is_empty(), "{doc}");
    // Account IDs stay text: twelve digits, leading zeros and all.
    assert!(doc["targeted"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["account_id"].is_string()));
}

#[test]
fn the_schemas_are_valid_draft_2020_12() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    for name in [
        "report.schema.json",
        "accounts.schema.json",
        "token-status.schema.json",
    ] {
        let out = std::process::Command::new(support::python())
            .args(["-m", "check_jsonschema", "--check-metaschema"])
            .arg(root.join(name))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let schema: Value =
            serde_json::from_str(&std::fs::read_to_string(root.join(name)).unwrap()).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }
}

/// A target's error is one reason, even when it holds `; ` (an enabled opt-in Region whose
/// calls are refused: the error, then a hint); a disabled one is `skipped`, with its reason.
#[test]
fn an_error_is_one_reason_and_a_skipped_target_validates() {
    let (emu, org) = Emulator::with_org();
    let (dev, prod) = (org.id("dev"), org.id("prod"));
    emu.post(
        "/_ptc/region_opt",
        json!({"account": dev, "region": "af-south-1", "status": "ENABLED"}),
    );
    emu.post(
        "/_ptc/faults",
        json!({"rules": [{"account": dev, "region": "af-south-1", "kind": "region_disabled"}]}),
    );
    let cfg = emu.rollout(
        "optin.toml",
        &rollout_text(&format!("accounts = [\"{dev}\", \"{prod}\"]"))
            .replace("\"eu-west-1\"", "\"af-south-1\""),
    );
    let result = run(emu
        .cmd()
        .args([
            "report",
            "--format",
            "json",
            "--regions",
            "af-south-1",
            "--config",
        ])
        .arg(&cfg));
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert_valid("report.schema.json", &result.stdout);
    let doc: Value = serde_json::from_str(&result.stdout).unwrap();
    let target = |a: &str| {
        doc["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["account_id"] == a)
            .unwrap_or_else(|| panic!("no {a}: {doc}"))
            .clone()
    };
    let failed = target(&dev);
    let why = failed["reasons"].as_array().unwrap();
    assert_eq!(why.len(), 1, "{failed}");
    assert!(why[0].as_str().unwrap().contains("; "), "{failed}");
    assert_eq!(
        (&failed["rule"], &failed["secret"]),
        (&Value::Null, &Value::Null)
    );
    let skipped = target(&prod);
    assert_eq!(skipped["state"], "skipped", "{skipped}");
    assert_eq!(skipped["reasons"].as_array().unwrap().len(), 1, "{skipped}");
    assert_eq!(skipped["is_valid"], Value::Null);
}
