use super::*;
use crate::data::target::Observed;
use crate::outputs::test_rollouts::{row, single, two};

const ARN: &str =
    "arn:aws:secretsmanager:us-east-1:111111111111:secret:ecr-pullthroughcache/gitlab-AbCdEf";

/// An inspected target of `upstream` with its rule at `url`; a GitLab row holds our secret,
/// tagged with `tag_date`.
fn inspected(upstream: &str, url: &str, tag_date: Option<&str>) -> Box<TargetResult> {
    let mut r = *row(upstream);
    let gitlab = upstream == "gitlab";
    r.observed = Some(Observed {
        secret: match gitlab {
            true => SecretState::Present {
                arn: ARN.into(),
                managed: true,
            },
            false => SecretState::Absent,
        },
        rule: RuleState::Present {
            upstream_registry_url: url.into(),
            credential_arn: gitlab.then(|| ARN.to_owned()),
            upstream_repository_prefix: None,
        },
        template: None,
        pull_access: None,
        secret_kms_key: None,
        custom_role: None,
    });
    r.validation = Some(Validation {
        is_valid: true,
        failure: None,
        upstream_registry_url: Some(url.into()),
        credential_arn: None,
        checked: true,
        skipped: false,
    });
    r.secret_dates = Some(Box::new(SecretDates {
        last_changed: Some(0),
        expires_on: tag_date.map(str::to_owned),
        holds_current: gitlab.then_some(true),
    }));
    Box::new(r)
}

#[test]
fn each_row_is_judged_by_its_own_upstream() {
    let results = vec![
        inspected("gitlab", "registry.gitlab.com", Some("2099-01-01")),
        inspected("ecr-public", "public.ecr.aws", None),
    ];
    let rows = rows(&two(), &results, 30, None);
    assert_eq!(rows[0].upstream, "gitlab");
    assert_eq!(rows[1].upstream, "ecr-public");
    // ECR Public's rule is its own (not "conflicting"), and it takes no secret.
    assert_eq!((rows[1].rule, rows[1].secret), ("present", ""));
    assert_eq!(rows[1].state, State::Compliant, "{}", rows[1].reasons);
    assert_eq!(rows[1].expiry_source, "");
    assert_eq!(
        (rows[0].token_expires_on.as_str(), rows[0].expiry_source),
        ("2099-01-01", "tag")
    );
    // A GitLab URL under ECR Public's prefix is another upstream's rule.
    let taken = vec![inspected("ecr-public", "registry.gitlab.com", None)];
    assert_eq!(rows_of(&two(), &taken)[0].rule, "conflicting");
}

fn rows_of(rollout: &Rollout, results: &[Box<TargetResult>]) -> Vec<Row> {
    rows(rollout, results, 30, None)
}

#[test]
fn gitlab_dates_only_the_token_upstreams_rows() {
    let current = CurrentToken::Active {
        expires_on: Some("2098-05-05".into()),
        short_role: None,
    };
    let results = vec![
        inspected("gitlab", "registry.gitlab.com", Some("2099-01-01")),
        inspected("ecr-public", "public.ecr.aws", None),
    ];
    let rows = rows(&two(), &results, 30, Some(&current));
    assert_eq!(
        (rows[0].token_expires_on.as_str(), rows[0].expiry_source),
        ("2098-05-05", "gitlab")
    );
    assert_eq!(rows[1].expiry_source, "");
    // The single form: as before, one GitLab row dated by GitLab.
    let one = super::rows(&single(), &results[..1], 30, Some(&current));
    assert_eq!(one[0].expiry_source, "gitlab");
}

#[test]
fn the_csv_and_json_name_the_upstream_and_the_expiry_source() {
    let results = vec![
        inspected("gitlab", "registry.gitlab.com", Some("2099-01-01")),
        inspected("ecr-public", "public.ecr.aws", None),
    ];
    let rows = rows_of(&two(), &results);
    let mut out = Vec::new();
    write_csv(&mut out, &rows).unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("account_id,account_name,region,upstream,state,"));
    assert!(text.contains(",token_days_left,expiry_source,"), "{text}");
    assert!(
        lines
            .nth(1)
            .unwrap()
            .starts_with("111111111111,dev,us-east-1,ecr-public,compliant,"),
        "{text}"
    );
    let doc = json(&two(), &rows);
    assert_eq!(doc["targets"][1]["upstream"], "ecr-public");
    assert_eq!(doc["targets"][0]["expiry_source"], "tag");
    assert_eq!(doc["targets"][1]["expiry_source"], serde_json::Value::Null);
    assert_eq!(
        doc["rollout"]["upstreams"][1]["secret_name"],
        serde_json::Value::Null
    );
    assert_eq!(
        doc["rollout"]["upstreams"][1]["upstream_registry_url"],
        "public.ecr.aws"
    );
}

#[test]
fn revoke_old_passes_over_the_rows_of_other_upstreams() {
    let public = inspected("ecr-public", "public.ecr.aws", None);
    assert!(
        matches!(revocation(&public), Revocation::Skipped(why) if why.contains("ecr-public")),
        "{:?}",
        revocation(&public)
    );
    let mut gitlab = inspected("gitlab", "registry.gitlab.com", None);
    gitlab.validation.as_mut().unwrap().credential_arn = Some(ARN.into());
    assert_eq!(revocation(&gitlab), Revocation::Proven);
}
