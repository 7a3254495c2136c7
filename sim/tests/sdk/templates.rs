//! `[repository_template]` through the simulation's ECR templates: apply creates the template,
//! a re-apply reads and writes nothing, and a lifecycle policy dropped from the rollout file is
//! cleared, after which the template matches again.

use ptc_rollout::data::target::{Action, TemplateState};

use super::services::quiet;
use super::*;

const LIFECYCLE: &str = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}"#;

/// Observes and converges the caller's target; the actions it took.
async fn apply(r: &Regional, rollout: &Rollout) -> Vec<Action> {
    let t = caller_target();
    let token = GitlabToken::new(GOOD.into()).unwrap();
    let o = ptc_rollout::observe(r, &t, rollout).await.unwrap();
    let decision = ptc_rollout::decide(&o, rollout, false);
    ptc_rollout::converge(r, &t, rollout, &o, decision.actions(), Some(&token))
        .await
        .unwrap();
    decision.actions().to_vec()
}

#[tokio::test(start_paused = true)]
async fn a_template_converges_and_a_dropped_lifecycle_policy_is_cleared() {
    let sim = Sim::new(quiet());
    let c = clients(&sim, &no_retries()).await;
    let r = caller_regional(&c, "us-east-1");
    let with_policy = rollout(&format!(
        "[repository_template]\nimage_tag_mutability = \"MUTABLE_WITH_EXCLUSION\"\n\
         image_tag_mutability_exclusion_filters = [{{ filter_type = \"WILDCARD\", filter = \"latest\" }}]\n\
         lifecycle_policy = '{LIFECYCLE}'\n"
    ));
    let first = apply(&r, &with_policy).await;
    assert!(first.contains(&Action::CreateTemplate), "{first:?}");
    let m = sim.metrics();
    assert_eq!(m.calls["CreateRepositoryCreationTemplate"], 1, "{m:?}");

    // A re-apply reads the template, finds it matching, and writes nothing.
    sim.reset_metrics();
    let t = caller_target();
    let o = ptc_rollout::observe(&r, &t, &with_policy).await.unwrap();
    assert_eq!(o.template, Some(TemplateState::Matches), "{o:?}");
    assert_eq!(apply(&r, &with_policy).await, vec![]);
    let m = sim.metrics();
    assert_eq!(m.mutating_calls, 0, "{m:?}");
    assert_eq!(m.calls["DescribeRepositoryCreationTemplates"], 2, "{m:?}");

    // The file drops the lifecycle policy (and the exclusion): one update clears it.
    let without = rollout("[repository_template]\nimage_tag_mutability = \"MUTABLE\"\n");
    let o = ptc_rollout::observe(&r, &t, &without).await.unwrap();
    assert_eq!(o.template, Some(TemplateState::Differs), "{o:?}");
    assert_eq!(apply(&r, &without).await, vec![Action::UpdateTemplate]);
    let have = r
        .ecr
        .describe_repository_creation_templates()
        .prefixes("gitlab")
        .send()
        .await
        .unwrap();
    let have = &have.repository_creation_templates()[0];
    assert_eq!(have.lifecycle_policy(), None, "{have:?}");
    assert!(have.image_tag_mutability_exclusion_filters().is_empty());
    sim.reset_metrics();
    let o = ptc_rollout::observe(&r, &t, &without).await.unwrap();
    assert_eq!(o.template, Some(TemplateState::Matches), "{o:?}");
    assert_eq!(apply(&r, &without).await, vec![]);
    assert_eq!(sim.metrics().mutating_calls, 0);
}
