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
