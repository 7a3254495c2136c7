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
        upstream_repository_prefix: None,
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
            custom_role: None,
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
        custom_role: None,
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

/// A rollout whose only upstream is a central ECR registry in 111111111111 us-east-1.
fn central() -> Rollout {
    Rollout::parse(
        "[targets]\nregions=[\"us-east-1\"]\nrole_name=\"R\"\n[[upstreams]]\nname=\"central\"\nregistry=\"ecr\"\nurl=\"111111111111.dkr.ecr.us-east-1.amazonaws.com\"\necr_repository_prefix=\"central\"\ncustom_role_name=\"ecr-ptc\"\n",
    )
    .unwrap()
}

fn with_role(rule: RuleState, custom_role: Option<RoleState>) -> Decision {
    let o = Observed {
        secret: SecretState::Absent,
        rule,
        template: None,
        pull_access: None,
        secret_kms_key: None,
        custom_role,
    };
    decide(&o, &central(), false)
}

#[test]
fn a_missing_role_is_a_conflict_naming_it_and_its_account() {
    let role_arn = "arn:aws:iam::222222222222:role/ecr-ptc".to_owned();
    let d = with_role(RuleState::Absent, Some(RoleState::Absent { role_arn }));
    assert!(
        matches!(&d, Decision::Conflict { reason } if reason.contains("\"ecr-ptc\"")
            && reason.contains("account 222222222222")
            && reason.contains("ptc-rollout iam-policy")),
        "{d:?}"
    );
    assert_eq!(
        with_role(RuleState::Absent, Some(RoleState::Present)),
        change(&[Action::CreateRule])
    );
    let d = with_role(RuleState::Absent, Some(RoleState::CentralRegistry));
    assert!(matches!(d, Decision::Conflict { .. }), "{d:?}");
}

#[test]
fn the_role_state_is_kept_in_plan_files_only_when_read() {
    let mut o = Observed {
        secret: SecretState::Absent,
        rule: RuleState::Absent,
        template: None,
        pull_access: None,
        secret_kms_key: None,
        custom_role: None,
    };
    let text = serde_json::to_string(&o).unwrap();
    assert!(!text.contains("custom_role"), "{text}");
    o.custom_role = Some(RoleState::Absent {
        role_arn: "arn:aws:iam::222222222222:role/ecr-ptc".into(),
    });
    let back: Observed = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
    assert_eq!(back, o);
}

#[test]
fn the_central_registry_is_skipped_in_its_own_region_only() {
    let r = central();
    let at = |account: &str, region: &str| Target {
        account_id: account.into(),
        account_name: "a".into(),
        region: region.into(),
        upstream: "central".into(),
        ou: None,
    };
    let why = role::skip_reason(&at("111111111111", "us-east-1"), &r).unwrap();
    assert!(why.starts_with("skipped: 111111111111 in us-east-1 is the central registry"));
    // Another Region of the central account, or another account: a rule like any other.
    assert!(role::skip_reason(&at("111111111111", "eu-west-1"), &r).is_none());
    assert!(role::skip_reason(&at("222222222222", "us-east-1"), &r).is_none());
    assert!(role::skip_reason(&at("111111111111", "us-east-1"), &rollout()).is_none());
}

#[test]
fn a_rule_caching_another_namespace_is_a_conflict_saying_how_to_remake_it() {
    let role = Some("arn:aws:iam::222222222222:role/ecr-ptc".to_owned());
    let present = |upstream_repository_prefix: Option<&str>| RuleState::Present {
        upstream_registry_url: "111111111111.dkr.ecr.us-east-1.amazonaws.com".into(),
        credential_arn: role.clone(),
        upstream_repository_prefix: upstream_repository_prefix.map(str::to_owned),
    };
    // The file caches all of the central registry (no upstream_repository_prefix).
    assert_eq!(
        with_role(present(None), Some(RoleState::Present)),
        change(&[])
    );
    let d = with_role(present(Some("golden")), Some(RoleState::Present));
    assert!(
        matches!(&d, Decision::Conflict { reason } if reason.contains("the namespace golden")
            && reason.contains("the rollout file says all")
            && reason.contains("destroy --upstream central")),
        "{d:?}"
    );
}

#[test]
fn a_rule_read_with_another_role_is_left_alone_unless_adopted() {
    let o = Observed {
        secret: SecretState::Absent,
        rule: RuleState::Present {
            upstream_registry_url: "111111111111.dkr.ecr.us-east-1.amazonaws.com".into(),
            credential_arn: Some("arn:aws:iam::222222222222:role/their-role".into()),
            upstream_repository_prefix: None,
        },
        template: None,
        pull_access: None,
        secret_kms_key: None,
        custom_role: Some(RoleState::Present),
    };
    let d = decide(&o, &central(), false);
    assert!(
        matches!(&d, Decision::Conflict { reason } if reason.contains("\"their-role\"")
            && reason.contains("--adopt-rules")),
        "{d:?}"
    );
    assert_eq!(decide(&o, &central(), true), change(&[Action::AdoptRule]));
}
