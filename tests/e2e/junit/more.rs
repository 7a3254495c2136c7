//! `<error>` for a target an error kept from being checked, `--junit` on `destroy` and
//! `token revoke-old`, and `--junit` naming the report's own file refused before any call.

use super::*;

use crate::support::API_TOKEN;

/// The standard rollout file with a `[gitlab]` table, the emulator's GitLab knowing
/// [`API_TOKEN`] as an Owner's.
fn gitlab_config(emu: &Emulator) -> PathBuf {
    emu.post("/_ptc/gitlab", json!({ "owner_tokens": [API_TOKEN] }));
    let text = format!(
        "{}\n[gitlab]\ngroup = \"demo-group\"\napi_url = \"{}\"\nci_variable = \"GITLAB_REGISTRY_TOKEN\"\n",
        rollout_text(""),
        emu.gitlab_api_url()
    );
    emu.rollout("gitlab.toml", &text)
}

#[test]
fn an_account_that_refuses_assume_role_is_an_error_not_a_failure() {
    let (emu, org) = organization();
    let cfg = config(&emu, "");
    let out = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dev = org.id("dev");
    emu.deny_assume_role(&[&dev]);
    let is_dev = |name: &str| name.starts_with(&format!("{dev}/"));

    let (out, cases, rows) = with_junit(&emu, &cfg, &["validate"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_cases_follow_rows(&org, &cases, &rows);
    for (name, case) in &cases {
        match &case.status {
            Status::Errored { kind, message, .. } if is_dev(name) => {
                assert_eq!(kind, "failed");
                assert!(message.contains("AccessDenied"), "{message}");
            }
            Status::Passed if !is_dev(name) => {}
            other => panic!("{name}: {other:?}"),
        }
    }

    // The compliance export: dev's rows were not inspected, an error too.
    let (out, cases, _) = with_junit(&emu, &cfg, &["report"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    for (name, case) in &cases {
        match &case.status {
            Status::Errored {
                kind,
                message,
                text,
            } if is_dev(name) => {
                assert_eq!(kind, "not inspected");
                assert!(message.contains("AccessDenied"), "{message}");
                assert!(text.starts_with("not inspected:"), "{text}");
            }
            Status::Passed if !is_dev(name) => {}
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn destroy_and_revoke_old_write_a_case_per_target() {
    let (emu, org) = Emulator::with_org();
    let cfg = gitlab_config(&emu);
    let targets = org.active().len() * 2;
    // A token GitLab minted, rotated into every secret: the current one.
    let token = emu.path("token");
    let ptc = |args: &[&str]| {
        run(emu
            .cmd()
            .env("GITLAB_API_TOKEN", API_TOKEN)
            .args(args)
            .arg("--config")
            .arg(&cfg))
    };
    let token_arg = token.to_str().unwrap();
    assert_eq!(ptc(&["apply", "--yes"]).code, 0);
    let out = ptc(&["token", "mint", "--out", token_arg]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = ptc(&["rotate", "--yes", "--token-file", token_arg]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dev = org.id("dev");
    emu.mutate(
        json!({"op": "delete_rule", "account": dev, "region": "eu-west-1", "prefix": "gitlab"}),
    );

    // revoke-old: the target without a rule is not proven on the current token, a failure.
    let junit = emu.path("revoke.xml");
    let junit_arg = junit.to_str().unwrap();
    let revoke = ["token", "revoke-old", "--yes", "--token-file", token_arg];
    let out = ptc(&[&revoke[..], &["--junit", junit_arg]].concat());
    assert_eq!(out.code, 1, "{}", out.stderr);
    let cases = read_junit(&junit);
    assert_eq!(cases.len(), targets);
    for (name, case) in &cases {
        match &case.status {
            Status::Failed { kind, text, .. } if *name == format!("{dev}/eu-west-1") => {
                assert_eq!(kind, "behind");
                assert!(text.starts_with("still needs an old token: "), "{text}");
            }
            Status::Passed if *name != format!("{dev}/eu-west-1") => {}
            other => panic!("{name}: {other:?}"),
        }
    }

    // destroy: every target removed passes.
    let junit = emu.path("destroy.xml");
    let out = ptc(&["destroy", "--yes", "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let cases = read_junit(&junit);
    assert_eq!(cases.len(), targets);
    assert!(
        cases.values().all(|c| c.status == Status::Passed),
        "{cases:?}"
    );
}

#[test]
fn a_junit_file_that_is_the_report_is_refused_before_any_call() {
    let (emu, _) = Emulator::with_org();
    let cfg = gitlab_config(&emu);
    let file = emu.path("same.xml");
    let same = file.to_str().unwrap().to_owned();
    // The same file by another spelling.
    let dir = file.parent().unwrap();
    let dotted = format!("{}/./same.xml", dir.display());
    let commands: [(&[&str], &str); 8] = [
        (&["plan"], "--out"),
        (&["apply", "--yes"], "--report"),
        (&["validate"], "--report"),
        (
            &["probe", "--image", "demo-group/demo-project/app:1.0"],
            "--report",
        ),
        (&["rotate", "--yes"], "--report"),
        (&["report"], "--out"),
        (&["destroy", "--yes"], "--report"),
        (&["token", "revoke-old", "--yes"], "--report"),
    ];
    for (args, flag) in commands {
        let out = run(emu
            .cmd()
            .env("GITLAB_API_TOKEN", API_TOKEN)
            .args(args)
            .arg("--config")
            .arg(&cfg)
            .args(["--junit", &same, flag, &dotted]));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("--junit") && out.stderr.contains(&format!("{flag} both name")),
            "{args:?}: {}",
            out.stderr
        );
        assert!(emu.calls().is_empty(), "{args:?} called: {:?}", emu.calls());
        assert!(!file.exists(), "{args:?} wrote the file");
    }
}
