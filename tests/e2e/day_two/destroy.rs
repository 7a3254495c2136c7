//! `destroy`: only what ptc-rollout manages is removed; secrets wait out their recovery window,
//! and other upstreams' rules and unmanaged secrets stay.

use super::*;

#[test]
fn destroy_removes_only_what_ptc_rollout_manages() {
    let (emu, org) = Emulator::with_org();
    let (dev, prod) = (org.id("dev"), org.id("prod"));
    emu.mutate(
        json!({"op": "create_secret", "account": dev, "region": "eu-west-1", "name": SECRET,
        "value": {"username": "theirs", "accessToken": TOKEN}}),
    );
    let cfg = config(&emu, "", "");
    apply(&emu, &cfg);
    // prod/us-east-1: the rule is someone else's, for another upstream, on another prefix.
    emu.mutate(
        json!({"op": "create_rule", "account": prod, "region": "us-east-1", "prefix": "dockerhub",
        "upstream_registry": "docker-hub", "upstream_url": "registry-1.docker.io"}),
    );
    let out = run(emu
        .cmd()
        .args(["destroy", "--yes", "--recovery-days", "7", "--config"])
        .arg(&cfg)
        .arg("--report")
        .arg(emu.path("d.csv")));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let live: Vec<Value> = emu
        .secrets()
        .into_iter()
        .filter(|s| s["deleted"] == false)
        .collect();
    assert_eq!(
        live.len(),
        1,
        "only the unmanaged secret is left live: {live:?}"
    );
    assert_eq!(
        (live[0]["account"].as_str(), live[0]["region"].as_str()),
        (Some(dev.as_str()), Some("eu-west-1"))
    );
    assert_eq!(
        emu.secrets()
            .iter()
            .filter(|s| s["deleted"] == true)
            .count(),
        7,
        "managed secrets wait out the recovery window"
    );
    let rules = emu.rules();
    // The rule using the unmanaged secret, and the other prefix's rule, stay.
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert!(rules
        .iter()
        .any(|r| r["ecrRepositoryPrefix"] == "dockerhub"));
    assert!(rules
        .iter()
        .any(|r| r["account"] == dev && r["region"] == "eu-west-1"));
    let rows = read_report(&emu.path("d.csv"));
    assert_eq!(rows.iter().filter(|r| r["outcome"] == "deleted").count(), 7);
}
