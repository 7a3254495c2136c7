//! Pull proof per upstream, against the emulator: `probe --image PREFIX/PATH:TAG` pulls in the
//! targets of the upstream its prefix names (and only there), `validate --probe-image` once per
//! upstream, failures named after the row's upstream, and the images refused before any call.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::support::upstreams::{
    central, docker_hub, ecr_url, org_pull_policy, with_upstreams, ECR_PUBLIC, GITLAB, PTC_SERVICE,
    TARGETS, UPSTREAM_TOKEN,
};
use crate::support::{Emulator, Run, MANAGEMENT};

const GITLAB_IMAGE: &str = "gitlab/demo-group/demo-project/app:1.0";
const NGINX: &str = "docker-hub/library/nginx:latest";
const ALPINE: &str = "docker-hub/library/alpine:3.20";
const BUSYBOX: &str = "ecr-public/docker/library/busybox:latest";

fn config(emu: &Emulator) -> PathBuf {
    let text = with_upstreams(TARGETS, &[GITLAB, &docker_hub(), ECR_PUBLIC]);
    emu.rollout("upstreams.toml", &text)
}

type Row = HashMap<String, String>;

/// Runs the binary with the Docker Hub token, `--config` and `--report`: the run and its rows.
fn ptc(emu: &Emulator, cfg: &Path, args: &[&str]) -> (Run, Vec<Row>) {
    let mut cmd = emu.cmd();
    cmd.env("DOCKERHUB_TOKEN", UPSTREAM_TOKEN);
    emu.with_report_of(cmd, cfg, args)
}

fn apply(emu: &Emulator, cfg: &Path) {
    let (out, _) = ptc(emu, cfg, &["apply", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn probe_pulls_in_every_target_of_the_upstream_its_prefix_names() {
    let (emu, org) = Emulator::with_org();
    let pairs = org.active().len() * 2;
    let cfg = config(&emu);
    apply(&emu, &cfg);

    for (image, upstream) in [
        (NGINX, "docker-hub"),
        (BUSYBOX, "ecr-public"),
        (GITLAB_IMAGE, "gitlab"),
    ] {
        let (out, rows) = ptc(&emu, &cfg, &["probe", "--image", image]);
        assert_eq!(out.code, 0, "{image}: {}", out.stderr);
        // The other upstreams' targets are not scheduled: they have nothing to pull.
        assert_eq!(rows.len(), pairs, "{image}: {rows:?}");
        for r in &rows {
            assert_eq!(r["upstream"], upstream, "{r:?}");
            assert_eq!(r["image"], image, "{r:?}");
            assert_eq!(r["pull_ok"], "true", "{r:?}");
            assert_eq!(r["pull_status"], "200", "{r:?}");
        }
    }
    // Each pull went through its own rule: the cached repositories are under each prefix.
    let names: Vec<String> = emu
        .repositories()
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_owned))
        .collect();
    for repo in [
        "docker-hub/library/nginx",
        "ecr-public/docker/library/busybox",
        "gitlab/demo-group/demo-project/app",
    ] {
        assert!(names.iter().any(|n| n == repo), "{repo}: {names:?}");
    }
}

#[test]
fn validate_pulls_each_upstreams_image_and_only_validates_the_rest() {
    let (emu, org) = Emulator::with_org();
    let pairs = org.active().len() * 2;
    let cfg = config(&emu);
    apply(&emu, &cfg);

    let (out, rows) = ptc(
        &emu,
        &cfg,
        &[
            "validate",
            "--probe-image",
            GITLAB_IMAGE,
            "--probe-image",
            ALPINE,
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(rows.len(), pairs * 3, "{rows:?}");
    for r in &rows {
        assert_eq!(r["is_valid"], "true", "{r:?}");
        let image = match r["upstream"].as_str() {
            "gitlab" => GITLAB_IMAGE,
            "docker-hub" => ALPINE,
            _ => "",
        };
        assert_eq!(r["image"], image, "{r:?}");
        let pulled = if image.is_empty() { "" } else { "true" };
        assert_eq!(r["pull_ok"], pulled, "{r:?}");
    }
}

#[test]
fn a_failed_pull_names_its_upstream_and_gets_no_gitlab_advice() {
    let (emu, org) = Emulator::with_org();
    let cfg = config(&emu);
    apply(&emu, &cfg);

    let (out, rows) = ptc(
        &emu,
        &cfg,
        &["probe", "--image", "docker-hub/library/nosuch:1"],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(rows.len(), org.active().len() * 2);
    for r in &rows {
        assert_eq!(r["pull_ok"], "false", "{r:?}");
        let failure = &r["pull_failure"];
        assert!(
            failure.contains("registry-1.docker.io/library/nosuch:1"),
            "{failure}"
        );
        for gitlab in ["GitLab", "gitlab", "Reporter"] {
            assert!(!failure.contains(gitlab), "{failure}");
        }
    }
}

#[test]
fn images_without_an_upstream_or_twice_for_one_are_refused_before_any_call() {
    let (emu, _org) = Emulator::with_org();
    let cfg = config(&emu);
    emu.reset_calls();
    let cases: [(&[&str], &str); 6] = [
        (
            &["probe", "--image", "docker-hub/nginx:latest"],
            "docker-hub/library/nginx:latest",
        ),
        (
            &["probe", "--image", "quay/prometheus/node-exporter:latest"],
            "starts with no upstream's ecr_repository_prefix",
        ),
        (
            &["probe", "--image", "demo-group/demo-project/app:1.0"],
            "gitlab/, docker-hub/, ecr-public/",
        ),
        (
            &["probe", "--image", "registry-1.docker.io/library/nginx:1"],
            "docker-hub/library/nginx:1",
        ),
        (
            &["validate", "--probe-image", NGINX, "--probe-image", ALPINE],
            "are both images of upstream \"docker-hub\"",
        ),
        (
            &["validate", "--probe-image", "docker-hub/alpine:3.20"],
            "docker-hub/library/alpine:3.20",
        ),
    ];
    for (args, expect) in cases {
        let (out, rows) = ptc(&emu, &cfg, args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(expect),
            "{args:?}: expected {expect:?} in {}",
            out.stderr
        );
        assert!(rows.is_empty(), "{args:?}");
        assert!(emu.calls().is_empty(), "{args:?} called AWS");
    }
}

#[test]
fn a_central_ecr_pull_is_proved_and_its_failure_names_the_central_registry() {
    let (emu, org) = Emulator::with_org();
    // The central registry in us-east-1, the targets in eu-west-1: every target is downstream.
    let central_url = ecr_url(MANAGEMENT, "us-east-1");
    emu.publish_central_image(MANAGEMENT, "us-east-1", "base", "1.0");
    let policy = org_pull_policy(MANAGEMENT, "us-east-1", &emu.organization_id());
    emu.put_registry_policy(MANAGEMENT, "us-east-1", &policy);
    for account in org.active() {
        emu.create_role(&account, "ecr-ptc", Some(PTC_SERVICE));
    }
    let targets = TARGETS.replace("[\"us-east-1\", \"eu-west-1\"]", "[\"eu-west-1\"]");
    let golden = central("golden", &central_url, "ecr-ptc");
    let cfg = emu.rollout("golden.toml", &with_upstreams(&targets, &[GITLAB, &golden]));
    apply(&emu, &cfg);

    let (out, rows) = ptc(&emu, &cfg, &["probe", "--image", "golden/base:1.0"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(rows.len(), org.active().len());
    for r in &rows {
        assert_eq!(
            (r["upstream"].as_str(), r["pull_ok"].as_str()),
            ("golden", "true"),
            "{r:?}"
        );
    }

    let (out, rows) = ptc(&emu, &cfg, &["probe", "--image", "golden/nosuch:1.0"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    for r in &rows {
        let failure = &r["pull_failure"];
        assert!(
            failure.contains(&format!("{central_url}/nosuch:1.0")),
            "{failure}"
        );
        assert!(!failure.contains("GitLab"), "{failure}");
    }
}
