//! `iam-policy`: the policies it prints allow every call the tool makes, in every command, and
//! name exactly the configured secret and Organization.

use super::*;

#[test]
fn the_iam_policy_covers_every_call_the_tool_makes() {
    let (emu, _org) = Emulator::with_org();
    let template = "[repository_template]\nimage_tag_mutability = \"IMMUTABLE\"\nlifecycle_policy = '{\"rules\": []}'\ncustom_role_name = \"ecr-template\"\nresource_tags = { team = \"platform\" }\n[pull_access]\nrole_names = [\"consumer\"]\n";
    emu.identity_policies(json!([{"account": "*", "role_name": "consumer",
        "actions": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]));
    let cfg = config(&emu, "token_expires_on = \"2099-01-01\"", template);
    apply(&emu, &cfg);
    emu.set_valid_tokens(&[TOKEN, NEW_TOKEN]);
    let image = "demo-group/demo-project/app:1.0";
    let page = emu.path("matrix.html").display().to_string();
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
        vec!["report", "--format", "html", "--out", page.as_str()],
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
    // (BatchGetImage, CreateRepository, BatchImportUpstreamImage, GetDownloadUrlForLayer)
    // against the same policies; the S3 downloads ECR redirects to are presigned by ECR.
    let called: BTreeSet<String> = emu
        .calls()
        .iter()
        .filter(|c| c["service"] != "registry" && c["service"] != "s3")
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
