//! Day-two operations against the emulator: rotate, destroy, the compliance report, the IAM
//! policy's coverage of every call the tool makes, and repository creation templates, one topic
//! per file in day_two/. This file has what they share, and the bad input every day-two command
//! refuses before calling AWS.

mod destroy;
mod iam_policy;
mod report;
mod rotate;
mod templates;

use std::collections::{BTreeSet, HashMap};

use crate::support;
use serde_json::{json, Value};
use support::{read_report, rollout_text, run, Emulator, TOKEN};

const SECRET: &str = "ecr-pullthroughcache/gitlab";
const NEW_TOKEN: &str = "test-new-token-9876543210";

fn config(emu: &Emulator, extra_upstream: &str, extra: &str) -> std::path::PathBuf {
    let text = rollout_text("").replace(
        "token_env = \"GITLAB_REGISTRY_TOKEN\"",
        &format!("token_env = \"GITLAB_REGISTRY_TOKEN\"\n{extra_upstream}"),
    );
    // A fresh file each time: a test may hold several at once.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    emu.rollout(&format!("r{n}.toml"), &format!("{text}\n{extra}"))
}

fn apply(emu: &Emulator, cfg: &std::path::Path) {
    let out = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn day_two_bad_input_is_refused_before_any_call() {
    let emu = Emulator::start();
    let bad_date = config(&emu, "token_expires_on = \"next year\"", "");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "rotate".into(),
                "--yes".into(),
                "--config".into(),
                bad_date.display().to_string(),
            ],
            "upstream.token_expires_on",
        ),
        (
            vec![
                "report".into(),
                "--out".into(),
                "/nonexistent/dir/c.csv".into(),
                "--config".into(),
                bad_date.display().to_string(),
            ],
            "token_expires_on",
        ),
        (
            vec![
                "destroy".into(),
                "--yes".into(),
                "--recovery-days".into(),
                "3".into(),
                "--config".into(),
                config(&emu, "", "").display().to_string(),
            ],
            "--recovery-days",
        ),
        (
            vec![
                "destroy".into(),
                "--config".into(),
                config(&emu, "", "").display().to_string(),
            ],
            "--yes",
        ),
        (
            vec![
                "rotate".into(),
                "--yes".into(),
                "--token-file".into(),
                "/nonexistent/token".into(),
                "--config".into(),
                config(&emu, "", "").display().to_string(),
            ],
            "--token-file",
        ),
        (
            vec![
                "apply".into(),
                "--yes".into(),
                "--config".into(),
                config(
                    &emu,
                    "",
                    "[repository_template]\nimage_tag_mutability = \"SOMETIMES\"\n",
                )
                .display()
                .to_string(),
            ],
            "repository_template.image_tag_mutability",
        ),
        (
            vec![
                "apply".into(),
                "--yes".into(),
                "--config".into(),
                config(
                    &emu,
                    "",
                    "[repository_template]\nlifecycle_policy = 'not json'\n",
                )
                .display()
                .to_string(),
            ],
            "repository_template.lifecycle_policy",
        ),
        (
            vec![
                "iam-policy".into(),
                "--config".into(),
                bad_date.display().to_string(),
            ],
            "token_expires_on",
        ),
    ];
    for (args, expect) in cases {
        let out = run(emu.cmd().args(&args));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(expect),
            "{args:?}: expected {expect:?} in {}",
            out.stderr
        );
        assert!(emu.calls().is_empty(), "{args:?} called AWS");
    }
}
