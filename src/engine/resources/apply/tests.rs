use super::*;
use crate::config::GITLAB_REGISTRY_URL;

fn rollout() -> Rollout {
    Rollout::parse(
        "[targets]\nregions=[\"us-east-1\"]\nrole_name=\"R\"\n[upstream]\nregistry=\"gitlab-container-registry\"\nusername=\"u\"\ntoken_env=\"T\"\n[rule]\necr_repository_prefix=\"gitlab\"\nsecret_name=\"ecr-pullthroughcache/gitlab\"\n",
    )
    .unwrap()
}

const ARN: &str =
    "arn:aws:secretsmanager:us-east-1:111111111111:secret:ecr-pullthroughcache/gitlab-AbCdEf";

fn rule(url: &str, arn: &str) -> RuleState {
    RuleState::Present {
        upstream_registry_url: url.into(),
        credential_arn: Some(arn.into()),
    }
}

fn actions(secret: SecretState, rule: RuleState) -> Decision {
    decide(
        &Observed {
            secret,
            rule,
            template: None,
            pull_access: None,
            secret_kms_key: None,
        },
        &rollout(),
        false,
    )
}

fn change(actions: &[Action]) -> Decision {
    Decision::Change {
        actions: actions.to_vec(),
    }
}

#[test]
fn empty_target_gets_secret_then_rule() {
    assert_eq!(
        actions(SecretState::Absent, RuleState::Absent),
        change(&[Action::CreateSecret, Action::CreateRule])
    );
}

#[test]
fn converged_target_needs_nothing() {
    let secret = SecretState::Present {
        arn: ARN.into(),
        managed: true,
    };
    assert_eq!(actions(secret, rule(GITLAB_REGISTRY_URL, ARN)), change(&[]));
}

#[test]
fn rule_pointing_elsewhere_is_updated() {
    let secret = SecretState::Present {
        arn: ARN.into(),
        managed: true,
    };
    assert_eq!(
        actions(secret, rule(GITLAB_REGISTRY_URL, "other")),
        change(&[Action::UpdateRuleCredential])
    );
    assert_eq!(
        actions(SecretState::Absent, rule(GITLAB_REGISTRY_URL, ARN)),
        change(&[Action::CreateSecret, Action::UpdateRuleCredential])
    );
}

#[test]
fn pending_deletion_is_restored_when_managed() {
    let managed = SecretState::PendingDeletion {
        arn: ARN.into(),
        managed: true,
    };
    assert_eq!(
        actions(managed, rule(GITLAB_REGISTRY_URL, ARN)),
        change(&[Action::RestoreSecret])
    );
    let unmanaged = SecretState::PendingDeletion {
        arn: ARN.into(),
        managed: false,
    };
    assert!(matches!(
        actions(unmanaged, RuleState::Absent),
        Decision::Conflict { .. }
    ));
}

#[test]
fn unmanaged_secret_is_used_not_overwritten() {
    let secret = SecretState::Present {
        arn: ARN.into(),
        managed: false,
    };
    assert_eq!(
        actions(secret, RuleState::Absent),
        change(&[Action::CreateRule])
    );
}

#[test]
fn prefix_of_another_upstream_is_a_conflict_touching_nothing() {
    let d = actions(SecretState::Absent, rule("public.ecr.aws", "x"));
    assert!(matches!(&d, Decision::Conflict { reason } if reason.contains("public.ecr.aws")));
    assert!(d.actions().is_empty());
}

#[test]
fn another_teams_gitlab_rule_is_a_conflict_unless_adopted() {
    let theirs =
        "arn:aws:secretsmanager:us-east-1:111111111111:secret:ecr-pullthroughcache/team-b-XyZ123";
    let older =
        "arn:aws:secretsmanager:us-east-1:111111111111:secret:ecr-pullthroughcache/gitlab-Old123";
    let secret = || SecretState::Present {
        arn: ARN.into(),
        managed: true,
    };
    let d = actions(secret(), rule(GITLAB_REGISTRY_URL, theirs));
    assert!(
        matches!(&d, Decision::Conflict { reason } if reason.contains("ecr-pullthroughcache/team-b") && reason.contains("--adopt-rules")),
        "{d:?}"
    );
    let observed = Observed {
        secret: secret(),
        rule: rule(GITLAB_REGISTRY_URL, theirs),
        template: None,
        pull_access: None,
        secret_kms_key: None,
    };
    assert_eq!(
        decide(&observed, &rollout(), true),
        change(&[Action::AdoptRule])
    );
    // An older secret of the rollout's own name is ours: repointed without the flag.
    assert_eq!(
        actions(secret(), rule(GITLAB_REGISTRY_URL, older)),
        change(&[Action::UpdateRuleCredential])
    );
}
