//! `[[upstreams]]` end to end: GitLab, Docker Hub, ECR Public and a central ECR registry rolled
//! out in one run, every command per (target, upstream); and the rollout files refused before
//! any AWS call.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use crate::support::upstreams::{
    central, docker_hub, ecr_url, org_pull_policy, with_upstreams, ECR_PUBLIC, GITLAB, PTC_SERVICE,
    TARGETS, UPSTREAM_TOKEN,
};
use crate::support::{read_report, run, Emulator, Run, MANAGEMENT};

const ROLE: &str = "ecr-pull-through-cache";
const CENTRAL_REGION: &str = "us-east-1";

fn rollout(url: &str) -> String {
    let golden = central("golden", url, ROLE);
    with_upstreams(TARGETS, &[GITLAB, &docker_hub(), ECR_PUBLIC, &golden])
}

fn binary(emu: &Emulator, args: &[&str], cfg: &Path) -> Run {
    run(emu
        .cmd()
        .env("DOCKERHUB_TOKEN", UPSTREAM_TOKEN)
        .args(args)
        .arg("--config")
        .arg(cfg))
}

/// Rows by (account, Region, upstream).
fn by_unit(
    rows: &[std::collections::HashMap<String, String>],
) -> BTreeMap<(String, String, String), std::collections::HashMap<String, String>> {
    rows.iter()
        .map(|r| {
            let key = (
                r["account_id"].clone(),
                r["region"].clone(),
                r["upstream"].clone(),
            );
            (key, r.clone())
        })
        .collect()
}

#[test]
fn gitlab_docker_hub_ecr_public_and_a_central_ecr_in_one_run() {
    let (emu, org) = Emulator::with_org();
    let central = ecr_url(MANAGEMENT, CENTRAL_REGION);
    emu.publish_central_image(MANAGEMENT, CENTRAL_REGION, "base", "1.0");
    emu.put_registry_policy(
        MANAGEMENT,
        CENTRAL_REGION,
        &org_pull_policy(MANAGEMENT, CENTRAL_REGION, &emu.organization_id()),
    );
    let active = org.active();
    for account in &active {
        emu.create_role(account, ROLE, Some(PTC_SERVICE));
    }
    let cfg = emu.rollout("org.toml", &rollout(&central));
    // A rule ptc-rollout does not manage, which destroy must leave.
    let dev = org.id("dev");
    emu.mutate(
        json!({"op": "create_rule", "account": dev, "region": "us-east-1", "prefix": "theirs",
        "upstream_registry": "quay", "upstream_url": "quay.io"}),
    );

    let plan = binary(&emu, &["plan", "--detailed-exitcode"], &cfg);
    assert_eq!(plan.code, 3, "{}\n{}", plan.stdout, plan.stderr);
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );

    emu.reset_calls();
    let applied = binary(
        &emu,
        &[
            "apply",
            "--yes",
            "--report",
            emu.path("apply.csv").to_str().unwrap(),
        ],
        &cfg,
    );
    assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);
    // One read of the rules per (account, Region), for its four upstreams.
    let describes = emu.calls_of("DescribePullThroughCacheRules").len();
    assert_eq!(
        describes,
        active.len() * 2,
        "one read per (account, Region)"
    );
    // IAM is global: the central registry's role is read once per account, not per Region.
    assert_eq!(emu.calls_of("GetRole").len(), active.len());
    let rows = read_report(&emu.path("apply.csv"));
    let units = by_unit(&rows);
    assert_eq!(units.len(), active.len() * 2 * 4, "{rows:#?}");
    for ((account, region, upstream), row) in &units {
        let itself = account == MANAGEMENT && region == CENTRAL_REGION && upstream == "golden";
        if itself {
            // The central registry is not cached into itself.
            assert_eq!(row["outcome"], "skipped", "{row:?}");
            continue;
        }
        assert_eq!(
            row["outcome"], "created",
            "{account} {region} {upstream}: {row:?}"
        );
        assert_eq!(row["is_valid"], "true", "{row:?}");
    }
    let rules = emu.rules();
    let of = |prefix: &str| {
        rules
            .iter()
            .filter(|r| r["ecrRepositoryPrefix"] == prefix)
            .count()
    };
    assert_eq!(of("gitlab"), active.len() * 2);
    assert_eq!(of("docker-hub"), active.len() * 2);
    assert_eq!(of("ecr-public"), active.len() * 2);
    assert_eq!(of("golden"), active.len() * 2 - 1);
    let secrets = emu.secrets();
    assert_eq!(
        secrets.len(),
        active.len() * 2 * 2,
        "two upstreams take a secret"
    );
    // No token in what was printed.
    assert!(!applied.stdout.contains(UPSTREAM_TOKEN) && !applied.stderr.contains(UPSTREAM_TOKEN));

    // Converged: a re-run writes nothing, on any upstream.
    let again = binary(&emu, &["plan", "--detailed-exitcode"], &cfg);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    emu.reset_calls();
    let reapplied = binary(&emu, &["apply", "--yes"], &cfg);
    assert_eq!(reapplied.code, 0, "{}", reapplied.stderr);
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );

    let validated = binary(
        &emu,
        &[
            "validate",
            "--report",
            emu.path("validate.csv").to_str().unwrap(),
        ],
        &cfg,
    );
    assert_eq!(
        validated.code, 0,
        "{}\n{}",
        validated.stdout, validated.stderr
    );
    let rows = read_report(&emu.path("validate.csv"));
    let valid = rows.iter().filter(|r| r["is_valid"] == "true").count();
    assert_eq!(valid, active.len() * 2 * 4 - 1);

    // A pull through each upstream's cache, in each of its targets.
    for (image, upstream) in [
        ("gitlab/demo-group/demo-project/app:1.0", "gitlab"),
        ("docker-hub/library/nginx:latest", "docker-hub"),
        ("ecr-public/docker/library/busybox:latest", "ecr-public"),
        ("golden/base:1.0", "golden"),
    ] {
        let report = emu.path(&format!("probe-{upstream}.csv"));
        let probed = binary(
            &emu,
            &[
                "probe",
                "--image",
                image,
                "--report",
                report.to_str().unwrap(),
            ],
            &cfg,
        );
        assert_eq!(
            probed.code, 0,
            "{image}: {}\n{}",
            probed.stdout, probed.stderr
        );
        let rows = read_report(&report);
        assert!(rows.iter().all(|r| r["upstream"] == upstream), "{rows:#?}");
        let pulled = rows.iter().filter(|r| r["pull_ok"] == "true").count();
        let expected = if upstream == "golden" {
            active.len() * 2 - 1
        } else {
            active.len() * 2
        };
        assert_eq!(pulled, expected, "{image}: {rows:#?}");
    }

    let reported = binary(
        &emu,
        &[
            "report",
            "--out",
            emu.path("compliance.csv").to_str().unwrap(),
        ],
        &cfg,
    );
    assert_eq!(reported.code, 0, "{}\n{}", reported.stdout, reported.stderr);
    let rows = read_report(&emu.path("compliance.csv"));
    let upstreams: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["upstream"].as_str()).collect();
    assert_eq!(
        upstreams.into_iter().collect::<Vec<_>>(),
        ["docker-hub", "ecr-public", "gitlab", "golden"]
    );

    // destroy removes ours on every upstream, and nothing else.
    let destroyed = binary(&emu, &["destroy", "--yes", "--recovery-days", "7"], &cfg);
    assert_eq!(
        destroyed.code, 0,
        "{}\n{}",
        destroyed.stdout, destroyed.stderr
    );
    let left: Vec<_> = emu
        .rules()
        .into_iter()
        .map(|r| r["ecrRepositoryPrefix"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(left, ["theirs"]);
    let live = emu
        .secrets()
        .into_iter()
        .filter(|s| s["deleted"] == false)
        .count();
    assert_eq!(live, 0);
}

#[test]
fn rollout_files_that_disagree_with_ecr_are_refused_before_any_call() {
    let emu = Emulator::start();
    let central = ecr_url(MANAGEMENT, CENTRAL_REGION);
    let good = rollout(&central);
    let cases = [
        (
            "a credential on an upstream that takes none",
            good.replace(
                "ecr_repository_prefix = \"ecr-public\"\n",
                "ecr_repository_prefix = \"ecr-public\"\nusername = \"x\"\ntoken_env = \"X\"\nsecret_name = \"ecr-pullthroughcache/x\"\n",
            ),
            "upstreams[2].secret_name",
        ),
        (
            "a missing credential where one is required",
            good.replace("secret_name = \"ecr-pullthroughcache/docker-hub\"\n", ""),
            "upstreams[1].secret_name",
        ),
        (
            "two upstreams with one prefix",
            good.replace("ecr_repository_prefix = \"docker-hub\"", "ecr_repository_prefix = \"gitlab\""),
            "upstreams[1].ecr_repository_prefix",
        ),
        (
            "an Azure URL that is not *.azurecr.io",
            good + "\n[[upstreams]]\nname = \"acr\"\nregistry = \"azure-container-registry\"\nurl = \"registry.example.com\"\necr_repository_prefix = \"acr\"\nusername = \"u\"\ntoken_env = \"ACR_TOKEN\"\nsecret_name = \"ecr-pullthroughcache/acr\"\n",
            "upstreams[4].url",
        ),
    ];
    for (what, text, field) in cases {
        let cfg = emu.rollout("bad.toml", &text);
        emu.reset_calls();
        let out = binary(&emu, &["plan"], &cfg);
        assert_eq!(out.code, 2, "{what}: {}", out.stderr);
        assert!(out.stderr.contains(field), "{what}: {}", out.stderr);
        assert!(out.stderr.contains("fix:"), "{what}: {}", out.stderr);
        assert!(emu.calls().is_empty(), "{what}: {:?}", emu.calls());
    }
}

#[test]
fn rotate_needs_the_upstream_when_several_take_a_token() {
    let emu = Emulator::start();
    let cfg = emu.rollout("org.toml", &rollout(&ecr_url(MANAGEMENT, CENTRAL_REGION)));
    let out = binary(&emu, &["rotate", "--yes"], &cfg);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--upstream"), "{}", out.stderr);
    assert!(
        out.stderr.contains("docker-hub,gitlab") || out.stderr.contains("gitlab,docker-hub"),
        "{}",
        out.stderr
    );
    let out = binary(&emu, &["rotate", "--yes", "--upstream", "ecr-public"], &cfg);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("takes no token"), "{}", out.stderr);
    assert!(emu.calls().is_empty(), "{:?}", emu.calls());
}

#[test]
fn a_missing_token_is_named_by_its_upstream() {
    let emu = Emulator::start();
    let cfg = emu.rollout("org.toml", &rollout(&ecr_url(MANAGEMENT, CENTRAL_REGION)));
    let out = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("upstreams[1].token_env: environment variable DOCKERHUB_TOKEN is not set (fix: export DOCKERHUB_TOKEN with the Docker Hub token, or set the entry's token_file)"),
        "{}",
        out.stderr
    );
    assert!(emu.calls().is_empty(), "{:?}", emu.calls());
}

mod lost_answers;
mod per_upstream;
