//! What `token revoke-old` may revoke: only tokens ptc-rollout minted before the current one,
//! only when no rule uses anything but ptc-rollout's secret, and never because of a target in
//! an opt-in Region the account has not enabled (no token is needed there).

use std::io::{Read, Write};

use super::*;

/// Mints a token into the CI/CD variable and `file`; returns its id and value.
fn mint(emu: &Emulator, cfg: &Path, file: &Path) -> (u64, String) {
    let out = ptc(
        emu,
        &["token", "mint", "--out", file.to_str().unwrap()],
        cfg,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let value = std::fs::read_to_string(file).unwrap().trim().to_owned();
    let t = tokens(emu)
        .into_iter()
        .find(|t| t["token"] == value)
        .unwrap();
    let name = t["name"].as_str().unwrap();
    assert!(minute_named(name), "ptc-rollout YYYY-MM-DDTHH:MMZ: {name}");
    (t["id"].as_u64().unwrap(), value)
}

/// `ptc-rollout YYYY-MM-DDTHH:MMZ`.
fn minute_named(name: &str) -> bool {
    let Some(stamp) = name.strip_prefix("ptc-rollout ") else {
        return false;
    };
    stamp.len() == 17
        && stamp.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == 'T',
            13 => c == ':',
            16 => c == 'Z',
            _ => c.is_ascii_digit(),
        })
}

fn active_id(emu: &Emulator, id: u64) -> bool {
    tokens(emu)
        .iter()
        .any(|t| t["id"] == id && t["active"] == true)
}

/// Creates a group access token through GitLab's API, as an older ptc-rollout did (`name`):
/// returns its id.
fn create_token_named(emu: &Emulator, name: &str) -> u64 {
    let addr = emu.endpoint.trim_start_matches("http://");
    let body = json!({"name": name, "scopes": ["read_registry"], "access_level": 20}).to_string();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /_gitlab/api/v4/groups/demo-group/access_tokens HTTP/1.1\r\nHost: {addr}\r\nPRIVATE-TOKEN: {API_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
    serde_json::from_str::<Value>(body).unwrap()["id"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_rule_over_another_secret_holding_the_old_token_blocks_revocation() {
    let (emu, org) = setup();
    let cfg = config(&emu, "");
    assert_eq!(ptc(&emu, &["apply", "--yes"], &cfg).code, 0);
    let (t1, t2) = (emu.path("t1"), emu.path("t2"));
    let (id1, old) = mint(&emu, &cfg, &t1);
    rotate(&emu, &cfg, &t1, &[]);
    // A second team's secret holds the old token, and dev's rule uses it.
    let dev = org.id("dev");
    let other_arn = emu.rule_over_other_secret(
        &dev,
        "ecr-pullthroughcache/other",
        json!({"username": "x", "accessToken": old}),
    );
    let (id2, _) = mint(&emu, &cfg, &t2);
    rotate(&emu, &cfg, &t2, &[]);

    // Every managed secret holds the new token and every rule validates, yet dev's rule pulls
    // with the old token: revoking it would break dev.
    emu.reset_calls();
    let out = revoke_old(&emu, &cfg, &t2, &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("still needs an old token: {dev} us-east-1"))
            && out.stderr.contains(&other_arn),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("Revoked nothing: 1 of 8 targets"),
        "{}",
        out.stderr
    );
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );
    assert!(active_id(&emu, id1) && active_id(&emu, id2));

    // apply (with the current token) takes the other team's rule over, pointing it at
    // ptc-rollout's secret; then the old token can go.
    let apply = [
        "apply",
        "--yes",
        "--adopt-rules",
        "--token-file",
        t2.to_str().unwrap(),
    ];
    assert_eq!(ptc(&emu, &apply, &cfg).code, 0);
    let out = revoke_old(&emu, &cfg, &t2, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!active_id(&emu, id1) && active_id(&emu, id2));
    assert_all_valid(&emu, &cfg, "after revoke-old");
}

#[test]
fn revoke_old_with_the_previous_token_refuses_and_revokes_nothing() {
    let (emu, _) = setup();
    let cfg = config(&emu, "");
    assert_eq!(ptc(&emu, &["apply", "--yes"], &cfg).code, 0);
    let (t1, t2) = (emu.path("t1"), emu.path("t2"));
    let (id1, previous) = mint(&emu, &cfg, &t1);
    rotate(&emu, &cfg, &t1, &[]);
    // A mint since: the variable holds the new token, not yet rolled out. A job that started
    // before it still has the previous token in its environment.
    let (id2, _) = mint(&emu, &cfg, &t2);
    emu.reset_calls();
    let out = run(emu
        .cmd()
        .env("GITLAB_API_TOKEN", API_TOKEN)
        .env("GITLAB_REGISTRY_TOKEN", &previous)
        .args(["token", "revoke-old", "--yes", "--config"])
        .arg(&cfg));
    assert_eq!(out.code, 2, "{}", out.stderr);
    for needle in [
        "upstream.token_env (GITLAB_REGISTRY_TOKEN)",
        &format!("(id {id1})"),
        &format!("(id {id2}, created 20"),
        "group CI/CD variable GITLAB_REGISTRY_TOKEN (gitlab.ci_variable)",
        "Revoked nothing",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
    assert!(!out.stderr.contains(&previous), "{}", out.stderr);
    assert!(
        emu.calls().iter().all(|c| c["service"] == "gitlab"),
        "no AWS call: {:?}",
        emu.calls()
    );
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );
    assert!(
        active_id(&emu, id2),
        "the token the variable holds stays active"
    );
    assert!(active_id(&emu, id1));
}

#[test]
fn a_newer_token_is_never_a_candidate_and_day_named_older_ones_are() {
    let (emu, _) = setup();
    // A token an earlier ptc-rollout minted, named by its day only.
    let day_named = create_token_named(&emu, "ptc-rollout 2026-11-28");
    let cfg = config(&emu, "");
    assert_eq!(ptc(&emu, &["apply", "--yes"], &cfg).code, 0);
    let (t1, t2) = (emu.path("t1"), emu.path("t2"));
    let (id1, _) = mint(&emu, &cfg, &t1);
    rotate(&emu, &cfg, &t1, &[]);
    // Likely minted within the same minute as t1: the same name, told apart by GitLab's
    // creation time and id.
    let (id2, _) = mint(&emu, &cfg, &t2);

    // Every target holds t1, but t2 is newer: not a candidate, and nothing is revoked, not
    // even the older ones, until revoke-old runs with the newest token.
    let report = emu.path("revoke-check.csv");
    let out = revoke_old(&emu, &cfg, &t1, &["--report", report.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("(id {id2}, created ")),
        "{}",
        out.stderr
    );
    assert!(!report.exists(), "refused before the check");
    for id in [day_named, id1, id2] {
        assert!(active_id(&emu, id), "{id}: {}", out.stderr);
    }

    rotate(&emu, &cfg, &t2, &[]);
    let out = revoke_old(&emu, &cfg, &t2, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("revoked \"").count(),
        2,
        "{}",
        out.stderr
    );
    assert!(!active_id(&emu, day_named) && !active_id(&emu, id1));
    assert!(active_id(&emu, id2), "the newest token stays");
    assert!(active(&emu, support::TOKEN), "not minted by ptc-rollout");
    assert_all_valid(&emu, &cfg, "after revoke-old");
}

#[test]
fn an_opt_in_region_not_enabled_is_skipped_not_behind() {
    let (emu, org) = setup();
    // af-south-1 is enabled in every account but prod.
    let prod = org.id("prod");
    for account in org.active().iter().filter(|a| **a != prod) {
        emu.post(
            "/_ptc/region_opt",
            json!({"account": account, "region": "af-south-1", "status": "ENABLED"}),
        );
    }
    let text = std::fs::read_to_string(config(&emu, "")).unwrap();
    let cfg = emu.rollout(
        "optin.toml",
        &text.replace("\"eu-west-1\"", "\"af-south-1\""),
    );
    assert_eq!(ptc(&emu, &["apply", "--yes"], &cfg).code, 0);
    let (t1, t2) = (emu.path("t1"), emu.path("t2"));
    let (id1, _) = mint(&emu, &cfg, &t1);
    rotate(&emu, &cfg, &t1, &[]);
    let (id2, _) = mint(&emu, &cfg, &t2);
    rotate(&emu, &cfg, &t2, &[]);

    let report = emu.path("revoke-check.csv");
    let out = revoke_old(&emu, &cfg, &t2, &["--report", report.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("skipped, needs no token: {prod} af-south-1")),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("still needs an old token"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("1 skipped"), "{}", out.stderr);
    assert!(!active_id(&emu, id1) && active_id(&emu, id2));
    let rows = read_report(&report);
    assert_eq!(rows.len(), 8);
    // Every target in reach is valid on the new token.
    let (_, rows) = emu.with_report(&cfg, &["validate"]);
    for r in &rows {
        if r["account_id"] == prod && r["region"] == "af-south-1" {
            assert_eq!(r["outcome"], "skipped", "{r:?}");
        } else {
            assert_eq!(r["is_valid"], "true", "{r:?}");
        }
    }
}
