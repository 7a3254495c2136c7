//! Repository creation templates: `apply` creates one per target, leaves a converged one alone
//! and updates it everywhere when the rollout file changes.

use super::*;

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

const LIFECYCLE: &str = "lifecycle_policy = '{\"rules\": [{\"rulePriority\": 1, \"selection\": {\"tagStatus\": \"any\", \"countType\": \"imageCountMoreThan\", \"countNumber\": 50}, \"action\": {\"type\": \"expire\"}}]}'\n";

/// UpdateRepositoryCreationTemplate keeps what a request leaves out: a lifecycle policy (and a
/// role) removed from the file is cleared with an empty string, once, and the template then
/// converges.
#[test]
fn a_lifecycle_policy_removed_from_the_file_is_cleared_once() {
    let (emu, org) = Emulator::with_org();
    let with = config(
        &emu,
        "",
        &format!("[repository_template]\n{LIFECYCLE}custom_role_name = \"ecr-template\"\n"),
    );
    apply(&emu, &with);
    let templates = emu.state()["templates"].as_array().unwrap().clone();
    assert!(templates
        .iter()
        .all(|t| t["lifecyclePolicy"].is_string() && t["customRoleArn"].is_string()));
    let without = config(&emu, "", "[repository_template]\n");
    emu.reset_calls();
    apply(&emu, &without);
    let updates = emu.mutating_calls();
    assert_eq!(updates.len(), org.active().len() * 2, "{updates:?}");
    assert!(
        updates
            .iter()
            .all(|a| a == "UpdateRepositoryCreationTemplate"),
        "{updates:?}"
    );
    for t in emu.state()["templates"].as_array().unwrap() {
        assert!(t["lifecyclePolicy"].is_null(), "policy kept: {t}");
        assert!(t["customRoleArn"].is_null(), "role kept: {t}");
    }
    let cleared = |emu: &Emulator| -> Vec<Value> {
        emu.calls_of("UpdateRepositoryCreationTemplate")
            .into_iter()
            .map(|c| c["empty_members"].clone())
            .collect()
    };
    assert!(
        cleared(&emu)
            .iter()
            .all(|m| *m == json!(["customRoleArn", "lifecyclePolicy"])),
        "{:?}",
        cleared(&emu)
    );
    emu.reset_calls();
    apply(&emu, &without);
    assert_eq!(
        emu.mutating_calls(),
        Vec::<String>::new(),
        "never converges"
    );
    emu.assert_converged(&without);
    // Another change clears nothing more: "" only for what ECR holds.
    let described = config(&emu, "", "[repository_template]\ndescription = \"other\"\n");
    emu.reset_calls();
    apply(&emu, &described);
    let sent = cleared(&emu);
    assert_eq!(sent.len(), org.active().len() * 2);
    assert!(sent.iter().all(Value::is_null), "{sent:?}");
}

/// A tag mutability dropped from the file goes back to ECR's default, MUTABLE, once.
#[test]
fn a_tag_mutability_removed_from_the_file_goes_back_to_the_default() {
    let (emu, org) = Emulator::with_org();
    apply(
        &emu,
        &config(
            &emu,
            "",
            "[repository_template]\nimage_tag_mutability = \"IMMUTABLE\"\n",
        ),
    );
    let without = config(&emu, "", "[repository_template]\n");
    emu.reset_calls();
    apply(&emu, &without);
    assert_eq!(emu.mutating_calls().len(), org.active().len() * 2);
    for t in emu.state()["templates"].as_array().unwrap() {
        assert_eq!(t["imageTagMutability"], "MUTABLE", "{t}");
    }
    emu.assert_converged(&without);
}

/// `*_WITH_EXCLUSION` tag mutabilities with their filters: created, compared, and a change of
/// filter updated once.
#[test]
fn tag_mutability_exclusion_filters_are_kept() {
    let (emu, org) = Emulator::with_org();
    let template = "[repository_template]\nimage_tag_mutability = \"IMMUTABLE_WITH_EXCLUSION\"\nimage_tag_mutability_exclusion_filters = [{ filter_type = \"WILDCARD\", filter = \"latest\" }, { filter_type = \"wildcard\", filter = \"dev-*\" }]\n";
    let cfg = config(&emu, "", template);
    apply(&emu, &cfg);
    let templates = emu.state()["templates"].as_array().unwrap().clone();
    assert_eq!(templates.len(), org.active().len() * 2);
    for t in &templates {
        assert_eq!(t["imageTagMutability"], "IMMUTABLE_WITH_EXCLUSION");
        assert_eq!(
            t["imageTagMutabilityExclusionFilters"],
            json!([
                {"filterType": "WILDCARD", "filter": "latest"},
                {"filterType": "WILDCARD", "filter": "dev-*"}
            ])
        );
    }
    emu.reset_calls();
    apply(&emu, &cfg);
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    let cfg = config(&emu, "", &template.replace("dev-*", "test-*"));
    emu.reset_calls();
    apply(&emu, &cfg);
    assert_eq!(emu.mutating_calls().len(), org.active().len() * 2);
    emu.assert_converged(&cfg);
    // Back to a plain mutability: the filters go with it.
    let cfg = config(
        &emu,
        "",
        "[repository_template]\nimage_tag_mutability = \"MUTABLE\"\n",
    );
    apply(&emu, &cfg);
    for t in emu.state()["templates"].as_array().unwrap() {
        assert_eq!(t["imageTagMutability"], "MUTABLE");
        assert!(t["imageTagMutabilityExclusionFilters"].is_null(), "{t}");
    }
    emu.assert_converged(&cfg);
}

/// Template values ECR would refuse are refused before any call, each naming its field.
#[test]
fn template_values_ecr_refuses_are_refused_before_any_call() {
    let emu = Emulator::start();
    let filter = |f: &str| format!("{{ filter_type = \"WILDCARD\", filter = \"{f}\" }}");
    let field = "repository_template.image_tag_mutability_exclusion_filters";
    let cases: Vec<(String, String)> = vec![
        (
            "image_tag_mutability = \"IMMUTABLE_WITH_EXCLUSION\"\n".into(),
            field.into(),
        ),
        (
            format!(
                "image_tag_mutability = \"IMMUTABLE\"\nimage_tag_mutability_exclusion_filters = [{}]\n",
                filter("latest")
            ),
            field.into(),
        ),
        (
            format!(
                "image_tag_mutability_exclusion_filters = [{}]\n",
                filter("latest")
            ),
            field.into(),
        ),
        (
            format!(
                "image_tag_mutability = \"MUTABLE_WITH_EXCLUSION\"\nimage_tag_mutability_exclusion_filters = [{}]\n",
                ["a", "b", "c", "d", "e", "f"].map(filter).join(", ")
            ),
            field.into(),
        ),
        (
            format!(
                "image_tag_mutability = \"MUTABLE_WITH_EXCLUSION\"\nimage_tag_mutability_exclusion_filters = [{}]\n",
                filter("release/1")
            ),
            format!("{field}[0].filter"),
        ),
        (
            "image_tag_mutability = \"MUTABLE_WITH_EXCLUSION\"\nimage_tag_mutability_exclusion_filters = [{ filter_type = \"REGEX\", filter = \"a\" }]\n".into(),
            format!("{field}[0].filter_type"),
        ),
        (
            format!("description = \"{}\"\n", "d".repeat(257)),
            "repository_template.description".into(),
        ),
        (
            "lifecycle_policy = '{\"rules\": []}'\n".into(),
            "repository_template.lifecycle_policy".into(),
        ),
        (
            format!(
                "lifecycle_policy = '{{\"rules\": [{{\"rulePriority\": 1, \"description\": \"{}\", \"selection\": {{\"tagStatus\": \"any\", \"countType\": \"imageCountMoreThan\", \"countNumber\": 5}}, \"action\": {{\"type\": \"expire\"}}}}]}}'\n",
                "x".repeat(30_720)
            ),
            "repository_template.lifecycle_policy".into(),
        ),
        (
            format!(
                "custom_role_name = \"ecr-template\"\nresource_tags = {{ \"{}\" = \"v\" }}\n",
                "é".repeat(129)
            ),
            "repository_template.resource_tags".into(),
        ),
    ];
    for (template, expect) in cases {
        let cfg = config(&emu, "", &format!("[repository_template]\n{template}"));
        let out = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
        assert_eq!(out.code, 2, "{template}: {}", out.stderr);
        assert!(
            out.stderr.contains(&expect),
            "{template}: expected {expect:?} in {}",
            out.stderr
        );
        assert!(out.stderr.contains("fix:"), "{}", out.stderr);
        assert!(emu.calls().is_empty(), "{template} called AWS");
    }
    // At the limits: accepted (the plan runs).
    let cfg = config(
        &emu,
        "",
        &format!(
            "[repository_template]\ndescription = \"{}\"\ncustom_role_name = \"ecr-template\"\nresource_tags = {{ \"{}\" = \"{}\" }}\n",
            "é".repeat(256),
            "é".repeat(128),
            "é".repeat(256)
        ),
    );
    let out = run(emu.cmd().args(["plan", "--config"]).arg(&cfg));
    assert_ne!(out.code, 2, "{}", out.stderr);
    assert!(
        !out.stderr.contains("repository_template"),
        "{}",
        out.stderr
    );
}
