//! Bad input is refused before any AWS call, with exit code 2 and a message naming the field;
//! and the token never appears in any output or file, at any verbosity.

use std::io::Write;
use std::process::Stdio;

use crate::support;
use serde_json::json;
use support::{rollout_text, run, Emulator, TOKEN};

/// (what is wrong, rollout file, extra flags, text the error must contain)
fn cases(good: &str) -> Vec<(&'static str, String, Vec<&'static str>, &'static str)> {
    let edit = |from: &str, to: &str| {
        assert!(good.contains(from), "{from}");
        good.replace(from, to)
    };
    vec![
        (
            "prefix pattern",
            edit("\"gitlab\"", "\"GitLab!\""),
            vec![],
            "rule.ecr_repository_prefix",
        ),
        (
            "prefix too short",
            edit("\"gitlab\"", "\"g\""),
            vec![],
            "rule.ecr_repository_prefix",
        ),
        (
            "prefix too long",
            edit("\"gitlab\"", &format!("\"{}\"", "a".repeat(31))),
            vec![],
            "rule.ecr_repository_prefix",
        ),
        (
            "secret prefix",
            edit("\"ecr-pullthroughcache/gitlab\"", "\"gitlab-token\""),
            vec![],
            "rule.secret_name",
        ),
        (
            "secret chars",
            edit(
                "\"ecr-pullthroughcache/gitlab\"",
                "\"ecr-pullthroughcache/git lab\"",
            ),
            vec![],
            "rule.secret_name",
        ),
        (
            "malformed Region",
            edit("\"eu-west-1\"", "\"eu_west_1\""),
            vec![],
            "targets.regions[1]",
        ),
        (
            "unknown Region",
            edit("\"eu-west-1\"", "\"eu-west-7\""),
            vec![],
            "allow_unknown_regions",
        ),
        (
            "empty Regions",
            edit("[\"us-east-1\", \"eu-west-1\"]", "[]"),
            vec![],
            "targets.regions",
        ),
        (
            "account id",
            edit("role_name =", "accounts = [\"1234\"]\nrole_name ="),
            vec![],
            "targets.accounts[0]",
        ),
        (
            "OU id",
            edit(
                "role_name =",
                "organizational_units = [\"ou-x\"]\nrole_name =",
            ),
            vec![],
            "targets.organizational_units[0]",
        ),
        (
            "unknown key",
            edit("role_name =", "colour = \"blue\"\nrole_name ="),
            vec![],
            "unknown field `colour`",
        ),
        (
            "empty username",
            edit("\"ptc-bot\"", "\"\""),
            vec![],
            "upstream.username",
        ),
        (
            "token variable unset",
            edit("\"GITLAB_REGISTRY_TOKEN\"", "\"PTC_UNSET_VARIABLE\""),
            vec![],
            "PTC_UNSET_VARIABLE is not set",
        ),
        (
            "unreadable token file",
            good.to_owned(),
            vec!["--token-file", "/nonexistent/token"],
            "--token-file",
        ),
        (
            "Region outside the file",
            good.to_owned(),
            vec!["--regions", "ap-south-1"],
            "--regions",
        ),
        (
            "bad --accounts",
            good.to_owned(),
            vec!["--accounts", "abc"],
            "--accounts",
        ),
        (
            "report directory",
            good.to_owned(),
            vec!["--report", "/nonexistent/dir/r.csv"],
            "--report",
        ),
        (
            "saved plan",
            good.to_owned(),
            vec!["--plan", "/nonexistent/plan.json"],
            "--plan",
        ),
        (
            "no confirmation possible",
            good.to_owned(),
            vec!["--no-yes"],
            "--yes",
        ),
        (
            "a flag for the token",
            good.to_owned(),
            vec!["--token", "glpat-x"],
            "unexpected argument '--token'",
        ),
    ]
}

#[test]
fn bad_input_is_refused_before_any_aws_call() {
    let emu = Emulator::start();
    let good = rollout_text("");
    for (what, text, flags, expect) in cases(&good) {
        let config = emu.rollout("bad.toml", &text);
        let mut cmd = emu.cmd();
        cmd.arg("apply").arg("--config").arg(&config);
        let yes = !flags.contains(&"--no-yes");
        if yes {
            cmd.arg("--yes");
        }
        cmd.args(flags.iter().filter(|f| **f != "--no-yes"));
        if what == "empty Regions" || what == "token variable unset" {
            cmd.env("GITLAB_REGISTRY_TOKEN", "");
        }
        let out = run(&mut cmd);
        assert_eq!(out.code, 2, "{what}: {}", out.stderr);
        assert!(
            out.stderr.contains(expect),
            "{what}: expected {expect:?} in {}",
            out.stderr
        );
        assert!(
            emu.calls().is_empty(),
            "{what}: AWS was called: {:?}",
            emu.calls()
        );
        assert!(!std::path::Path::new("/nonexistent/dir/r.csv").exists());
    }
    // An empty token is refused like an unset one.
    let config = emu.rollout("good.toml", &good);
    let out = run(emu
        .cmd()
        .args(["apply", "--yes", "--config"])
        .arg(&config)
        .env("GITLAB_REGISTRY_TOKEN", ""));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("the token is empty"), "{}", out.stderr);
    // plan and validate need no token, and check their own flags.
    let out = run(emu
        .cmd()
        .args(["plan", "--out", "/nonexistent/dir/p.json", "--config"])
        .arg(&config));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = run(emu
        .cmd()
        .args(["validate", "--regions", "xx-nowhere-1", "--config"])
        .arg(&config));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = run(emu
        .cmd()
        .args(["plan", "--config", "/nonexistent/rollout.toml"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(emu.calls().is_empty());
}

#[test]
fn the_token_never_appears_in_output_or_files() {
    let (emu, org) = Emulator::with_org();
    let config = emu.rollout("r.toml", &rollout_text(""));
    emu.deny_assume_role(&[&org.id("dev")]);
    let mut seen = String::new();
    let record = |seen: &mut String, out: support::Run| {
        seen.push_str(&out.stdout);
        seen.push_str(&out.stderr);
    };
    let plan = emu.path("plan.json");
    record(
        &mut seen,
        run(emu
            .cmd()
            .args(["-vvv", "plan", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(&plan)),
    );
    // The token through standard input, as a pipeline would pass it.
    let mut child = emu
        .cmd()
        .args(["-vvv", "apply", "--yes", "--token-file", "-", "--config"])
        .arg(&config)
        .arg("--plan")
        .arg(&plan)
        .arg("--report")
        .arg(emu.path("apply.csv"))
        .env_remove("GITLAB_REGISTRY_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{TOKEN}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "the denied account fails");
    seen.push_str(&String::from_utf8_lossy(&out.stdout));
    seen.push_str(&String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("DEBUG"),
        "-vvv logs at debug"
    );
    assert_eq!(emu.secrets().len(), 6, "the token from stdin was stored");

    // A revoked token in one secret, and a validation failure message.
    emu.mutate(json!({"op": "put_secret_value", "account": org.id("prod"), "region": "us-east-1",
        "name": "ecr-pullthroughcache/gitlab", "value": {"username": "ptc-bot", "accessToken": "glpat-Revoked000"}}));
    record(
        &mut seen,
        run(emu
            .cmd()
            .args(["-vvv", "validate", "--config"])
            .arg(&config)
            .arg("--report")
            .arg(emu.path("v.csv"))),
    );
    record(
        &mut seen,
        run(emu
            .cmd()
            .args(["-vvv", "apply", "--yes", "--config"])
            .arg(&config)),
    );
    // A bad token file path and a token given where a variable name belongs.
    let bad = emu.rollout(
        "bad.toml",
        &rollout_text("").replace("\"GITLAB_REGISTRY_TOKEN\"", &format!("\"{TOKEN}\"")),
    );
    record(
        &mut seen,
        run(emu
            .cmd()
            .args(["-vvv", "apply", "--yes", "--config"])
            .arg(&bad)),
    );

    for file in ["plan.json", "apply.csv", "v.csv"] {
        seen.push_str(&std::fs::read_to_string(emu.path(file)).unwrap());
    }
    assert!(!seen.is_empty());
    assert!(!seen.contains(TOKEN), "the token leaked");
    assert!(!seen.contains("TestTokenValue"), "part of the token leaked");
}
