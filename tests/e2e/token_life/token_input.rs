//! Tokens with characters no GitLab token has (a byte order mark from a Windows editor, a
//! zero-width character pasted along, a control character) and group paths GitLab would not
//! name: refused before any AWS or GitLab call, with the position and the source, never the
//! token.

use super::*;

/// Runs the binary with `env` (and the API token unless `env` sets it); asserts exit 2, each
/// needle in the refusal, no token in the output, and no call at all.
fn refused(emu: &Emulator, env: &[(&str, &str)], args: &[&str], cfg: &Path, needles: &[&str]) {
    emu.reset_calls();
    let mut cmd = emu.cmd();
    cmd.env("GITLAB_API_TOKEN", API_TOKEN);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(cmd.args(args).arg("--config").arg(cfg));
    assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
    for n in needles {
        assert!(out.stderr.contains(n), "{args:?} {n}: {}", out.stderr);
    }
    for secret in [TOKEN, API_TOKEN, "TestTokenValue", "ApiOwnerToken"] {
        assert!(
            !out.stderr.contains(secret),
            "a token leaked: {}",
            out.stderr
        );
    }
    assert!(emu.calls().is_empty(), "{args:?}: {:?}", emu.calls());
}

#[test]
fn a_registry_token_with_a_mark_or_an_invisible_character_is_refused_before_any_call() {
    let (emu, _) = setup();
    let cfg = config(&emu, "");
    let env = "upstream.token_env (GITLAB_REGISTRY_TOKEN)";
    let after_token = format!("character {} ", TOKEN.len() + 1);
    let cases = [
        (
            format!("\u{FEFF}{TOKEN}"),
            "character 1 ",
            "byte order mark",
        ),
        (
            format!("{TOKEN}\u{200B}"),
            after_token.as_str(),
            "zero-width",
        ),
        (
            format!("test-\u{2060}{}", &TOKEN[5..]),
            "character 6 ",
            "(U+2060)",
        ),
        (
            format!("test-\u{200D}{}", &TOKEN[5..]),
            "character 6 ",
            "(U+200D)",
        ),
        (
            format!("test-\u{7}{}", &TOKEN[5..]),
            "character 6 ",
            "control",
        ),
        (
            format!("test-\t{}", &TOKEN[5..]),
            "character 6 ",
            "whitespace",
        ),
    ];
    for (value, at, kind) in &cases {
        for args in [&["apply", "--yes"][..], &["token", "status"][..]] {
            refused(
                &emu,
                &[("GITLAB_REGISTRY_TOKEN", value)],
                args,
                &cfg,
                &[env, at, kind],
            );
        }
    }

    // A file saved by a Windows editor "as UTF-8 with BOM", with its CRLF line end.
    let file = emu.path("token-with-bom");
    std::fs::write(&file, format!("\u{FEFF}{TOKEN}\r\n")).unwrap();
    let shown = format!("--token-file {}", file.display());
    for args in [&["rotate", "--yes"][..], &["token", "status"][..]] {
        let mut args = args.to_vec();
        args.extend(["--token-file", file.to_str().unwrap()]);
        refused(
            &emu,
            &[],
            &args,
            &cfg,
            &[&shown, "character 1 ", "byte order mark"],
        );
    }
    let zero_width = emu.path("token-with-zwsp");
    std::fs::write(&zero_width, format!("test-\u{200B}{}\n", &TOKEN[5..])).unwrap();
    let args = [
        "token",
        "status",
        "--token-file",
        zero_width.to_str().unwrap(),
    ];
    refused(&emu, &[], &args, &cfg, &["character 6 ", "zero-width"]);

    // Without the mark, the same file (a trailing CRLF, as a trailing newline) is accepted.
    std::fs::write(&file, format!("{TOKEN}\r\n")).unwrap();
    let out = ptc(
        &emu,
        &["token", "status", "--token-file", file.to_str().unwrap()],
        &cfg,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn an_api_token_with_an_invisible_character_is_refused_before_any_call() {
    let (emu, _) = setup();
    let cfg = config(&emu, "");
    let field = "gitlab.api_token_env (GITLAB_API_TOKEN)";
    let with_bom = format!("\u{FEFF}{API_TOKEN}");
    let with_zwsp = format!("{API_TOKEN}\u{200B}");
    let end = format!("character {} ", API_TOKEN.len() + 1);
    let minted = emu.path("minted");
    for (value, needles) in [
        (&with_bom, [field, "character 1 ", "byte order mark"]),
        (&with_zwsp, [field, end.as_str(), "zero-width"]),
    ] {
        for args in [
            &["token", "mint", "--out", minted.to_str().unwrap()][..],
            &["token", "revoke-old", "--yes"][..],
        ] {
            refused(&emu, &[("GITLAB_API_TOKEN", value)], args, &cfg, &needles);
        }
    }
    assert!(!emu.gitlab_calls().iter().any(|c| c.starts_with("POST")));
}

#[test]
fn group_paths_gitlab_would_not_name_are_refused_before_any_call() {
    let (emu, _) = setup();
    let base = std::fs::read_to_string(config(&emu, "")).unwrap();
    let minted = emu.path("minted");
    for (group, why) in [
        (".", "segment 1 is \".\""),
        ("..", "segment 1 is \"..\""),
        ("demo-group/..", "segment 2 is \"..\""),
        ("demo-group/./sub", "segment 2 is \".\""),
        ("/demo-group", "starts or ends with /"),
        ("demo-group/", "starts or ends with /"),
        ("demo-group//sub", "segment 2 is empty"),
        ("demo-group.git", "ends in .git or .atom"),
        ("demo-group/sub.atom", "ends in .git or .atom"),
        ("-demo-group", "segment 1 holds"),
        ("demo-group.", "segment 1 holds"),
    ] {
        let cfg = emu.rollout(
            "group.toml",
            &base.replace("group = \"demo-group\"", &format!("group = {group:?}")),
        );
        for args in [
            &["token", "mint", "--out", minted.to_str().unwrap()][..],
            &["token", "status"][..],
        ] {
            refused(
                &emu,
                &[("GITLAB_REGISTRY_TOKEN", TOKEN)],
                args,
                &cfg,
                &["gitlab.group", why],
            );
        }
    }
}
