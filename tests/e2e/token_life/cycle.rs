//! The whole cycle, as the scheduled job runs it, with `validate` between every step.

use super::*;

/// Mints a token into the CI/CD variable and `file`; returns its id.
fn mint(emu: &Emulator, cfg: &Path, file: &Path) -> u64 {
    let before: Vec<u64> = tokens(emu)
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    let out = ptc(
        emu,
        &["token", "mint", "--out", file.to_str().unwrap()],
        cfg,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.is_empty(),
        "the token never goes to stdout: {}",
        out.stdout
    );
    let minted: Vec<Value> = tokens(emu)
        .into_iter()
        .filter(|t| !before.contains(&t["id"].as_u64().unwrap()))
        .collect();
    assert_eq!(minted.len(), 1, "one token per mint");
    let t = &minted[0];
    assert!(
        t["name"].as_str().unwrap().starts_with("ptc-rollout 20"),
        "{t}"
    );
    assert_eq!(t["scopes"], json!(["read_registry"]));
    assert_eq!(
        t["access_level"], 20,
        "Reporter: a Guest pulls from public projects only"
    );
    let id = t["id"].as_u64().unwrap();
    assert_eq!(
        std::fs::read_to_string(file).unwrap().trim(),
        value_of(emu, id)
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file:?}");
    }
    id
}

fn variable(emu: &Emulator) -> Value {
    emu.gitlab()["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == "GITLAB_REGISTRY_TOKEN")
        .cloned()
        .expect("the CI/CD variable")
}

#[test]
fn mint_rotate_revoke_old_with_every_rule_valid_at_every_step() {
    let (emu, org) = setup();
    let cfg = config(&emu, "");
    let out = ptc(&emu, &["apply", "--yes"], &cfg);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_all_valid(&emu, &cfg, "after apply");

    // Mint: the variable is created masked and protected; the old token keeps working.
    let (t1, t2) = (emu.path("t1"), emu.path("t2"));
    let id1 = mint(&emu, &cfg, &t1);
    let v = variable(&emu);
    assert_eq!(v["value"].as_str().unwrap(), value_of(&emu, id1));
    assert_eq!(
        (v["masked"].clone(), v["protected"].clone()),
        (json!(true), json!(true))
    );
    assert!(active(&emu, TOKEN));
    assert_all_valid(&emu, &cfg, "after the first mint");
    rotate(&emu, &cfg, &t1, &[]);
    assert_all_valid(&emu, &cfg, "after the first rotate");

    // A second mint updates the variable's value only.
    let id2 = mint(&emu, &cfg, &t2);
    assert_eq!(
        variable(&emu)["value"].as_str().unwrap(),
        value_of(&emu, id2)
    );
    assert_all_valid(&emu, &cfg, "after the second mint");

    // Half rolled out: revoke-old revokes nothing and names the targets still behind.
    let dev = org.id("dev");
    rotate(&emu, &cfg, &t2, &["--accounts", &dev]);
    assert_all_valid(&emu, &cfg, "half rotated");
    emu.reset_calls();
    let report = emu.path("revoke-check.csv");
    let out = revoke_old(&emu, &cfg, &t2, &["--report", report.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("Revoked nothing: 6 of 8 targets"),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("still needs an old token:").count(),
        6,
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("holds an older token: run rotate"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains(&format!("{dev} us-east-1")),
        "dev is done: {}",
        out.stderr
    );
    assert!(
        emu.gitlab_calls().iter().all(|c| c.starts_with("GET ")),
        "{:?}",
        emu.gitlab_calls()
    );
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );
    assert!(
        active(&emu, &value_of(&emu, id1)),
        "the old token is left alone"
    );
    let rows = read_report(&report);
    assert_eq!(rows.iter().filter(|r| r["compliant"] == "false").count(), 6);

    // Rotate the rest, then revoke-old revokes the first minted token only.
    rotate(&emu, &cfg, &t2, &[]);
    assert_all_valid(&emu, &cfg, "fully rotated");
    let out = revoke_old(&emu, &cfg, &t2, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("(id {id1})")),
        "{}",
        out.stderr
    );
    assert!(
        !active(&emu, &value_of(&emu, id1)),
        "the old token is revoked"
    );
    assert!(
        active(&emu, &value_of(&emu, id2)),
        "the current token stays"
    );
    assert!(
        active(&emu, TOKEN),
        "a token ptc-rollout did not mint is never revoked"
    );
    assert_all_valid(&emu, &cfg, "after revoke-old");

    // Converged: a re-run changes nothing, on GitLab or AWS.
    emu.reset_calls();
    let out = revoke_old(&emu, &cfg, &t2, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("nothing to revoke"), "{}", out.stderr);
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );
}

#[test]
fn status_and_report_read_the_expiry_from_gitlab() {
    let (emu, org) = setup();
    let cfg = config(&emu, "");
    assert_eq!(ptc(&emu, &["apply", "--yes"], &cfg).code, 0);
    let seeded = tokens(&emu)
        .into_iter()
        .find(|t| t["token"] == TOKEN)
        .unwrap();
    let expires = seeded["expires_at"].as_str().unwrap().to_owned();

    let out = ptc(&emu, &["token", "status"], &cfg);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains(&format!("expires: {expires} (365 days left)")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("role:    Reporter"), "{}", out.stdout);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    assert!(
        out.stdout.contains("scopes:  read_registry"),
        "{}",
        out.stdout
    );
    let out = json_status(&emu, &cfg, "30");
    assert_eq!(out.code, 0, "365 days left is not due: {}", out.stderr);
    support::json_schema::assert_valid("token-status.schema.json", &out.stdout);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["registry_token"]["expires_on"], expires.as_str());
    assert_eq!(doc["registry_token"]["days_left"], 365);
    assert_eq!(doc["other_minted_tokens"], json!([]));

    // The report's date is GitLab's, for every secret holding the current token.
    let (out, rows) = emu.compliance(&cfg);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        rows.iter()
            .all(|r| r["token_expires_on"] == expires && r["token_days_left"] == "365"),
        "{rows:?}"
    );

    // A target holding another token has no date, and says why.
    let t1 = emu.path("t1");
    assert_eq!(
        ptc(
            &emu,
            &["token", "mint", "--out", t1.to_str().unwrap()],
            &cfg
        )
        .code,
        0
    );
    let dev = org.id("dev");
    let out = ptc(
        &emu,
        &[
            "rotate",
            "--yes",
            "--accounts",
            &dev,
            "--token-file",
            t1.to_str().unwrap(),
        ],
        &cfg,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (out, rows) = emu.compliance(&cfg);
    assert_eq!(out.code, 1, "{}", out.stderr);
    for r in &rows {
        if r["account_id"] == dev {
            assert_eq!(r["token_expires_on"], "", "{r:?}");
            assert!(
                r["reasons"].contains("does not hold the current registry token"),
                "{r:?}"
            );
        } else {
            assert_eq!(r["token_expires_on"], expires, "{r:?}");
        }
    }
    let out = ptc(&emu, &["token", "status"], &cfg);
    assert!(
        out.stdout
            .contains("other tokens ptc-rollout minted in group demo-group (active):"),
        "{}",
        out.stdout
    );
    // A minted token still beside the current one is a rotation not finished: due.
    let out = ptc(&emu, &["token", "status", "--due-within-days", "30"], &cfg);
    assert_eq!(out.code, 3, "{}", out.stdout);

    // An expired registry token is due, and every row holding it says so.
    emu.post("/_ptc/gitlab", json!({ "expire": [TOKEN] }));
    let out = ptc(&emu, &["token", "status", "--due-within-days", "30"], &cfg);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stdout.contains("not active on GitLab"),
        "{}",
        out.stdout
    );
    let (_, rows) = emu.compliance(&cfg);
    let stale = rows
        .iter()
        .filter(|r| r["reasons"].contains("token not active on GitLab"))
        .count();
    assert_eq!(stale, 6, "{rows:?}");
}
