//! `token mint` when GitLab's answer to storing the new token is lost (a 502 after the write
//! was applied, a 5xx throughout): the variable read back decides, and the variable never ends
//! up holding a token mint revoked.

use super::*;

const VARIABLE: &str = "GITLAB_REGISTRY_TOKEN";

fn variable_call(method: &str) -> String {
    format!("{method} /groups/demo-group/variables/{VARIABLE}")
}

/// The variable's value, if the group has it.
fn variable_value(emu: &Emulator, key: &str) -> Option<String> {
    emu.gitlab()["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == key)
        .map(|v| v["value"].as_str().unwrap().to_owned())
}

/// The newest token of the group: (id, value, name, active).
fn newest(emu: &Emulator) -> (u64, String, String, bool) {
    let t = tokens(emu)
        .into_iter()
        .max_by_key(|t| t["id"].as_u64().unwrap())
        .unwrap();
    (
        t["id"].as_u64().unwrap(),
        t["token"].as_str().unwrap().to_owned(),
        t["name"].as_str().unwrap().to_owned(),
        t["active"] == true,
    )
}

/// A mint that stores into the variable and `file`, with `faults` in place for it alone.
fn mint_with(emu: &Emulator, cfg: &Path, file: &Path, faults: Value) -> Run {
    emu.post("/_ptc/faults", json!({ "rules": faults }));
    emu.reset_calls();
    let out = ptc(
        emu,
        &["token", "mint", "--out", file.to_str().unwrap()],
        cfg,
    );
    emu.post("/_ptc/faults", json!({ "rules": [] }));
    out
}

/// The group with the variable already holding a minted token (its value returned).
fn minted_once(emu: &Emulator, cfg: &Path) -> String {
    let out = ptc(
        emu,
        &["token", "mint", "--out", emu.path("t1").to_str().unwrap()],
        cfg,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    variable_value(emu, VARIABLE).unwrap()
}

/// A first mint that goes through, then a second one into the file `t2` with `faults` in
/// place for it alone: (emulator, config, the first token, the file, the second mint's run).
fn second_mint(faults: Value) -> (Emulator, PathBuf, String, PathBuf, Run) {
    let (emu, _) = setup();
    let cfg = config(&emu, "");
    let old = minted_once(&emu, &cfg);
    let file = emu.path("t2");
    let out = mint_with(&emu, &cfg, &file, faults);
    (emu, cfg, old, file, out)
}

fn assert_no_token_shown(out: &Run, emu: &Emulator) {
    for t in tokens(emu) {
        let value = t["token"].as_str().unwrap();
        assert!(
            !out.stderr.contains(value) && !out.stdout.contains(value),
            "a token leaked"
        );
    }
}

#[test]
fn a_lost_answer_to_a_write_gitlab_applied_is_a_mint_that_succeeded() {
    // An existing variable: every PUT is applied, then answered 502 (each retry too).
    let (emu, cfg, old, file, out) = second_mint(
        json!([{"service": "gitlab", "action": variable_call("PUT"), "kind": "apply_then_http502"}]),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("read back, the variable holds the new token"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("502"), "{}", out.stderr);
    let (id, value, _, is_active) = newest(&emu);
    assert!(is_active, "the new token is kept");
    assert_eq!(variable_value(&emu, VARIABLE).as_deref(), Some(&*value));
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), value);
    assert!(active(&emu, &old), "the old token keeps working");
    let calls = emu.gitlab_calls();
    assert!(!calls.iter().any(|c| c.starts_with("DELETE ")), "{calls:?}");
    assert_eq!(
        calls.last().map(String::as_str),
        Some(&*variable_call("GET")),
        "read back after the lost answer: {calls:?}"
    );
    assert!(out.stderr.contains(&format!("id {id}")), "{}", out.stderr);
    assert_no_token_shown(&out, &emu);

    // A new variable: the one POST (never retried) is applied, then answered 502.
    let fresh = emu.rollout(
        "fresh.toml",
        &std::fs::read_to_string(&cfg).unwrap().replace(
            "ci_variable = \"GITLAB_REGISTRY_TOKEN\"",
            "ci_variable = \"PTC_FRESH\"",
        ),
    );
    let out = mint_with(
        &emu,
        &fresh,
        &emu.path("t3"),
        json!([{"service": "gitlab", "action": "POST /groups/demo-group/variables",
                "kind": "apply_then_http502"}]),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("(created;"), "{}", out.stderr);
    let (_, value, _, is_active) = newest(&emu);
    assert!(is_active);
    assert_eq!(variable_value(&emu, "PTC_FRESH").as_deref(), Some(&*value));
    assert_no_token_shown(&out, &emu);
}

#[test]
fn a_lost_answer_with_the_old_value_read_back_revokes_the_new_token() {
    // Every PUT answered 503 without being applied: the variable still holds the old token.
    let (emu, _, old, file, out) = second_mint(
        json!([{"service": "gitlab", "action": variable_call("PUT"), "kind": "http503"}]),
    );
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("does not hold the new token")
            && out.stderr.contains("revoked again; nothing changed"),
        "{}",
        out.stderr
    );
    let (_, value, _, is_active) = newest(&emu);
    assert!(!is_active, "the new token is revoked");
    assert_eq!(variable_value(&emu, VARIABLE), Some(old.clone()));
    assert!(active(&emu, &old));
    assert!(!file.exists(), "the file for a revoked token is removed");
    let calls = emu.gitlab_calls();
    let read_back = calls.iter().rposition(|c| *c == variable_call("GET"));
    let revoke = calls.iter().position(|c| c.starts_with("DELETE "));
    assert!(
        read_back.is_some() && read_back < revoke,
        "read back before revoking: {calls:?}"
    );
    assert!(!out.stderr.contains(&value));
    assert_no_token_shown(&out, &emu);
}

#[test]
fn an_unreadable_variable_after_a_lost_answer_revokes_nothing_and_says_what_to_check() {
    // The PUT is applied but answered 502; then the read back fails (its first GET, before
    // the mint, goes through).
    let (emu, _, old, file, out) = second_mint(json!([
        {"service": "gitlab", "action": variable_call("PUT"), "kind": "apply_then_http502"},
        {"service": "gitlab", "action": variable_call("GET"), "kind": "http503", "skip": 1},
    ]));
    assert_eq!(out.code, 6, "{}", out.stderr);
    let (id, value, name, is_active) = newest(&emu);
    assert!(is_active, "nothing revoked: the variable may hold it");
    let calls = emu.gitlab_calls();
    assert!(!calls.iter().any(|c| c.starts_with("DELETE ")), "{calls:?}");
    assert_eq!(
        calls.iter().filter(|c| **c == variable_call("GET")).count(),
        4,
        "one read before the mint, three attempts after: {calls:?}"
    );
    for needle in [
        format!("{name:?} (id {id})"),
        "nothing was revoked".to_owned(),
        "Settings > CI/CD > Variables".to_owned(),
        "token status".to_owned(),
        "Settings > Access tokens".to_owned(),
        format!("written to {}", file.display()),
    ] {
        assert!(out.stderr.contains(&needle), "{needle}: {}", out.stderr);
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), value);
    // Here the write had happened: the variable holds the new, active token.
    assert_eq!(variable_value(&emu, VARIABLE).as_deref(), Some(&*value));
    assert!(active(&emu, &old));
    assert_no_token_shown(&out, &emu);
}
