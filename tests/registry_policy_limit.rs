//! ECR's limit on the registry policy text (10,240 characters, the model's
//! `RegistryPolicyText`): a policy that would exceed it with ptc-rollout's statement is not
//! sent; the target's row says the count, and the other targets go on.

mod support;

use serde_json::json;
use support::{rollout_text, run, Emulator};

#[test]
fn a_registry_policy_over_ecrs_limit_is_refused_with_its_count_before_the_call() {
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
    let count: usize = line
        .split("would be ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(count > 10_240, "{line}");
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
