//! The recipe's `ptc-rollout` commands: the shell reader finds them as bash would, each is a
//! valid command line of clap's definition (src/cli/args.rs), and the built binary has every
//! subcommand and flag they use.

use super::*;

#[test]
fn the_recipe_parses_and_names_only_real_subcommands_and_flags() {
    let doc = recipe();
    let found = invocations(&doc);
    let used: BTreeSet<&str> = found
        .iter()
        .filter_map(|(_, i)| i.subcommand.as_deref())
        .collect();
    for sub in [
        "plan",
        "apply",
        "report",
        "token status",
        "token mint",
        "rotate",
        "token revoke-old",
    ] {
        assert!(
            used.contains(sub),
            "{RECIPE} never runs `ptc-rollout {sub}`"
        );
    }
    let stages = str_list(doc.get("stages"));
    assert_eq!(
        stages,
        ["build", "plan", "apply", "report", "rotate"],
        "stages"
    );
    for (job, inv) in &found {
        if inv.subcommand.is_some() {
            assert!(
                inv.has("--no-progress"),
                "{job}: ptc-rollout in CI runs with --no-progress"
            );
        }
    }
    // Each job runs in a declared stage.
    let all = jobs(&doc);
    for name in all.keys() {
        if name.starts_with('.') {
            continue;
        }
        let job = resolved(&all, name);
        let stage = job.get("stage").and_then(Value::as_str).unwrap_or("test");
        assert!(
            stages.iter().any(|s| s == stage),
            "{name}: stage {stage} is not in stages"
        );
    }
}

#[test]
fn the_shell_reader_finds_commands_as_bash_would() {
    let found = |s: &str| ptc_invocations(s);
    assert_eq!(
        found("ptc-rollout plan --config x"),
        [["plan", "--config", "x"]]
    );
    assert_eq!(
        found("status=0; X=1 ptc-rollout plan -c \"$F\" 2>&1 | tee plan.txt || status=$?"),
        [["plan", "-c", "$F"]]
    );
    assert_eq!(found("bin/ptc-rollout --version > v.txt"), [["--version"]]);
    assert_eq!(
        found("if true; then ./ptc-rollout apply \\\n  --yes >>log; fi"),
        [["apply", "--yes"]]
    );
    // Not commands: arguments, quoted text, comments.
    assert!(found("cp target/release/ptc-rollout bin/").is_empty());
    assert!(found("echo \"ptc-rollout plan: changes\" # ptc-rollout apply").is_empty());
    assert!(found("printf '%s' 'ptc-rollout apply' >&2").is_empty());
    assert_eq!(
        found("case \"$s\" in\n  3) ptc-rollout validate --config c ;;\nesac"),
        [["validate", "--config", "c"]]
    );

    let ok = |s: &[&str]| parse_invocation(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    assert!(ok(&["-q", "plan", "--config=c", "--out", "p.json", "-vv"]).is_ok());
    assert!(ok(&["report", "--config", "c", "--format", "csv", "--out", "x.csv"]).is_ok());
    // Nested subcommands: `token status`, with the global flags anywhere.
    let status = ok(&[
        "token",
        "--no-progress",
        "status",
        "-c",
        "c",
        "--due-within-days",
        "30",
        "--format",
        "json",
    ])
    .unwrap();
    assert_eq!(status.subcommand.as_deref(), Some("token status"));
    assert_eq!(status.value("--due-within-days"), Some("30"));
    assert!(ok(&[
        "token",
        "mint",
        "--config",
        "c",
        "--out",
        "$F",
        "--expires-in-days",
        "90"
    ])
    .is_ok());
    assert!(ok(&[
        "token",
        "revoke-old",
        "--config",
        "c",
        "--yes",
        "--token-file",
        "$F"
    ])
    .is_ok());
    for (bad, why) in [
        (&["plan", "--config", "c", "--yes"][..], "has no flag --yes"),
        (&["plan", "--out", "p.json"], "needs --config"),
        (&["deploy", "--config", "c"], "no subcommand `deploy`"),
        (&["apply", "--config", "c", "--yes=1"], "takes no value"),
        (&["apply", "--config"], "needs a value"),
        (
            &["report", "--config", "c", "--format", "table"],
            "takes one of",
        ),
        (
            &["apply", "--config", "c", "--max-failures", "ten"],
            "N or N%",
        ),
        (
            &["validate", "--config", "c", "extra"],
            "unexpected argument",
        ),
        (
            &["--out", "x", "plan", "--config", "c"],
            "not a global flag",
        ),
        (
            &["iam-policy", "--config", "c", "--regions", "x"],
            "has no flag --regions",
        ),
        (&["token", "--config", "c"], "`token` has no flag --config"),
        (&["token"], "`token` needs a subcommand"),
        (
            &["token", "rotate", "--config", "c"],
            "`token` has no subcommand `rotate`",
        ),
        (
            &["token", "status", "mint", "--config", "c"],
            "unexpected argument `mint`",
        ),
        (&["status", "--config", "c"], "no subcommand `status`"),
        (
            &["token", "mint", "--config", "c", "--yes"],
            "`token mint` has no flag --yes",
        ),
        (
            &["token", "status", "--config", "c", "--format", "csv"],
            "takes one of",
        ),
        (
            &[
                "token",
                "status",
                "--config",
                "c",
                "--due-within-days",
                "soon",
            ],
            "takes a number",
        ),
        (&["token", "revoke-old", "--yes"], "needs --config"),
    ] {
        let e = ok(bad).expect_err(&format!("{bad:?} must be refused"));
        assert!(e.contains(why), "{bad:?}: {e}");
    }
}

#[test]
fn every_subcommand_and_flag_the_recipe_uses_exists() {
    // Runs `ptc-rollout <cmd> --help` for each subcommand the recipe uses: fails until the
    // binary has them all (and every flag the recipe passes them).
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, inv) in invocations(&recipe()) {
        if let Some(sub) = inv.subcommand {
            used.entry(sub)
                .or_default()
                .extend(inv.flags.into_iter().map(|(f, _)| f));
        }
    }
    let mut missing = Vec::new();
    for (sub, flags) in &used {
        let out = Command::new(env!("CARGO_BIN_EXE_ptc-rollout"))
            .args(sub.split(' '))
            .arg("--help")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if !out.status.success() {
            missing.push(format!(
                "`ptc-rollout {sub} --help` exited {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            continue;
        }
        let help = String::from_utf8_lossy(&out.stdout);
        for flag in flags {
            let listed = help
                .split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == ']')
                .any(|w| w == flag);
            if !listed {
                missing.push(format!("`ptc-rollout {sub} --help` does not list {flag}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{RECIPE} uses what the binary lacks:\n{}",
        missing.join("\n")
    );
}
