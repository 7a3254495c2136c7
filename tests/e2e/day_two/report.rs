//! `report`: the compliance export matches the emulator's state (missing, conflicting and
//! pending-deletion targets), and expired or nearly expired tokens make targets non-compliant.

use super::*;

#[test]
fn the_report_matches_the_emulators_state() {
    let (emu, org) = Emulator::with_org();
    let (dev, prod, sandbox) = (
        org.id("dev"),
        org.id("prod"),
        org.id("=HYPERLINK(\"http://x\")"),
    );
    let cfg = config(&emu, "token_expires_on = \"2099-01-01\"", "");
    apply(&emu, &cfg);
    emu.mutate(
        json!({"op": "delete_rule", "account": dev, "region": "us-east-1", "prefix": "gitlab"}),
    );
    emu.mutate(
        json!({"op": "delete_rule", "account": prod, "region": "us-east-1", "prefix": "gitlab"}),
    );
    emu.mutate(
        json!({"op": "create_rule", "account": prod, "region": "us-east-1", "prefix": "gitlab",
        "upstream_registry": "ecr-public", "upstream_url": "public.ecr.aws"}),
    );
    emu.mutate(
        json!({"op": "delete_secret", "account": sandbox, "region": "us-east-1", "name": SECRET}),
    );
    let out = emu.path("c.csv");
    let result = run(emu
        .cmd()
        .args(["report", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out));
    assert_eq!(
        result.code, 1,
        "not every target is compliant: {}",
        result.stderr
    );
    let rows = read_report(&out);
    assert_eq!(rows.len(), 8);
    let row = |a: &str, r: &str| {
        rows.iter()
            .find(|x| x["account_id"] == a && x["region"] == r)
            .unwrap()
            .clone()
    };
    let d = row(&dev, "us-east-1");
    assert_eq!(
        (d["compliant"].as_str(), d["rule"].as_str()),
        ("false", "absent")
    );
    assert!(d["reasons"].contains("no pull through cache rule"));
    let p = row(&prod, "us-east-1");
    assert_eq!(
        (p["rule"].as_str(), p["upstream_registry_url"].as_str()),
        ("conflicting", "public.ecr.aws")
    );
    let s = row(&sandbox, "us-east-1");
    assert_eq!(s["secret"], "pending_deletion");
    assert!(s["reasons"].contains("secret scheduled for deletion"));
    let ok = row(&dev, "eu-west-1");
    assert_eq!(
        (
            ok["compliant"].as_str(),
            ok["is_valid"].as_str(),
            ok["secret_managed"].as_str()
        ),
        ("true", "true", "true")
    );
    assert_eq!(ok["token_expires_on"], "2099-01-01");
    assert!(ok["token_days_left"].parse::<i64>().unwrap() > 20_000);
    assert_eq!(ok["secret_age_days"], "0");
    assert!(
        result.stderr.contains("4 compliant, 4 non-compliant")
            || result.stderr.contains("non-compliant"),
        "{}",
        result.stderr
    );

    // Expired and nearly expired tokens, declared in the rollout file and tagged at rotate.
    for (date, reason) in [
        ("2020-01-01", "token expired"),
        (soon(), "token expires within 30 days"),
    ] {
        let cfg = config(&emu, &format!("token_expires_on = \"{date}\""), "");
        emu.reset_calls();
        rotate_dates(&emu, &cfg, &dev);
        let result = json_report(&emu, &cfg, &dev);
        support::json_schema::assert_valid("report.schema.json", &result.stdout);
        let doc: Value = serde_json::from_str(&result.stdout).unwrap();
        let t = &doc["targets"][0];
        assert_eq!(t["token_expires_on"], date);
        assert_eq!(t["compliant"], false);
        assert!(
            t["reasons"].as_array().unwrap().contains(&json!(reason)),
            "{t}"
        );
    }
}

/// `rotate` of `account` in eu-west-1, which tags the rollout file's expiry date on the secret.
fn rotate_dates(emu: &Emulator, cfg: &std::path::Path, account: &str) {
    let r = run(emu
        .cmd()
        .args([
            "rotate",
            "--yes",
            "--regions",
            "eu-west-1",
            "--accounts",
            account,
        ])
        .arg("--config")
        .arg(cfg)
        .env("GITLAB_REGISTRY_TOKEN", TOKEN));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// `report --format json` of `account` in eu-west-1.
fn json_report(emu: &Emulator, cfg: &std::path::Path, account: &str) -> support::Run {
    run(emu
        .cmd()
        .args(["report", "--format", "json", "--regions", "eu-west-1"])
        .args(["--accounts", account, "--config"])
        .arg(cfg))
}

/// A date ten days from now.
fn soon() -> &'static str {
    Box::leak(support::date_in(10).into_boxed_str())
}

/// GitLab expires a token at 00:00 UTC on its expiry date: a token dated today is expired (0
/// days left, non-compliant), one dated tomorrow still works today (1 day left, a warning).
#[test]
fn a_token_expiring_today_is_expired() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    for (days, state, reason) in [
        (0, "non-compliant", "token expired"),
        (1, "warning", "token expires within 30 days"),
    ] {
        let date = support::date_in(days);
        let cfg = config(&emu, &format!("token_expires_on = \"{date}\""), "");
        if days == 0 {
            apply(&emu, &cfg);
        }
        rotate_dates(&emu, &cfg, &dev);
        let result = json_report(&emu, &cfg, &dev);
        assert_eq!(result.code, 1, "{}", result.stderr);
        let doc: Value = serde_json::from_str(&result.stdout).unwrap();
        let t = &doc["targets"][0];
        assert_eq!(t["token_expires_on"], date.as_str(), "{t}");
        assert_eq!(
            (&t["state"], &t["token_days_left"]),
            (&json!(state), &json!(days)),
            "{t}"
        );
        assert_eq!(t["reasons"], json!([reason]), "{t}");
    }
}
