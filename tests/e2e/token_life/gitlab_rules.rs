//! GitLab's own rules the token commands follow: a token expires at 00:00 UTC on its expiry
//! date, and a CI/CD variable `token mint` creates is masked and hidden (GitLab 17.4+), so not
//! even a group Owner can reveal the token, while a variable that exists keeps its settings;
//! the group's token list comes a page (at most 100) at a time.

use super::*;

fn variable(emu: &Emulator, key: &str) -> Value {
    emu.gitlab()["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == key)
        .cloned()
        .expect("the CI/CD variable")
}

fn mint(emu: &Emulator, cfg: &Path, file: &str) -> Run {
    let out = ptc(
        emu,
        &["token", "mint", "--out", emu.path(file).to_str().unwrap()],
        cfg,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    out
}

fn newest_id(emu: &Emulator) -> u64 {
    tokens(emu)
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .max()
        .unwrap()
}

fn newest_value(emu: &Emulator) -> String {
    let t = tokens(emu)
        .into_iter()
        .max_by_key(|t| t["id"].as_u64().unwrap())
        .unwrap();
    t["token"].as_str().unwrap().to_owned()
}

#[test]
fn a_new_variable_is_masked_and_hidden_and_an_existing_one_keeps_its_settings() {
    let (emu, _) = setup();
    let cfg = config(&emu, "");
    let out = mint(&emu, &cfg, "t1");
    let v = variable(&emu, "GITLAB_REGISTRY_TOKEN");
    assert_eq!(
        (&v["masked"], &v["hidden"], &v["protected"], &v["raw"]),
        (&json!(true), &json!(true), &json!(true), &json!(true)),
        "{v}"
    );
    assert_eq!(v["value"].as_str().unwrap(), newest_value(&emu));
    // What a read back compares, the value being hidden.
    let id = newest_id(&emu);
    assert_eq!(
        v["description"],
        format!("ptc-rollout registry token, id {id}")
    );
    assert!(
        out.stderr
            .contains("(created; masked: true, hidden: true, protected: true)"),
        "{}",
        out.stderr
    );
    // A hidden variable's value can still be replaced: the next mint does only that.
    let out = mint(&emu, &cfg, "t2");
    let v = variable(&emu, "GITLAB_REGISTRY_TOKEN");
    assert_eq!(v["value"].as_str().unwrap(), newest_value(&emu));
    assert_eq!((&v["masked"], &v["hidden"]), (&json!(true), &json!(true)));
    let id = newest_id(&emu);
    assert_eq!(
        v["description"],
        format!("ptc-rollout registry token, id {id}")
    );
    assert!(
        out.stderr.contains("(updated; masked: true, hidden: true"),
        "{}",
        out.stderr
    );

    // A variable made visible in the UI stays as it was set: only its value changes.
    let visible = emu.rollout(
        "visible.toml",
        &std::fs::read_to_string(&cfg).unwrap().replace(
            "ci_variable = \"GITLAB_REGISTRY_TOKEN\"",
            "ci_variable = \"PTC_VISIBLE\"",
        ),
    );
    emu.post(
        "/_ptc/gitlab",
        json!({"variables": [{"key": "PTC_VISIBLE", "value": "placeholder-value", "masked": true}]}),
    );
    let out = mint(&emu, &visible, "t3");
    let v = variable(&emu, "PTC_VISIBLE");
    assert_eq!(v["value"].as_str().unwrap(), newest_value(&emu));
    assert_eq!(
        (&v["masked"], &v["hidden"], &v["protected"]),
        (&json!(true), &json!(false), &json!(false)),
        "{v}"
    );
    assert_eq!(
        v["description"],
        Value::Null,
        "its description is not ptc-rollout's"
    );
    assert!(
        out.stderr.contains("(updated; masked: true, hidden: false"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_token_expiring_today_is_expired() {
    let (emu, _) = setup();
    let cfg = config(&emu, "");
    // Dated tomorrow, it still works today: 1 day left, not due within 0 days.
    emu.post("/_ptc/gitlab", json!({"expires_in_days": {TOKEN: 1}}));
    let out = json_status(&emu, &cfg, "0");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["registry_token"]["days_left"], 1, "{doc}");
    assert_eq!(doc["registry_token"]["expires_on"], support::date_in(1));
    // Dated today, GitLab expired it at 00:00 UTC: no longer active, so due whatever N.
    emu.post("/_ptc/gitlab", json!({"expires_in_days": {TOKEN: 0}}));
    let out = json_status(&emu, &cfg, "0");
    assert_eq!(out.code, 3, "{}", out.stdout);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["registry_token_active"], false, "{doc}");
    let out = ptc(&emu, &["token", "status"], &cfg);
    assert!(
        out.stdout.contains("not active on GitLab"),
        "{}",
        out.stdout
    );
}

#[test]
fn the_group_token_list_is_read_page_by_page_to_its_end() {
    // GitLab serves at most 100 tokens a page: 230 others put the registry token, a Guest
    // here, and the token minted after it on the third page.
    let (emu, _) = setup();
    let cfg = config(&emu, "");
    let mut seeded: Vec<Value> = (0..230)
        .map(|i| json!(format!("test-FillerToken-{i:04}-xxxxxxxx")))
        .collect();
    seeded.push(json!({"token": TOKEN, "access_level": 10}));
    emu.post("/_ptc/valid_tokens", json!({ "tokens": seeded }));
    let file = emu.path("t1");
    let out = ptc(
        &emu,
        &["token", "mint", "--out", file.to_str().unwrap()],
        &cfg,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let minted = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    let minted_id = tokens(&emu).iter().find(|t| t["token"] == *minted).unwrap()["id"].clone();

    emu.reset_calls();
    let out = ptc(&emu, &["token", "status", "--format", "json"], &cfg);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        doc["registry_token"]["role"], "Guest",
        "read from the last page"
    );
    let others = doc["other_minted_tokens"].as_array().unwrap();
    assert_eq!(others.len(), 1, "{others:?}");
    assert_eq!(others[0]["id"], minted_id);
    let calls = emu.gitlab_calls();
    let pages = calls
        .iter()
        .filter(|c| *c == "GET /groups/demo-group/access_tokens")
        .count();
    assert_eq!(pages, 3, "three pages, no fourth: {calls:?}");
}
