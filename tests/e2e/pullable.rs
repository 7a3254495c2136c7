//! Pullable for real, against the emulator's GitLab.com and ECR: the registry token's role (a
//! Guest token validates everywhere but cannot pull a private project's image), a whole pull
//! (manifest, index, config and smallest layer through ECR's redirect to S3, digests checked),
//! and failures blamed on the right side. GitLab's refusals of a mint are in token_life/.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::support;
use serde_json::{json, Value};
use support::{rollout_text, run, run_with_api_token, Emulator, Org, Run, API_TOKEN, TOKEN};

/// A private project's image, seeded by the emulator.
const PRIVATE: &str = "demo-group/demo-project/app:1.0";
/// A public project's image, seeded by the emulator.
const PUBLIC: &str = "gitlab-org/release-cli:latest";
/// A private image index with linux/amd64 and linux/arm64, seeded by the emulator.
const INDEX: &str = "demo-group/demo-project/multi:1.0";

type Row = HashMap<String, String>;

/// The standard Organization, [`TOKEN`] valid with the given GitLab access level, and
/// [`API_TOKEN`] an Owner of the emulator's group.
fn setup(access_level: u64) -> (Emulator, Org, PathBuf) {
    let (emu, org) = Emulator::with_org();
    emu.post(
        "/_ptc/valid_tokens",
        json!({ "tokens": [TOKEN], "access_level": access_level }),
    );
    emu.post("/_ptc/gitlab", json!({ "owner_tokens": [API_TOKEN] }));
    let text = format!(
        "{}\n[gitlab]\ngroup = \"demo-group\"\napi_url = \"{}\"\n",
        rollout_text(""),
        emu.gitlab_api_url()
    );
    let cfg = emu.rollout("pullable.toml", &text);
    let out = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    (emu, org, cfg)
}

/// Runs the binary with the API token and `--config`, and returns the run and the report.
fn ptc(emu: &Emulator, cfg: &Path, args: &[&str]) -> (Run, Vec<Row>) {
    let mut cmd = emu.cmd();
    cmd.env("GITLAB_API_TOKEN", API_TOKEN);
    emu.with_report_of(cmd, cfg, args)
}

fn targets(org: &Org) -> usize {
    org.active().len() * 2
}

/// Every S3 download the emulator saw came without an `Authorization` header.
fn assert_s3_without_authorization(emu: &Emulator, downloads: usize) {
    let s3: Vec<Value> = emu
        .calls()
        .into_iter()
        .filter(|c| c["service"] == "s3")
        .collect();
    assert_eq!(s3.len(), downloads, "{s3:?}");
    assert!(
        s3.iter()
            .all(|c| c["authorization"] == false && c["status"] == 200),
        "{s3:?}"
    );
}

#[test]
fn a_guest_token_validates_but_cannot_pull_private_images_until_a_reporter_token_is_rolled_out() {
    let (emu, org, cfg) = setup(10);
    let n = targets(&org);

    // token status names the role and what fails.
    let out = run_with_api_token(&emu, &["token", "status"], &cfg);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("role:    Guest"), "{}", out.stdout);
    assert!(
        out.stderr.contains("warning: the registry token's role is Guest: pulls of images from private projects fail")
            && out.stderr.contains("`ptc-rollout token mint` makes a Reporter token"),
        "{}",
        out.stderr
    );

    // Every rule validates; every pull of the private image fails, blamed on GitLab's side.
    let (out, rows) = ptc(&emu, &cfg, &["validate", "--probe-image", PRIVATE]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(rows.len(), n);
    for r in &rows {
        assert_eq!(r["is_valid"], "true", "{r:?}");
        assert_eq!(r["pull_ok"], "false", "{r:?}");
        let why = &r["pull_failure"];
        assert!(
            why.starts_with("GitLab refused the image although the rule validated in this run (the token logs in): the token's role is Guest"),
            "{r:?}"
        );
        assert!(!why.contains("may lack ecr:"), "not IAM: {why}");
    }
    // A public image pulls with the same token.
    let (out, rows) = ptc(&emu, &cfg, &["validate", "--probe-image", PUBLIC]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(rows.iter().all(|r| r["pull_ok"] == "true"), "{rows:?}");

    // The compliance export says it too, as long as the token is Guest.
    let export = emu.path("compliance.csv");
    let out = run(emu
        .cmd()
        .env("GITLAB_API_TOKEN", API_TOKEN)
        .args(["report", "--out"])
        .arg(&export)
        .arg("--config")
        .arg(&cfg));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let rows = support::read_report(&export);
    assert_eq!(rows.len(), n);
    assert!(
        rows.iter().all(|r| r["compliant"] == "false"
            && r["reasons"].contains("token role Guest: private projects need Reporter")),
        "{rows:?}"
    );

    // Mint a Reporter token, roll it out: the private image pulls everywhere, whole.
    let new = emu.path("new-token");
    let out = run_with_api_token(
        &emu,
        &["token", "mint", "--out", new.to_str().unwrap()],
        &cfg,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("read_registry, Reporter"),
        "{}",
        out.stderr
    );
    let out = run(emu
        .cmd()
        .args(["rotate", "--yes", "--token-file"])
        .arg(&new)
        .arg("--config")
        .arg(&cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    emu.reset_calls();
    let (out, rows) = ptc(&emu, &cfg, &["validate", "--probe-image", PRIVATE]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for r in &rows {
        assert_eq!(r["pull_ok"], "true", "{r:?}");
        assert_eq!(r["pull_blobs"], "2", "config and smallest layer: {r:?}");
        assert!(r["pull_bytes"].parse::<u64>().unwrap() > 0, "{r:?}");
        assert_eq!(r["pull_failure"], "", "{r:?}");
    }
    // The budget: one credential per target, one manifest and two blobs, two S3 downloads.
    assert_eq!(emu.calls_of("GetAuthorizationToken").len(), n);
    assert_eq!(emu.calls_of("GetManifest").len(), n);
    assert_eq!(emu.calls_of("GetBlob").len(), 2 * n);
    assert_s3_without_authorization(&emu, 2 * n);
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(TOKEN) && !text.contains("QVdTO"), "{text}");
    }
}

#[test]
fn a_workload_role_without_get_download_url_for_layer_fails_naming_it() {
    let (emu, _org, cfg) = setup(20);
    // Import the image as the member role first: the workload role then only reads.
    let (out, _) = ptc(&emu, &cfg, &["probe", "--image", PRIVATE]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    emu.identity_policies(json!([{
        "account": "*",
        "role_name": "consumer",
        "actions": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage"]
    }]));
    let (out, rows) = ptc(
        &emu,
        &cfg,
        &[
            "validate",
            "--probe-image",
            PRIVATE,
            "--probe-as-role",
            "consumer",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    for r in &rows {
        assert_eq!(r["pull_ok"], "false", "{r:?}");
        assert_eq!(r["pull_status"], "200", "the manifest came: {r:?}");
        assert!(r["pulled_as"].ends_with(":role/consumer"), "{r:?}");
        assert!(
            r["pull_failure"].starts_with("config blob sha256:")
                && r["pull_failure"].contains("principal lacks ecr:GetDownloadUrlForLayer"),
            "{r:?}"
        );
    }
}

#[test]
fn an_index_resolves_to_the_platform_asked() {
    let (emu, _org, cfg) = setup(20);
    let published = emu.get("/_ptc/upstream_images");
    let index = published["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            format!(
                "{}:{}",
                i["repository"].as_str().unwrap(),
                i["tag"].as_str().unwrap()
            ) == INDEX
        })
        .cloned()
        .expect("the emulator seeds an index");
    let child = |platform: &str| {
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"] == platform)
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (flags, platform) in [
        (vec![], "linux/amd64"),
        (vec!["--platform", "linux/arm64"], "linux/arm64"),
    ] {
        let mut args = vec!["probe", "--image", INDEX];
        args.extend(flags);
        let (out, rows) = ptc(&emu, &cfg, &args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        for r in &rows {
            assert_eq!(r["pull_ok"], "true", "{r:?}");
            assert_eq!(r["pull_blobs"], "2", "{r:?}");
            assert!(
                r["pull_note"].contains(&format!("{platform} manifest {}", child(platform))),
                "{r:?}"
            );
        }
    }
    let (out, rows) = ptc(
        &emu,
        &cfg,
        &["probe", "--image", INDEX, "--platform", "windows/amd64"],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        rows.iter().all(|r| r["pull_failure"].starts_with(
            "the image index has no windows/amd64 manifest (it offers linux/amd64, linux/arm64)"
        )),
        "{rows:?}"
    );
    // A platform that is not one is refused before any call, and so is a pull's flag without
    // a pull.
    emu.reset_calls();
    let (out, _) = ptc(&emu, &cfg, &["validate", "--platform", "linux/arm64"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--platform: is given without --probe-image"),
        "{}",
        out.stderr
    );
    let (out, _) = ptc(
        &emu,
        &cfg,
        &["probe", "--image", INDEX, "--platform", "amd64"],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--platform"), "{}", out.stderr);
    assert!(emu.calls().is_empty());
}

#[test]
fn a_corrupt_blob_an_unreachable_s3_and_a_large_blob_are_each_said() {
    let (emu, _org, cfg) = setup(20);
    emu.post(
        "/_ptc/upstream_images",
        json!({ "images": [
            { "repository": "demo-group/demo-project/bad", "tag": "1", "corrupt": true },
            { "repository": "demo-group/demo-project/big", "tag": "1", "layer_sizes": [3 * 1024 * 1024] }
        ]}),
    );
    let (out, rows) = ptc(
        &emu,
        &cfg,
        &["probe", "--image", "demo-group/demo-project/bad:1"],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    for r in &rows {
        assert_eq!(r["pull_ok"], "false", "{r:?}");
        assert!(
            r["pull_failure"].starts_with("layer blob sha256:")
                && r["pull_failure"].contains(": digest mismatch: the "),
            "{r:?}"
        );
    }

    let (out, rows) = ptc(
        &emu,
        &cfg,
        &[
            "probe",
            "--image",
            "demo-group/demo-project/big:1",
            "--max-blob-mib",
            "1",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    for r in &rows {
        assert_eq!(r["pull_ok"], "true", "{r:?}");
        assert_eq!(r["pull_blobs"], "1", "the config only: {r:?}");
        assert!(
            r["pull_note"]
                .contains("not downloaded (over --max-blob-mib 1): request checked, redirected to"),
            "{r:?}"
        );
    }

    // S3 out of reach: the redirect points at a closed port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    emu.post(
        "/_ptc/s3",
        json!({ "redirect_base": format!("http://127.0.0.1:{closed}") }),
    );
    let (out, rows) = ptc(&emu, &cfg, &["probe", "--image", PRIVATE]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    for r in &rows {
        assert!(
            r["pull_failure"]
                .contains("the S3 endpoint 127.0.0.1 is unreachable from this network")
                && r["pull_failure"].contains("VPC gateway endpoint for S3"),
            "{r:?}"
        );
    }
}
