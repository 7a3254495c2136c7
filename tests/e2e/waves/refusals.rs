//! Waves that cannot be right are refused with exit 2, the field named and the fix: before any
//! AWS call when the rollout file alone tells (an unnamed wave, two waves of one name, an OU in
//! two waves, a wave without filters before others, an unknown `--wave`); after the listing and
//! before any write when only the Organization tells (an OU outside the targets, an account the
//! Organization does not hold, targeted accounts no wave takes).

use super::*;

const SANDBOX_ID: &str = "ou-zzzz-notanou1";

fn file(emu: &Emulator, extra_targets: &str, waves: &str) -> PathBuf {
    emu.rollout(
        "bad.toml",
        &format!("{}\n{waves}", rollout_text(extra_targets)),
    )
}

fn refused(emu: &Emulator, cfg: &Path, extra: &[&str]) -> Run {
    let out = run(emu
        .cmd()
        .args(["apply", "--yes", "--config"])
        .arg(cfg)
        .args(extra));
    assert_eq!(out.code, 2, "{}", out.stderr);
    out
}

#[test]
fn waves_the_file_alone_condemns_are_refused_before_any_call() {
    let (emu, org) = Emulator::with_org();
    let ou = org.ou("Sandbox");
    let cases: Vec<(String, Vec<&str>, &str)> = vec![
        (
            "[[waves]]\norganizational_units = [\"OU\"]\n[[waves]]\nname = \"rest\"\n".into(),
            vec![],
            "waves[0].name: is missing or empty",
        ),
        (
            "[[waves]]\nname = \"a\"\norganizational_units = [\"OU\"]\n[[waves]]\nname = \"a\"\n"
                .into(),
            vec![],
            "waves[1].name: \"a\" is also the name of waves[0]",
        ),
        (
            "[[waves]]\nname = \"a\"\norganizational_units = [\"OU\"]\n[[waves]]\nname = \"b\"\norganizational_units = [\"OU\"]\n".into(),
            vec![],
            "waves[1].organizational_units[0]",
        ),
        (
            "[[waves]]\nname = \"rest\"\n[[waves]]\nname = \"b\"\norganizational_units = [\"OU\"]\n"
                .into(),
            vec![],
            "waves[0]: \"rest\" has neither organizational_units nor accounts",
        ),
        (
            "[[waves]]\nname = \"a\"\norganizational_units = [\"OU\"]\n[[waves]]\nname = \"rest\"\n"
                .into(),
            vec!["--wave", "prod"],
            "--wave: \"prod\" is not a wave of the rollout file (fix: choose among a, rest)",
        ),
        (String::new(), vec!["--wave", "prod"], "--wave: the rollout file has no [[waves]]"),
    ];
    for (waves, flags, said) in cases {
        let cfg = file(&emu, "", &waves.replace("OU", &ou));
        let out = refused(&emu, &cfg, &flags);
        assert!(out.stderr.contains(said), "{said:?} in {}", out.stderr);
        assert_eq!(emu.calls(), Vec::<Value>::new(), "{waves}");
    }
}

#[test]
fn waves_that_do_not_fit_the_organization_are_refused_before_any_write() {
    let (emu, org) = Emulator::with_org();
    let workloads = org.ou("Workloads");
    let cases: Vec<(String, String, &str)> = vec![
        // The Sandbox OU is not below Workloads, the only targeted subtree.
        (
            format!("organizational_units = [\"{workloads}\"]"),
            format!("[[waves]]\nname = \"sandbox\"\norganizational_units = [\"{}\"]\n[[waves]]\nname = \"rest\"\n", org.ou("Sandbox")),
            "waves[0].organizational_units[0]: ",
        ),
        (
            String::new(),
            format!("[[waves]]\nname = \"sandbox\"\norganizational_units = [\"{SANDBOX_ID}\"]\n[[waves]]\nname = \"rest\"\n"),
            "is not an OU (or root) of the Organization",
        ),
        (
            String::new(),
            "[[waves]]\nname = \"one\"\naccounts = [\"999999999999\"]\n[[waves]]\nname = \"rest\"\n".into(),
            "waves[0].accounts[0]: 999999999999 is not an account of the Organization",
        ),
        (
            String::new(),
            format!("[[waves]]\nname = \"prod\"\norganizational_units = [\"{}\"]\n", org.ou("Prod")),
            "targeted account(s) are in no wave",
        ),
    ];
    for (targets, waves, said) in cases {
        emu.reset_calls();
        let out = refused(&emu, &file(&emu, &targets, &waves), &[]);
        assert!(out.stderr.contains(said), "{said:?} in {}", out.stderr);
        assert_eq!(emu.mutating_calls(), Vec::<String>::new());
        assert!(
            emu.calls()
                .iter()
                .all(|c| ["organizations", "sts"].contains(&c["service"].as_str().unwrap())),
            "only the listing was made"
        );
    }
    // A nested OU within the targeted subtree is fine.
    let cfg = file(
        &emu,
        &format!("organizational_units = [\"{workloads}\"]"),
        &format!("[[waves]]\nname = \"prod\"\norganizational_units = [\"{}\"]\n[[waves]]\nname = \"rest\"\n", org.ou("Prod")),
    );
    let out = run(emu.cmd().args(["plan", "--config"]).arg(&cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("Wave 1 of 2: prod (2 targets)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Wave 2 of 2: rest (2 targets)"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_plan_made_with_other_waves_is_refused_before_any_call() {
    let (emu, org) = Emulator::with_org();
    let plan = emu.path("plan.json");
    let out = run(emu
        .cmd()
        .args(["plan", "--config"])
        .arg(config(&emu, &org))
        .arg("--out")
        .arg(&plan));
    assert_eq!(out.code, 0, "{}", out.stderr);
    emu.reset_calls();
    let without_waves = emu.rollout("plain.toml", &rollout_text(""));
    let out = refused(&emu, &without_waves, &["--plan", plan.to_str().unwrap()]);
    assert!(
        out.stderr.contains(
            "--plan: the plan was made with waves sandbox, rest, the rollout file has none"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(emu.calls(), Vec::<Value>::new());
}
