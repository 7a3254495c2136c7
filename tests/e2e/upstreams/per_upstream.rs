//! What each upstream has of its own in a run: its canary, and its share of the registry
//! policy statement when a run is narrowed to it.

use crate::support::upstreams::{docker_hub, with_upstreams, ECR_PUBLIC, GITLAB, TARGETS};
use crate::support::{read_report, run, Emulator};

#[test]
fn a_wrong_token_of_one_upstream_stops_at_its_own_canary() {
    let (emu, _org) = Emulator::with_org();
    let cfg = emu.rollout(
        "two.toml",
        &with_upstreams(TARGETS, &[GITLAB, &docker_hub()]),
    );
    let report = emu.path("apply.csv");
    let out = run(emu
        .cmd()
        .env("DOCKERHUB_TOKEN", "test-NotTheDockerHubToken000000")
        .args(["apply", "--yes", "--config"])
        .arg(&cfg)
        .arg("--report")
        .arg(&report));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    // Docker Hub's canary took the wrong token to one target only, whatever GitLab's did.
    let hub_secrets = emu
        .secrets()
        .into_iter()
        .filter(|s| s["name"] == "ecr-pullthroughcache/docker-hub")
        .count();
    assert_eq!(hub_secrets, 1, "{}", out.stderr);
    let rows = read_report(&report);
    let failed_hub = rows
        .iter()
        .filter(|r| r["upstream"] == "docker-hub" && r["outcome"] != "not attempted")
        .count();
    assert_eq!(failed_hub, 1, "{rows:#?}");
}

#[test]
fn a_destroy_narrowed_to_one_upstream_keeps_the_statement_the_others_need() {
    let (emu, org) = Emulator::with_org();
    let access = "\n[pull_access]\nrole_names = [\"eks-node-role\"]\n";
    let cfg = emu.rollout(
        "two.toml",
        &with_upstreams(TARGETS, &[GITLAB, ECR_PUBLIC, access]),
    );
    let applied = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let dev = org.id("dev");
    let before = emu.registry_policy(&dev, "us-east-1").expect("written");
    assert!(before.contains("repository/gitlab/*") && before.contains("repository/ecr-public/*"));

    // An apply narrowed to the second upstream writes nothing: the statement is whole.
    emu.reset_calls();
    let narrowed = run(emu
        .cmd()
        .args(["apply", "--yes", "--upstream", "ecr-public", "--config"])
        .arg(&cfg));
    assert_eq!(narrowed.code, 0, "{}", narrowed.stderr);
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );

    let destroyed = run(emu
        .cmd()
        .args(["destroy", "--yes", "--upstream", "gitlab", "--config"])
        .arg(&cfg));
    assert_eq!(destroyed.code, 0, "{}", destroyed.stderr);
    assert_eq!(
        emu.registry_policy(&dev, "us-east-1").as_deref(),
        Some(before.as_str())
    );
    let left: Vec<_> = emu
        .rules()
        .into_iter()
        .map(|r| r["ecrRepositoryPrefix"].clone())
        .collect();
    assert!(left.iter().all(|p| p == "ecr-public"), "{left:?}");

    // Destroying everything takes the statement out.
    let all = run(emu.cmd().args(["destroy", "--yes", "--config"]).arg(&cfg));
    assert_eq!(all.code, 0, "{}", all.stderr);
    let after = emu.registry_policy(&dev, "us-east-1").unwrap_or_default();
    assert!(!after.contains("PtcRolloutPullThroughCache"), "{after}");
}

#[test]
fn a_central_namespace_is_kept_and_a_change_of_it_is_a_conflict() {
    use crate::support::upstreams::{central, ecr_url, org_pull_policy, PTC_SERVICE};
    use crate::support::MANAGEMENT;
    let (emu, org) = Emulator::with_org();
    let policy = org_pull_policy(MANAGEMENT, "us-east-1", &emu.organization_id());
    emu.put_registry_policy(MANAGEMENT, "us-east-1", &policy);
    for account in org.active() {
        emu.create_role(&account, "ecr-ptc", Some(PTC_SERVICE));
    }
    let targets = TARGETS.replace("[\"us-east-1\", \"eu-west-1\"]", "[\"eu-west-1\"]");
    let entry = central("golden", &ecr_url(MANAGEMENT, "us-east-1"), "ecr-ptc");
    let images = format!("{entry}upstream_repository_prefix = \"images\"\n");
    let cfg = emu.rollout("golden.toml", &with_upstreams(&targets, &[&images]));
    let applied = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    emu.assert_converged(&cfg);

    // ECR cannot change the namespace of a rule: a plan for another says so, and writes nothing.
    let other = format!("{entry}upstream_repository_prefix = \"base\"\n");
    let cfg = emu.rollout("golden.toml", &with_upstreams(&targets, &[&other]));
    emu.reset_calls();
    let planned = run(emu.cmd().args(["plan", "--config"]).arg(&cfg));
    assert_eq!(planned.code, 1, "{}", planned.stdout);
    assert!(
        planned.stdout.contains("caches the namespace images")
            || planned.stderr.contains("caches the namespace images"),
        "{}\n{}",
        planned.stdout,
        planned.stderr
    );
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );
}
