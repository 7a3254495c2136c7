//! ECR's limit on the registry policy text (10,240 characters, the model's
//! `RegistryPolicyText`): a policy that would exceed it with ptc-rollout's statement is not
//! sent; `plan` says so from its read (a conflict with the count), and `apply` writes nothing in
//! that target while the other targets go on.

use std::path::PathBuf;

use crate::support;
use serde_json::json;
use support::{rollout_text, run, Emulator};

/// dev/us-east-1's registry policy holds another team's statement, big enough that ours pushes
/// it over the limit; the emulator, dev's id, that policy and a rollout file with `[pull_access]`.
fn over_the_limit_with_ours() -> (Emulator, String, String, PathBuf) {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    // Another team's statement, big enough that ours pushes the policy over the limit.
    let document = |n: usize| {
        let foreign = json!({
            "Sid": "Replication", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
            "Action": ["ecr:ReplicateImage"],
            "Resource": (0..n)
                .map(|i| format!("arn:aws:ecr:us-east-1:{dev}:repository/team-{i:03}/*"))
                .collect::<Vec<_>>(),
        });
        json!({"Version": "2012-10-17", "Statement": [foreign]}).to_string()
    };
    // Just under the limit alone (10,000 to 10,100 characters): ours takes it over.
    let n = (1..).find(|n| document(*n).len() >= 10_000).unwrap();
    let document = document(n);
    assert!(document.len() < 10_240, "{}", document.len());
    emu.mutate(
        json!({"op": "put_registry_policy", "account": dev, "region": "us-east-1",
                      "policy_text": document}),
    );
    let cfg = emu.rollout(
        "limit.toml",
        &format!(
            "{}\n[pull_access]\nrole_names = [\"consumer\"]\n",
            rollout_text("")
        ),
    );
    emu.reset_calls();
    (emu, dev, document, cfg)
}

/// The count in a message "... would be N characters ...", checked over the limit.
fn count_in(text: &str) -> usize {
    let count: usize = text
        .split("would be ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(count > 10_240, "{text}");
    count
}

/// `plan` finds it from its read of the policy: dev/us-east-1's row is a conflict naming the
/// count and the fix (exit 1, as for any conflict), and nothing is written anywhere.
#[test]
fn plan_says_a_registry_policy_would_be_over_ecrs_limit_without_writing() {
    let (emu, dev, document, cfg) = over_the_limit_with_ours();
    let out = run(emu.cmd().args(["plan", "--config"]).arg(&cfg));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with(dev.as_str()) && l.contains("us-east-1"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(
        row.contains("conflict: the registry policy with ptc-rollout's statement would be ")
            && row.contains("over ECR's limit of 10240")
            && row.contains("name fewer principals in [pull_access]"),
        "{row}"
    );
    assert!(count_in(row) > document.len(), "{row}");
    assert!(out
        .stdout
        .contains("7 targets to change, 0 unchanged, 1 conflicts"));
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
}

/// `apply` refuses it before the call: the row says the count, and the other targets go on.
#[test]
fn a_registry_policy_over_ecrs_limit_is_refused_with_its_count_before_the_call() {
    let (emu, dev, document, cfg) = over_the_limit_with_ours();
    let out = run(emu
        .cmd()
        .args(["apply", "--yes", "--no-canary", "--config"])
        .arg(&cfg));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains(&format!("{dev} us-east-1")) && l.contains("PutRegistryPolicy"))
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(line.contains("over ECR's limit of 10240"), "{line}");
    count_in(line);
    // No PutRegistryPolicy there, the foreign policy untouched; the others got theirs (no
    // canary: as the canary, this target would stop the run first).
    let puts = emu.calls_of("PutRegistryPolicy");
    assert!(
        !puts
            .iter()
            .any(|c| c["account"] == dev.as_str() && c["region"] == "us-east-1"),
        "{puts:?}"
    );
    assert_eq!(
        emu.registry_policy(&dev, "us-east-1").as_deref(),
        Some(&*document)
    );
    assert_eq!(puts.len(), 7, "{puts:?}");
}
