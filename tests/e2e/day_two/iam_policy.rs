//! `iam-policy`: the policies it prints allow every call the tool makes, in every command, and
//! name exactly the configured secret and Organization.

use super::*;

#[test]
fn the_iam_policy_covers_every_call_the_tool_makes() {
    let (emu, _org) = Emulator::with_org();
    let template = "[repository_template]\nimage_tag_mutability = \"IMMUTABLE\"\nlifecycle_policy = '{\"rules\": [{\"rulePriority\": 1, \"selection\": {\"tagStatus\": \"any\", \"countType\": \"imageCountMoreThan\", \"countNumber\": 50}, \"action\": {\"type\": \"expire\"}}]}'\ncustom_role_name = \"ecr-template\"\nresource_tags = { team = \"platform\" }\n[pull_access]\nrole_names = [\"consumer\"]\n";
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
    let doc = printed_policy(&emu, &cfg, &["--probe-as-role", "consumer"]);
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

/// `iam-policy`'s printed documents for `cfg`, with `extra` arguments.
fn printed_policy(emu: &Emulator, cfg: &std::path::Path, extra: &[&str]) -> Value {
    let out = run(emu
        .cmd()
        .args([
            "iam-policy",
            "--caller-role-arn",
            "arn:aws:iam::123456789012:role/rollout",
            "--org-id",
            "o-abc123",
        ])
        .args(extra)
        .arg("--config")
        .arg(cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

/// The member role's statements as the emulator's identity policy of the member role (their
/// actions and resources; Secrets Manager's DescribeSecret is evaluated against both).
fn as_member_role(statements: &[&Value]) -> Value {
    let list = |v: &Value| match v {
        Value::String(s) => json!([s]),
        other => other.clone(),
    };
    Value::Array(
        statements
            .iter()
            .map(|st| {
                json!({"account": "*", "role_name": "OrganizationAccountAccessRole",
                    "actions": list(&st["Action"]), "resources": list(&st["Resource"])})
            })
            .collect(),
    )
}

/// A secret that does not exist yet is described by its name: a role allowed DescribeSecret
/// only on `NAME-??????` is refused (AccessDenied, not "not found"), and the row names the
/// permission that covers it. The printed policy has it; with the secrets in place the suffixed
/// ARN is enough again.
#[test]
fn describing_a_secret_before_it_exists_is_allowed_and_named_when_denied() {
    let (emu, _org) = Emulator::with_org();
    let cfg = config(&emu, "", "");
    let doc = printed_policy(&emu, &cfg, &[]);
    let statements: Vec<&Value> = doc["member_role_policy"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let by_sid = |sid: &str| *statements.iter().find(|s| s["Sid"] == sid).unwrap();
    let prefix = "arn:aws:secretsmanager:*:*:secret:ecr-pullthroughcache/gitlab*";
    assert_eq!(
        by_sid("DescribeSecretBeforeItExists")["Resource"],
        prefix,
        "{doc}"
    );
    let suffixed_only = as_member_role(&[by_sid("PullThroughCacheSecret")]);
    let plan = |emu: &Emulator| {
        run(emu
            .cmd()
            .args(["plan", "--detailed-exitcode", "--config"])
            .arg(&cfg))
    };
    emu.identity_policies(suffixed_only.clone());
    let out = plan(&emu);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains("AccessDeniedException")
            && text.contains(&format!("secretsmanager:DescribeSecret on {prefix}"))
            && text.contains("DescribeSecretBeforeItExists"),
        "{text}"
    );
    emu.identity_policies(as_member_role(&statements));
    let out = plan(&emu);
    assert_eq!(
        out.code, 3,
        "pending, none failed: {}\n{}",
        out.stdout, out.stderr
    );
    emu.identity_policies(json!([]));
    apply(&emu, &cfg);
    emu.identity_policies(suffixed_only);
    emu.assert_converged(&cfg);
}

/// CreateRepository and PutLifecyclePolicy (the template actions' dependent actions in AWS's
/// Service Authorization Reference, which does not say on which resource they are checked)
/// are granted on `*` whatever the prefix, and docs/iam.md says so. Its example of the secret
/// statements is what `iam-policy` prints for plans/gitlab.toml.
#[test]
fn template_dependent_actions_are_granted_on_any_resource_and_docs_agree() {
    let emu = Emulator::start();
    let template = "[repository_template]\nlifecycle_policy = '{\"rules\": [{\"rulePriority\": 1, \"selection\": {\"tagStatus\": \"any\", \"countType\": \"imageCountMoreThan\", \"countNumber\": 50}, \"action\": {\"type\": \"expire\"}}]}'\n";
    for (prefix, probed) in [
        ("gitlab", "arn:aws:ecr:*:*:repository/gitlab/*"),
        ("ROOT", "arn:aws:ecr:*:*:repository/*"),
    ] {
        let text = rollout_text("").replace(
            "ecr_repository_prefix = \"gitlab\"",
            &format!("ecr_repository_prefix = \"{prefix}\""),
        );
        let cfg = emu.rollout(&format!("t-{prefix}.toml"), &format!("{text}\n{template}"));
        let doc = printed_policy(&emu, &cfg, &[]);
        let statements = doc["member_role_policy"]["Statement"].as_array().unwrap();
        let by_sid = |sid: &str| {
            statements
                .iter()
                .find(|st| st["Sid"] == sid)
                .unwrap_or_else(|| panic!("{prefix}: no {sid} in {doc}"))
        };
        assert_eq!(
            by_sid("RepositoryCreationTemplateRepositories"),
            &json!({"Sid": "RepositoryCreationTemplateRepositories", "Effect": "Allow",
                "Action": ["ecr:CreateRepository", "ecr:PutLifecyclePolicy"], "Resource": "*"}),
            "{prefix}"
        );
        // Where the resource is known (probe's own pulls), CreateRepository stays the prefix's.
        assert_eq!(
            by_sid("ProbeThroughTheCache")["Resource"],
            probed,
            "{prefix}"
        );
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/iam.md")).unwrap();
    assert!(
        readme.contains("`ecr:CreateRepository` and `ecr:PutLifecyclePolicy` (which AWS's Service Authorization\nReference lists as their dependent actions; on `*`"),
        "docs/iam.md names the template's dependent actions and their `*`"
    );
    let (_, after) = readme
        .split_once("the member role's secret statements for `plans/gitlab.toml`:\n\n```json\n")
        .expect("docs/iam.md's example");
    let (block, _) = after.split_once("```").unwrap();
    let shown: Vec<Value> = serde_json::from_str(block).unwrap();
    let cfg = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/plans/gitlab.toml"));
    let doc = printed_policy(&emu, cfg, &[]);
    let printed = doc["member_role_policy"]["Statement"].as_array().unwrap();
    for st in &shown {
        assert!(
            printed.contains(st),
            "docs/iam.md shows {st}, iam-policy prints {printed:?}"
        );
    }
    assert_eq!(shown.len(), 2);
    // The member role's core and the caller's policy at docs/iam.md's top, likewise.
    let block_after = |marker: &str| -> Value {
        let (_, after) = readme.split_once(marker).expect(marker);
        let (_, after) = after.split_once("```json\n").unwrap();
        serde_json::from_str(after.split_once("```").unwrap().0).unwrap()
    };
    let core = block_after("Its core, as printed\nfor `plans/gitlab.toml`");
    for st in core["Statement"].as_array().unwrap() {
        assert!(
            printed.contains(st),
            "docs/iam.md's member role shows {st}, iam-policy prints {printed:?}"
        );
    }
    assert_eq!(
        block_after("its `caller_policy`, as printed\nfor `plans/gitlab.toml`"),
        doc["caller_policy"],
        "docs/iam.md's caller policy"
    );
}
