//! Day-two operations against the emulator: rotate, destroy, the compliance report, the IAM
//! policy's coverage of every call the tool makes, and repository creation templates.

mod support;

use std::collections::{BTreeSet, HashMap};

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

fn secret_of(emu: &Emulator, account: &str, region: &str) -> Value {
    emu.secrets()
        .into_iter()
        .find(|s| s["account"] == account && s["region"] == region && s["name"] == SECRET)
        .expect("secret")
}

fn puts_by_target(emu: &Emulator) -> HashMap<(String, String), usize> {
    let mut n = HashMap::new();
    for c in emu
        .calls()
        .into_iter()
        .filter(|c| c["action"] == "PutSecretValue")
    {
        *n.entry((
            c["account"].as_str().unwrap().to_owned(),
            c["region"].as_str().unwrap().to_owned(),
        ))
        .or_default() += 1;
    }
    n
}

#[test]
fn rotate_writes_one_version_per_managed_secret_and_a_rerun_writes_nothing() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    // dev/eu-west-1 holds someone else's secret of that name: rotate must list it, not touch it.
    emu.mutate(
        json!({"op": "create_secret", "account": dev, "region": "eu-west-1", "name": SECRET,
        "value": {"username": "theirs", "accessToken": TOKEN}}),
    );
    let cfg = config(&emu, "token_expires_on = \"2027-06-30\"", "");
    apply(&emu, &cfg);
    emu.set_valid_tokens(&[TOKEN, NEW_TOKEN]);
    emu.reset_calls();
    let report = emu.path("rotate.csv");
    let out = run(emu
        .cmd()
        .args(["rotate", "--yes", "--config"])
        .arg(&cfg)
        .arg("--report")
        .arg(&report)
        .env("GITLAB_REGISTRY_TOKEN", NEW_TOKEN));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("unmanaged: {dev} eu-west-1")),
        "{}",
        out.stderr
    );
    let puts = puts_by_target(&emu);
    assert_eq!(puts.len(), 7, "one write per managed secret: {puts:?}");
    assert!(puts.values().all(|n| *n == 1));
    assert!(!puts.contains_key(&(dev.clone(), "eu-west-1".to_owned())));
    for account in org.active() {
        for region in ["eu-west-1", "us-east-1"] {
            let s = secret_of(&emu, &account, region);
            let value = s["value"].as_str().unwrap();
            if account == dev && region == "eu-west-1" {
                assert!(value.contains("theirs"), "unmanaged secret untouched");
            } else {
                assert!(value.contains(NEW_TOKEN), "{account} {region}");
                assert_eq!(s["tags"]["token-expires-on"], "2027-06-30");
            }
        }
    }
    let rows = read_report(&report);
    assert_eq!(rows.iter().filter(|r| r["outcome"] == "updated").count(), 7);
    assert_eq!(rows.iter().filter(|r| r["outcome"] == "skipped").count(), 1);

    emu.reset_calls();
    let again = run(emu
        .cmd()
        .args(["rotate", "--yes", "--config"])
        .arg(&cfg)
        .env("GITLAB_REGISTRY_TOKEN", NEW_TOKEN));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        emu.mutating_calls(),
        Vec::<String>::new(),
        "the same token again writes nothing"
    );
}

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

#[test]
fn the_report_matches_the_emulators_state() {
    let (emu, org) = Emulator::with_org();
    let (dev, prod, sandbox) = (
        org.id("dev"),
        org.id("prod"),
        org.id("=HYPERLINK(\"http://x\")"),
    );
    let cfg = config(&emu, "token_expires_on = \"2099-01-01\"", "");
    apply(&emu, &cfg);
    emu.mutate(
        json!({"op": "delete_rule", "account": dev, "region": "us-east-1", "prefix": "gitlab"}),
    );
    emu.mutate(
        json!({"op": "delete_rule", "account": prod, "region": "us-east-1", "prefix": "gitlab"}),
    );
    emu.mutate(
        json!({"op": "create_rule", "account": prod, "region": "us-east-1", "prefix": "gitlab",
        "upstream_registry": "ecr-public", "upstream_url": "public.ecr.aws"}),
    );
    emu.mutate(
        json!({"op": "delete_secret", "account": sandbox, "region": "us-east-1", "name": SECRET}),
    );
    let out = emu.path("c.csv");
    let result = run(emu
        .cmd()
        .args(["report", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out));
    assert_eq!(
        result.code, 1,
        "not every target is compliant: {}",
        result.stderr
    );
    let rows = read_report(&out);
    assert_eq!(rows.len(), 8);
    let row = |a: &str, r: &str| {
        rows.iter()
            .find(|x| x["account_id"] == a && x["region"] == r)
            .unwrap()
            .clone()
    };
    let d = row(&dev, "us-east-1");
    assert_eq!(
        (d["compliant"].as_str(), d["rule"].as_str()),
        ("false", "absent")
    );
    assert!(d["reasons"].contains("no pull through cache rule"));
    let p = row(&prod, "us-east-1");
    assert_eq!(
        (p["rule"].as_str(), p["upstream_registry_url"].as_str()),
        ("conflicting", "public.ecr.aws")
    );
    let s = row(&sandbox, "us-east-1");
    assert_eq!(s["secret"], "pending_deletion");
    assert!(s["reasons"].contains("secret scheduled for deletion"));
    let ok = row(&dev, "eu-west-1");
    assert_eq!(
        (
            ok["compliant"].as_str(),
            ok["is_valid"].as_str(),
            ok["secret_managed"].as_str()
        ),
        ("true", "true", "true")
    );
    assert_eq!(ok["token_expires_on"], "2099-01-01");
    assert!(ok["token_days_left"].parse::<i64>().unwrap() > 20_000);
    assert_eq!(ok["secret_age_days"], "0");
    assert!(
        result.stderr.contains("4 compliant, 4 non-compliant")
            || result.stderr.contains("non-compliant"),
        "{}",
        result.stderr
    );

    // Expired and nearly expired tokens, declared in the rollout file and tagged at rotate.
    for (date, reason) in [
        ("2020-01-01", "token expired"),
        (soon(), "token expires within 30 days"),
    ] {
        let cfg = config(&emu, &format!("token_expires_on = \"{date}\""), "");
        emu.reset_calls();
        let r = run(emu
            .cmd()
            .args([
                "rotate",
                "--yes",
                "--regions",
                "eu-west-1",
                "--accounts",
                &dev,
                "--config",
            ])
            .arg(&cfg)
            .env("GITLAB_REGISTRY_TOKEN", TOKEN));
        assert_eq!(r.code, 0, "{}", r.stderr);
        let result = run(emu
            .cmd()
            .args([
                "report",
                "--format",
                "json",
                "--regions",
                "eu-west-1",
                "--accounts",
                &dev,
                "--config",
            ])
            .arg(&cfg));
        let doc: Value = serde_json::from_str(&result.stdout).unwrap();
        let t = &doc["targets"][0];
        assert_eq!(t["token_expires_on"], date);
        assert_eq!(t["compliant"], false);
        assert!(t["reasons"].as_str().unwrap().contains(reason), "{t}");
    }
}

/// A date ten days from now.
fn soon() -> &'static str {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let days = now / 86_400 + 10;
    // civil_from_days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    Box::leak(format!("{y:04}-{m:02}-{d:02}").into_boxed_str())
}

#[test]
fn the_iam_policy_covers_every_call_the_tool_makes() {
    let (emu, _org) = Emulator::with_org();
    let template = "[repository_template]\nimage_tag_mutability = \"IMMUTABLE\"\nlifecycle_policy = '{\"rules\": []}'\ncustom_role_name = \"ecr-template\"\nresource_tags = { team = \"platform\" }\n[pull_access]\nrole_names = [\"consumer\"]\n";
    emu.identity_policies(json!([{"account": "*", "role_name": "consumer",
        "actions": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage"]}]));
    let cfg = config(&emu, "token_expires_on = \"2099-01-01\"", template);
    apply(&emu, &cfg);
    emu.set_valid_tokens(&[TOKEN, NEW_TOKEN]);
    let image = "demo-group/demo-project/app:1.0";
    for args in [
        vec!["plan"],
        vec!["validate", "--probe-image", image],
        vec!["probe", "--image", image],
        vec![
            "probe",
            "--image",
            "demo-group/demo-project/worker:2.3",
            "--as-role",
            "consumer",
        ],
        vec!["rotate", "--yes"],
        vec!["report"],
        vec!["accounts"],
        vec!["destroy", "--yes", "--force-delete"],
    ] {
        let out = run(emu
            .cmd()
            .args(&args)
            .arg("--config")
            .arg(&cfg)
            .env("GITLAB_REGISTRY_TOKEN", NEW_TOKEN));
        assert!(
            out.code == 0 || args[0] == "report",
            "{args:?}: {}",
            out.stderr
        );
    }
    let policy = run(emu
        .cmd()
        .args([
            "iam-policy",
            "--caller-role-arn",
            "arn:aws:iam::123456789012:role/rollout",
            "--org-id",
            "o-abc123",
            "--probe-as-role",
            "consumer",
            "--config",
        ])
        .arg(&cfg));
    assert_eq!(policy.code, 0, "{}", policy.stderr);
    let doc: Value = serde_json::from_str(&policy.stdout).unwrap();
    let mut allowed = BTreeSet::new();
    for key in ["member_role_policy", "caller_policy", "consumer_policy"] {
        for st in doc[key]["Statement"].as_array().unwrap() {
            match &st["Action"] {
                Value::String(a) => {
                    allowed.insert(a.clone());
                }
                Value::Array(list) => {
                    allowed.extend(list.iter().map(|a| a.as_str().unwrap().to_owned()))
                }
                _ => {}
            }
        }
    }
    // The registry endpoint's requests are not API calls: ECR checks the actions behind them
    // (BatchGetImage, CreateRepository, BatchImportUpstreamImage) against the same policies.
    let called: BTreeSet<String> = emu
        .calls()
        .iter()
        .filter(|c| c["service"] != "registry")
        .map(|c| {
            format!(
                "{}:{}",
                c["service"].as_str().unwrap(),
                c["action"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        called.contains("ecr:CreateRepositoryCreationTemplate")
            && called.contains("secretsmanager:DeleteSecret")
            && called.contains("ecr:PutRegistryPolicy")
            && called.contains("ecr:GetAuthorizationToken"),
        "{called:?}"
    );
    let uncovered: Vec<_> = called.difference(&allowed).collect();
    assert!(
        uncovered.is_empty(),
        "calls not covered by the IAM policy: {uncovered:?}"
    );
    // The secret statement names exactly the configured secret.
    let resource = doc["member_role_policy"]["Statement"][0]["Resource"]
        .as_str()
        .unwrap();
    assert_eq!(
        resource,
        "arn:aws:secretsmanager:*:*:secret:ecr-pullthroughcache/gitlab-??????"
    );
    assert_eq!(
        doc["member_role_trust_policy"]["Statement"][0]["Condition"]["StringEquals"]
            ["aws:PrincipalOrgID"],
        "o-abc123"
    );
}

#[test]
fn apply_keeps_the_repository_creation_template() {
    let (emu, org) = Emulator::with_org();
    let template = "[repository_template]\nimage_tag_mutability = \"IMMUTABLE\"\nlifecycle_policy = '{\"rules\": [{\"rulePriority\": 1, \"selection\": {\"tagStatus\": \"any\", \"countType\": \"imageCountMoreThan\", \"countNumber\": 50}, \"action\": {\"type\": \"expire\"}}]}'\n";
    let cfg = config(&emu, "", template);
    apply(&emu, &cfg);
    let templates = emu.state()["templates"].as_array().unwrap().clone();
    assert_eq!(templates.len(), org.active().len() * 2);
    for t in &templates {
        assert_eq!(t["prefix"], "gitlab");
        assert_eq!(t["imageTagMutability"], "IMMUTABLE");
        assert!(t["appliedFor"]
            .as_array()
            .unwrap()
            .contains(&json!("PULL_THROUGH_CACHE")));
    }
    emu.reset_calls();
    apply(&emu, &cfg);
    assert_eq!(
        emu.mutating_calls(),
        Vec::<String>::new(),
        "a converged template is left alone"
    );
    // Changed in the rollout file: updated everywhere.
    let cfg = config(&emu, "", &template.replace("IMMUTABLE", "MUTABLE"));
    emu.reset_calls();
    apply(&emu, &cfg);
    let updates = emu.mutating_calls();
    assert_eq!(updates.len(), org.active().len() * 2);
    assert!(
        updates
            .iter()
            .all(|a| a == "UpdateRepositoryCreationTemplate"),
        "{updates:?}"
    );
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
