//! What GitLab refuses, what is refused before any call, and the tokens never showing.

use super::*;

#[test]
fn a_401_is_never_retried_and_says_what_to_do() {
    let (emu, _) = setup();
    let cfg = config(&emu, "");
    emu.reset_calls();
    let wrong = "test-WrongApiToken-000000000";
    let out = run(emu
        .cmd()
        .env("GITLAB_API_TOKEN", wrong)
        .args(["token", "mint", "--out"])
        .arg(emu.path("t"))
        .arg("--config")
        .arg(&cfg));
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stderr.contains("401"), "{}", out.stderr);
    assert!(
        out.stderr.contains("GITLAB_API_TOKEN") && out.stderr.contains("not retried"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(wrong));
    assert_eq!(
        emu.gitlab_calls().len(),
        1,
        "one attempt: {:?}",
        emu.gitlab_calls()
    );
    assert!(!emu.path("t").exists());
    assert_eq!(tokens(&emu).len(), 2, "nothing minted");
}

#[test]
fn a_failed_read_is_retried_but_a_mint_never_is() {
    let (emu, _) = setup();
    let cfg = config(&emu, "");
    let variable = "GET /groups/demo-group/variables/GITLAB_REGISTRY_TOKEN";
    let create = "POST /groups/demo-group/access_tokens";
    emu.post(
        "/_ptc/faults",
        json!({"rules": [{"service": "gitlab", "action": variable, "kind": "http503", "times": 1}]}),
    );
    emu.reset_calls();
    let out = ptc(
        &emu,
        &["token", "mint", "--out", emu.path("t1").to_str().unwrap()],
        &cfg,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let calls = emu.gitlab_calls();
    assert_eq!(
        calls.iter().filter(|c| *c == variable).count(),
        2,
        "{calls:?}"
    );

    emu.post(
        "/_ptc/faults",
        json!({"rules": [{"service": "gitlab", "action": create, "kind": "http503", "times": 1}]}),
    );
    emu.reset_calls();
    let before = tokens(&emu).len();
    let out = ptc(
        &emu,
        &["token", "mint", "--out", emu.path("t2").to_str().unwrap()],
        &cfg,
    );
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains(create.split(' ').next().unwrap()),
        "{}",
        out.stderr
    );
    let calls = emu.gitlab_calls();
    assert_eq!(
        calls.iter().filter(|c| *c == create).count(),
        1,
        "{calls:?}"
    );
    assert_eq!(tokens(&emu).len(), before);
}

/// GitLab refused the call (exit 5), and the line says each of `needles`.
fn refused(out: &Run, needles: &[&str]) {
    assert_eq!(out.code, 5, "{}", out.stderr);
    for n in needles {
        assert!(out.stderr.contains(n), "{n}: {}", out.stderr);
    }
}

#[test]
fn gitlab_refusals_name_the_fix() {
    let (emu, _) = setup();
    let no_api = "test-ReadApiOnlyToken-11111111";
    emu.post("/_ptc/gitlab", json!({ "tokens_without_api": [no_api] }));
    let t = emu.path("t");
    let mint = |cfg: &Path, api: &str| {
        run(emu
            .cmd()
            .env("GITLAB_API_TOKEN", api)
            .args(["token", "mint", "--out"])
            .arg(&t)
            .arg("--config")
            .arg(cfg))
    };
    // A token without the api scope (or the Owner role): 403, which says so.
    let out = mint(&config(&emu, ""), no_api);
    refused(&out, &["403", "Owner"]);
    // An unknown group: 404, which names gitlab.group.
    let cfg = emu.rollout(
        "other.toml",
        &std::fs::read_to_string(config(&emu, ""))
            .unwrap()
            .replace("demo-group", "no/such-group"),
    );
    let out = mint(&cfg, API_TOKEN);
    refused(&out, &["404", "gitlab.group"]);
    // An instance whose administrator allows 90 days at most: 400, which says the limit.
    emu.post("/_ptc/gitlab", json!({ "max_lifetime_days": 90 }));
    let out = mint(&config(&emu, ""), API_TOKEN);
    refused(&out, &["400", "--expires-in-days"]);
    let out = run(emu
        .cmd()
        .env("GITLAB_API_TOKEN", API_TOKEN)
        .args(["token", "mint", "--expires-in-days", "90", "--out"])
        .arg(&t)
        .arg("--config")
        .arg(config(&emu, "")));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn a_free_group_and_an_api_token_that_is_not_an_owners_get_gitlabs_own_words() {
    let (emu, _) = setup();
    let cfg = config(&emu, "");
    // GitLab.com Free: no group access tokens. GitLab's message as it is, then the causes it
    // covers; not the lifetime hint, which is about another 400.
    emu.post(
        "/_ptc/gitlab",
        json!({ "groups": [{ "id": 4242, "full_path": "demo-group", "tier": "free" }] }),
    );
    let out = ptc(
        &emu,
        &["token", "mint", "--out", emu.path("t").to_str().unwrap()],
        &cfg,
    );
    refused(
        &out,
        &[
            "400 Bad request - User does not have permission to create group access token",
            "Owner of group demo-group",
            "Premium or Ultimate",
            "deploy token",
        ],
    );
    assert!(!out.stderr.contains("--expires-in-days"), "{}", out.stderr);
    assert!(!emu.path("t").exists());

    // A valid API token of a Maintainer: GitLab answers the group's token list with 401, as it
    // does a wrong token, so the line says both.
    let maintainer = "test-MaintainerApiToken-3333333";
    emu.post("/_ptc/gitlab", json!({ "maintainer_tokens": [maintainer] }));
    let out = run(emu
        .cmd()
        .env("GITLAB_API_TOKEN", maintainer)
        .args(["token", "status", "--config"])
        .arg(&cfg));
    refused(
        &out,
        &[
            "401",
            "wrong, expired or revoked",
            "not an Owner of group demo-group",
        ],
    );
    assert!(!out.stderr.contains(maintainer));
}

#[test]
fn bad_input_is_refused_before_any_call() {
    let (emu, _) = setup();
    let no_gitlab = emu.rollout("plain.toml", &rollout_text(""));
    let base = std::fs::read_to_string(config(&emu, "")).unwrap();
    let with = |name: &str, from: &str, to: &str| emu.rollout(name, &base.replace(from, to));
    let empty_group = with("g.toml", "group = \"demo-group\"", "group = \"\"");
    let http = with(
        "h.toml",
        &emu.gitlab_api_url(),
        "http://gitlab.example.com/api/v4",
    );
    let no_variable = with("v.toml", "ci_variable = \"GITLAB_REGISTRY_TOKEN\"\n", "");
    let good = base_path(&emu);
    let dated = with(
        "d.toml",
        "token_env = \"GITLAB_REGISTRY_TOKEN\"",
        "token_env = \"GITLAB_REGISTRY_TOKEN\"\ntoken_expires_on = \"2027-01-01\"",
    );
    let cases: Vec<(Vec<&str>, &Path, &str)> = vec![
        (vec!["token", "status"], &no_gitlab, "[gitlab]"),
        (vec!["token", "mint"], &no_gitlab, "[gitlab]"),
        (vec!["token", "revoke-old", "--yes"], &no_gitlab, "[gitlab]"),
        (vec!["token", "mint"], &empty_group, "gitlab.group"),
        (vec!["token", "status"], &http, "gitlab.api_url"),
        (vec!["token", "mint"], &no_variable, "--out"),
        (
            vec!["token", "mint", "--expires-in-days", "0"],
            &empty_group,
            "--expires-in-days",
        ),
        (
            vec!["token", "mint", "--expires-in-days", "366"],
            &empty_group,
            "--expires-in-days",
        ),
        (
            vec!["token", "mint", "--out", "-"],
            &no_variable,
            "standard output",
        ),
        (vec!["report"], &dated, "upstream.token_expires_on"),
        (vec!["token", "revoke-old"], &good, "--yes"),
    ];
    emu.reset_calls();
    for (args, cfg, field) in cases {
        let out = ptc(&emu, &args, cfg);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(field), "{args:?}: {}", out.stderr);
    }
    // Without the API token in the environment.
    let out = run(emu.cmd().args(["token", "mint", "--config"]).arg(&good));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("GITLAB_API_TOKEN is not set"),
        "{}",
        out.stderr
    );
    assert!(emu.calls().is_empty(), "no call at all: {:?}", emu.calls());
}

fn base_path(emu: &Emulator) -> PathBuf {
    config(emu, "")
}

#[test]
fn no_token_shows_at_any_verbosity() {
    let (emu, _) = setup();
    let cfg = config(&emu, "");
    let t1 = emu.path("t1");
    let t1_arg = t1.to_str().unwrap();
    let report = emu.path("check.csv");
    let steps: Vec<Vec<&str>> = vec![
        vec!["apply", "--yes"],
        vec!["token", "status", "--format", "json"],
        vec!["token", "mint", "--out", t1_arg],
        vec!["rotate", "--yes", "--token-file", t1_arg],
        vec!["token", "status", "--token-file", t1_arg],
        vec!["report", "--token-file", t1_arg],
        vec![
            "token",
            "revoke-old",
            "--yes",
            "--token-file",
            t1_arg,
            "--report",
            report.to_str().unwrap(),
        ],
    ];
    let mut seen = String::new();
    for args in steps {
        let mut all = vec!["-vvv"];
        all.extend(&args);
        let out = ptc(&emu, &all, &cfg);
        assert!(out.code == 0 || out.code == 1, "{args:?}: {}", out.stderr);
        seen.push_str(&out.stdout);
        seen.push_str(&out.stderr);
    }
    seen.push_str(&std::fs::read_to_string(&report).unwrap());
    let minted: Vec<String> = tokens(&emu)
        .iter()
        .map(|t| t["token"].as_str().unwrap().to_owned())
        .filter(|v| v.starts_with("glpat-"))
        .collect();
    assert_eq!(minted.len(), 1);
    assert!(
        seen.contains("GET /personal_access_tokens/self")
            || seen.contains("personal_access_tokens/self"),
        "the -vvv log covers GitLab's calls"
    );
    for secret in [TOKEN, API_TOKEN, minted[0].as_str()] {
        assert!(!seen.contains(secret), "a token leaked at -vvv");
    }
}
