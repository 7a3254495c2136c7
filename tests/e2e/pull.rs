//! From valid to pullable, against the emulator: `[pull_access]` in the registry policy, `probe`
//! (a real first pull in every target, as the member role or as a workload's role), and
//! repository creation templates whose role is in each account.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::support;
use serde_json::{json, Value};
use support::{rollout_text, run, Emulator, Run};

const IMAGE: &str = "demo-group/demo-project/app:1.0";
const PULL_ACCESS: &str = "[pull_access]\nrole_names = [\"consumer\"]\nprincipal_arns = [\"arn:aws:iam::{account_id}:role/ci/*\"]\n";
/// A workload role with the usual read-only ECR policy: no CreateRepository, no import.
const READ_ONLY: [&str; 4] = [
    "ecr:GetAuthorizationToken",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
];
const SID: &str = "PtcRolloutPullThroughCache";

fn config(emu: &Emulator, extra: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    emu.rollout(
        &format!("p{n}.toml"),
        &format!("{}\n{extra}", rollout_text("")),
    )
}

fn apply(emu: &Emulator, cfg: &Path) -> Run {
    let out = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    out
}

/// Report rows by (account, region).
type Rows = HashMap<(String, String), HashMap<String, String>>;

/// Runs a command with `--report FILE` and returns the run and the report's rows. The report
/// holds no registry credential either.
fn with_report(emu: &Emulator, cfg: &Path, args: &[&str]) -> (Run, Vec<HashMap<String, String>>) {
    let (out, rows) = emu.with_report(cfg, args);
    let text = std::fs::read_to_string(emu.path("with-report.csv")).unwrap_or_default();
    assert!(!text.contains("QVdTO"), "{text}");
    (out, rows)
}

/// Runs `probe` of [`IMAGE`] and returns the run and the rows by target.
fn probe(emu: &Emulator, cfg: &Path, extra: &[&str]) -> (Run, Rows) {
    let args: Vec<&str> = ["probe", "--image", IMAGE]
        .iter()
        .chain(extra)
        .copied()
        .collect();
    let (out, rows) = with_report(emu, cfg, &args);
    let rows = rows
        .into_iter()
        .map(|r| ((r["account_id"].clone(), r["region"].clone()), r))
        .collect();
    (out, rows)
}

fn read_only_consumers(emu: &Emulator) {
    emu.identity_policies(
        json!([{ "account": "*", "role_name": "consumer", "actions": READ_ONLY }]),
    );
}

/// No registry credential in anything the tool printed: ECR's tokens are base64 of "AWS:...",
/// which always begins "QVdTO".
fn assert_no_registry_credential(out: &Run) {
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains("QVdTO") && !text.contains("Basic "),
            "{text}"
        );
    }
}

#[test]
fn a_workload_role_can_pull_only_once_pull_access_is_applied() {
    let (emu, org) = Emulator::with_org();
    let targets = org.active().len() * 2;
    read_only_consumers(&emu);
    let plain = config(&emu, "");
    apply(&emu, &plain);

    // Valid is not pullable: the read-only role cannot make the first pull.
    let (out, rows) = probe(&emu, &plain, &["--as-role", "consumer"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(rows.len(), targets);
    for r in rows.values() {
        assert_eq!(r["is_valid"], "", "probe validates nothing: {r:?}");
        assert_eq!(r["pull_ok"], "false", "{r:?}");
        assert_eq!(r["pull_status"], "403");
        assert!(
            r["pull_failure"].starts_with("principal lacks ecr:CreateRepository"),
            "{r:?}"
        );
        assert!(r["pulled_as"].ends_with(":role/consumer"), "{r:?}");
    }

    let cfg = config(&emu, PULL_ACCESS);
    let plan = run(emu.cmd().args(["plan", "--config"]).arg(&cfg));
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stdout.contains("add pull access"), "{}", plan.stdout);
    assert!(
        plan.stdout
            .contains(&format!("{targets} pull access statements to write")),
        "{}",
        plan.stdout
    );
    apply(&emu, &cfg);

    emu.reset_calls();
    let (out, rows) = probe(&emu, &cfg, &["--as-role", "consumer", "-vvv"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for r in rows.values() {
        assert_eq!(r["pull_ok"], "true", "{r:?}");
        assert_eq!(r["pull_status"], "200");
        assert_eq!(r["cached"], "false");
        assert_eq!(r["image"], format!("gitlab/{IMAGE}"));
        assert!(r["pull_digest"].starts_with("sha256:"), "{r:?}");
        assert_eq!(r["pull_failure"], "");
    }
    assert_no_registry_credential(&out);
    // At most one credential per (account, Region) and one manifest request per target.
    assert_eq!(emu.calls_of("GetAuthorizationToken").len(), targets);
    assert_eq!(emu.calls_of("GetManifest").len(), targets);

    // The second pull is served from the cache.
    let (out, rows) = probe(&emu, &cfg, &["--as-role", "consumer"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        rows.values()
            .all(|r| r["cached"] == "true" && r["pull_ok"] == "true"),
        "{rows:?}"
    );
    assert!(
        out.stderr.contains(&format!(
            "{targets} of {targets} ({targets} from the cache; {} blobs, ",
            2 * targets
        )),
        "{}",
        out.stderr
    );

    // Converged: a re-apply writes nothing, the registry policy included.
    emu.reset_calls();
    apply(&emu, &cfg);
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
}

#[test]
fn a_foreign_statement_survives_apply_update_and_destroy_byte_for_byte() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    let foreign = r#"{ "Sid" : "Replication",  "Effect":"Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"}, "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"], "Resource": "arn:aws:ecr:us-east-1:123456789012:repository/*" }"#;
    let document =
        format!("{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {foreign}\n  ]\n}}");
    emu.mutate(json!({"op": "put_registry_policy", "account": dev, "region": "us-east-1", "policy_text": document}));

    let cfg = config(&emu, PULL_ACCESS);
    apply(&emu, &cfg);
    let text = emu.registry_policy(&dev, "us-east-1").expect("policy");
    assert!(text.contains(foreign), "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let ours = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == SID)
        .expect("ours")
        .clone();
    assert_eq!(
        ours["Resource"],
        format!("arn:aws:ecr:us-east-1:{dev}:repository/gitlab/*")
    );
    assert_eq!(
        ours["Condition"]["ArnLike"]["aws:PrincipalArn"],
        json!([
            format!("arn:aws:iam::{dev}:role/ci/*"),
            format!("arn:aws:iam::{dev}:role/consumer")
        ])
    );
    let prod = org.id("prod");
    let alone: Value =
        serde_json::from_str(&emu.registry_policy(&prod, "eu-west-1").unwrap()).unwrap();
    assert_eq!(alone["Statement"].as_array().unwrap().len(), 1);

    // Another principal in the file: only our statement changes.
    let cfg = config(
        &emu,
        &PULL_ACCESS.replace("\"consumer\"", "\"consumer\", \"runner\""),
    );
    emu.reset_calls();
    let plan = run(emu.cmd().args(["plan", "--config"]).arg(&cfg));
    assert!(
        plan.stdout.contains("update pull access"),
        "{}",
        plan.stdout
    );
    apply(&emu, &cfg);
    let puts = emu.calls_of("PutRegistryPolicy").len();
    assert_eq!(puts, org.active().len() * 2);
    assert!(emu
        .registry_policy(&dev, "us-east-1")
        .unwrap()
        .contains(foreign));

    // The compliance report checks the statement: ours removed behind the tool's back shows.
    let (out, rows) = emu.compliance(&cfg);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(rows.iter().all(|r| r["pull_access"] == "ok"));
    emu.mutate(json!({"op": "put_registry_policy", "account": prod, "region": "us-east-1", "policy_text": document}));
    let (out, rows) = emu.compliance(&cfg);
    assert_eq!(out.code, 1);
    let row = rows
        .iter()
        .find(|r| r["account_id"] == prod && r["region"] == "us-east-1")
        .unwrap();
    assert_eq!(row["pull_access"], "absent");
    assert!(
        row["reasons"].contains("no pull access statement"),
        "{row:?}"
    );
    apply(&emu, &cfg);

    // Destroy finds ptc-rollout's statement even after [pull_access] left the rollout file.
    let without = config(&emu, "");
    let out = run(emu
        .cmd()
        .args(["destroy", "--yes", "--config"])
        .arg(&without));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = emu
        .registry_policy(&dev, "us-east-1")
        .expect("the foreign statement's policy stays");
    assert!(text.contains(foreign) && !text.contains(SID), "{text}");
    assert_eq!(
        emu.registry_policy(&prod, "eu-west-1"),
        None,
        "ours was the last statement"
    );
}

#[test]
fn templates_with_a_role_per_account_shape_the_repositories_first_pulls_create() {
    let (emu, org) = Emulator::with_org();
    let lifecycle = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}"#;
    let template = format!("[repository_template]\ncustom_role_name = \"ecr-template\"\nimage_tag_mutability = \"IMMUTABLE\"\nlifecycle_policy = '{lifecycle}'\nresource_tags = {{ team = \"platform\" }}\n");
    let cfg = config(&emu, &template);
    apply(&emu, &cfg);
    for t in emu.state()["templates"].as_array().unwrap() {
        assert_eq!(
            t["customRoleArn"],
            format!(
                "arn:aws:iam::{}:role/ecr-template",
                t["account"].as_str().unwrap()
            )
        );
    }
    let (out, rows) = probe(&emu, &cfg, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for r in rows.values() {
        assert_eq!(r["pull_ok"], "true", "{r:?}");
        assert_eq!(r["pulled_as"], "");
        assert_eq!(r["repository_tag_mutability"], "IMMUTABLE");
        let have: Value = serde_json::from_str(&r["repository_lifecycle_policy"]).unwrap();
        assert_eq!(have, serde_json::from_str::<Value>(lifecycle).unwrap());
    }
    let repos = emu.repositories();
    let accounts: std::collections::BTreeSet<_> = repos
        .iter()
        .map(|r| r["account"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(accounts.len(), org.active().len());
    assert!(accounts.len() >= 2);
    for r in &repos {
        assert_eq!(r["name"], "gitlab/demo-group/demo-project/app");
        assert_eq!(r["tags"]["team"], "platform", "{r}");
    }
}

#[test]
fn one_targets_failed_pull_is_its_own_row() {
    let (emu, org) = Emulator::with_org();
    let cfg = config(&emu, "");
    apply(&emu, &cfg);
    let dev = org.id("dev");
    emu.mutate(
        json!({"op": "delete_rule", "account": dev, "region": "eu-west-1", "prefix": "gitlab"}),
    );
    let (out, rows) = probe(&emu, &cfg, &[]);
    assert_eq!(out.code, 1);
    for ((account, region), r) in &rows {
        if *account == dev && region == "eu-west-1" {
            assert!(
                r["pull_failure"].starts_with("no pull through cache rule for prefix \"gitlab\""),
                "{r:?}"
            );
            assert_eq!(r["pull_status"], "404");
        } else {
            assert_eq!(r["pull_ok"], "true", "{r:?}");
        }
    }
    assert!(
        out.stderr.contains(&format!("{dev} eu-west-1")),
        "{}",
        out.stderr
    );

    // An image missing upstream fails where it is pulled, and says so.
    let prod = org.id("prod");
    let (out, rows) = with_report(
        &emu,
        &cfg,
        &[
            "probe",
            "--image",
            "demo-group/demo-project/nope:9",
            "--accounts",
            &prod,
        ],
    );
    assert_eq!(out.code, 1);
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert!(
            r["pull_failure"].starts_with(
                "image not found upstream: registry.gitlab.com/demo-group/demo-project/nope:9"
            ),
            "{r:?}"
        );
    }
}

#[test]
fn validate_can_prove_pulls_too() {
    let (emu, org) = Emulator::with_org();
    let cfg = config(&emu, "");
    apply(&emu, &cfg);
    let (out, rows) = with_report(&emu, &cfg, &["validate", "--probe-image", IMAGE]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(rows.len(), org.active().len() * 2);
    assert!(
        rows.iter()
            .all(|r| r["is_valid"] == "true" && r["pull_ok"] == "true"),
        "{rows:?}"
    );
    // A rule that is not valid is not pulled through: the pull's cells stay empty.
    emu.set_valid_tokens(&[]);
    let dev = org.id("dev");
    let (out, rows) = with_report(
        &emu,
        &cfg,
        &["validate", "--probe-image", IMAGE, "--accounts", &dev],
    );
    assert_eq!(out.code, 1);
    assert!(
        rows.iter()
            .all(|r| r["is_valid"] == "false" && r["pull_ok"].is_empty()),
        "{rows:?}"
    );
}

#[test]
fn bad_pull_input_is_refused_before_any_call() {
    let emu = Emulator::start();
    let good = config(&emu, "");
    let cases: Vec<(PathBuf, Vec<&str>, &str)> = vec![
        (
            good.clone(),
            vec!["probe", "--image", "demo-group/app"],
            "--image",
        ),
        (
            good.clone(),
            vec!["probe", "--image", "registry.gitlab.com/g/p/app:1"],
            "--image",
        ),
        (
            good.clone(),
            vec![
                "probe",
                "--image",
                IMAGE,
                "--as-role",
                "arn:aws:iam::1:role/x",
            ],
            "--as-role",
        ),
        (
            good.clone(),
            vec!["validate", "--probe-image", "UPPER/app:1"],
            "--probe-image",
        ),
        (
            config(&emu, "[pull_access]\nrole_names = [\"\"]\n"),
            vec!["plan"],
            "pull_access.role_names[0]",
        ),
        (
            config(&emu, "[pull_access]\n"),
            vec!["plan"],
            "pull_access: names no principal",
        ),
        (
            config(
                &emu,
                "[pull_access]\nprincipal_arns = [\"arn:aws:iam::111111111111:role/x\"]\n",
            ),
            vec!["plan"],
            "pull_access.principal_arns[0]: names the fixed account",
        ),
        (
            config(
                &emu,
                "[pull_access]\nprincipal_arns = [\"arn:aws-cn:iam::{account_id}:role/x\"]\n",
            ),
            vec!["plan"],
            "partition",
        ),
        (
            config(
                &emu,
                "[repository_template]\ncustom_role_arn = \"arn:aws:iam::111111111111:role/t\"\n",
            ),
            vec!["apply", "--yes"],
            "custom_role_name",
        ),
        (
            config(
                &emu,
                "[repository_template]\nresource_tags = { a = \"b\" }\n",
            ),
            vec!["apply", "--yes"],
            "repository_template.custom_role_name: is required",
        ),
    ];
    for (cfg, args, expect) in cases {
        let out = run(emu.cmd().args(&args).arg("--config").arg(&cfg));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(expect),
            "{args:?}: expected {expect:?} in {}",
            out.stderr
        );
        assert!(emu.calls().is_empty(), "{args:?} called AWS");
    }
}
