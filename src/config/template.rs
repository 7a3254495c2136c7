//! The optional parts of the rollout file for day-two operations: the token's expiry date and
//! the `[repository_template]` that makes the repositories ECR creates on first pull compliant.

use std::collections::{BTreeMap, BTreeSet};

use aws_smithy_types::date_time::{DateTime, Format};
use serde::Deserialize;

use super::model_rules::{self, EXCLUSION_FILTERS_LEN, LIFECYCLE_POLICY_LEN, TAG_MUTABILITIES};
use super::Problem;
use crate::data::regions;

/// `[repository_template]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTemplate {
    description: Option<String>,
    image_tag_mutability: Option<String>,
    #[serde(default)]
    image_tag_mutability_exclusion_filters: Vec<RawExclusionFilter>,
    lifecycle_policy: Option<String>,
    #[serde(default)]
    resource_tags: BTreeMap<String, String>,
    custom_role_name: Option<String>,
    custom_role_arn: Option<String>,
}

/// One of `image_tag_mutability_exclusion_filters`, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExclusionFilter {
    filter_type: String,
    filter: String,
}

/// Tags that escape the template's tag mutability (ECR's `imageTagMutabilityExclusionFilters`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExclusionFilter {
    /// `WILDCARD`, the only type ECR has.
    pub(crate) filter_type: String,
    /// A tag pattern, `*` matching any characters.
    pub(crate) filter: String,
}

/// The ECR repository creation template `apply` keeps for the rule's prefix, applied to
/// `PULL_THROUGH_CACHE` repositories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepositoryTemplate {
    pub(crate) description: String,
    /// One of [`TAG_MUTABILITIES`]; `None` leaves ECR's default.
    pub(crate) image_tag_mutability: Option<String>,
    /// With, and only with, a `*_WITH_EXCLUSION` mutability.
    pub(crate) image_tag_mutability_exclusion_filters: Vec<ExclusionFilter>,
    /// The lifecycle policy as compact JSON, so that comparisons ignore formatting.
    pub(crate) lifecycle_policy: Option<String>,
    pub(crate) resource_tags: BTreeMap<String, String>,
    /// The role ECR uses to create repositories with tags (AWS requires one for resource tags),
    /// by name: it must be in the registry's own account, so its ARN is made per account.
    pub(crate) custom_role_name: Option<String>,
    /// A fixed role ARN, accepted only when every target is in that role's account.
    pub(crate) custom_role_arn: Option<String>,
}

impl RepositoryTemplate {
    /// The template's role in one target account, if it has one.
    pub(crate) fn role_arn(&self, partition: &str, account_id: &str) -> Option<String> {
        match (&self.custom_role_name, &self.custom_role_arn) {
            (Some(name), _) => Some(regions::role_arn(partition, account_id, name)),
            (None, arn) => arn.clone(),
        }
    }
}

/// `[repository_template]`: what ECR will accept in a creation template.
pub(super) fn check_template(
    raw: RawTemplate,
    accounts: Option<&BTreeSet<String>>,
    p: &mut Vec<Problem>,
) -> RepositoryTemplate {
    let field = |name: &str| format!("repository_template.{name}");
    check_role(&raw, accounts, p);
    let mutability = raw.image_tag_mutability.map(|m| m.to_ascii_uppercase());
    if let Some(m) = mutability
        .as_ref()
        .filter(|m| !TAG_MUTABILITIES.contains(&m.as_str()))
    {
        p.push(Problem::new(
            field("image_tag_mutability"),
            format!("{m:?} is not a tag mutability"),
            "use \"MUTABLE\", \"IMMUTABLE\", \"IMMUTABLE_WITH_EXCLUSION\" or \"MUTABLE_WITH_EXCLUSION\"",
        ));
    }
    let filters = check_exclusion_filters(
        mutability.as_deref(),
        raw.image_tag_mutability_exclusion_filters,
        p,
    );
    if let Some(d) = raw
        .description
        .as_deref()
        .filter(|d| !model_rules::is_template_description(d))
    {
        p.push(Problem::new(
            field("description"),
            format!("has {} characters, more than ECR's 256", d.chars().count()),
            "shorten the description",
        ));
    }
    let lifecycle_policy = raw
        .lifecycle_policy
        .and_then(|text| compact_lifecycle_policy(&text, p));
    for (k, v) in &raw.resource_tags {
        if !model_rules::is_tag_key(k) || !model_rules::is_tag_value(v) || k.starts_with("aws:") {
            p.push(Problem::new(
                field(&format!("resource_tags.{k}")),
                "is not a tag ECR accepts",
                "use a key of 1 to 128 characters not starting with aws:, and a value of at most 256",
            ));
        }
    }
    if !raw.resource_tags.is_empty()
        && raw.custom_role_name.is_none()
        && raw.custom_role_arn.is_none()
    {
        p.push(Problem::new(field("custom_role_name"), "is required with resource_tags", "ECR tags the repositories it creates only through a role of yours in each account: set custom_role_name"));
    }
    RepositoryTemplate {
        description: raw
            .description
            .unwrap_or_else(|| "Managed by ptc-rollout".to_owned()),
        image_tag_mutability: mutability,
        image_tag_mutability_exclusion_filters: filters,
        lifecycle_policy,
        resource_tags: raw.resource_tags,
        custom_role_name: raw.custom_role_name,
        custom_role_arn: raw.custom_role_arn,
    }
}

/// The exclusion filters are what the `*_WITH_EXCLUSION` mutabilities are made of (the ECR
/// guide's tag mutability page: "enter tag names or use wildcards" for the exceptions): a filter
/// with a plain mutability would have no meaning, and such a mutability without filters is a
/// plain one mistyped. Both are refused, as the emulator does, rather than left to AWS.
fn check_exclusion_filters(
    mutability: Option<&str>,
    raw: Vec<RawExclusionFilter>,
    p: &mut Vec<Problem>,
) -> Vec<ExclusionFilter> {
    const FIELD: &str = "repository_template.image_tag_mutability_exclusion_filters";
    let with_exclusion = mutability.is_some_and(|m| m.ends_with("_WITH_EXCLUSION"));
    if with_exclusion && raw.is_empty() {
        p.push(Problem::new(
            FIELD,
            format!("is missing, and image_tag_mutability {} needs it", mutability.unwrap_or_default()),
            "list the tags that escape the mutability, e.g. [{ filter_type = \"WILDCARD\", filter = \"latest\" }], or use MUTABLE or IMMUTABLE",
        ));
    } else if !with_exclusion && !raw.is_empty() {
        p.push(Problem::new(
            FIELD,
            "is set, but image_tag_mutability is not IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION",
            "set image_tag_mutability = \"IMMUTABLE_WITH_EXCLUSION\" (or \"MUTABLE_WITH_EXCLUSION\"), or remove the filters",
        ));
    }
    let (_, most) = EXCLUSION_FILTERS_LEN;
    if raw.len() > most {
        p.push(Problem::new(
            FIELD,
            format!("has {} filters, more than ECR's {most}", raw.len()),
            "merge filters with * wildcards, e.g. \"release-*\"",
        ));
    }
    let mut seen = BTreeSet::new();
    raw.into_iter()
        .enumerate()
        .map(|(i, f)| {
            let filter_type = f.filter_type.to_ascii_uppercase();
            if !model_rules::EXCLUSION_FILTER_TYPES.contains(&filter_type.as_str()) {
                p.push(Problem::new(
                    format!("{FIELD}[{i}].filter_type"),
                    format!("{:?} is not a filter type", f.filter_type),
                    "use \"WILDCARD\", the only type ECR has",
                ));
            }
            if !model_rules::is_exclusion_filter(&f.filter) {
                p.push(Problem::new(
                    format!("{FIELD}[{i}].filter"),
                    format!("{:?} is not a tag filter ECR accepts", f.filter),
                    "use 1 to 128 letters, digits and . _ - with * as the wildcard, e.g. \"latest\" or \"dev-*\"",
                ));
            } else if !seen.insert(f.filter.clone()) {
                p.push(Problem::new(
                    format!("{FIELD}[{i}].filter"),
                    format!("{:?} is listed twice", f.filter),
                    "list each filter once",
                ));
            }
            ExclusionFilter {
                filter_type,
                filter: f.filter,
            }
        })
        .collect()
}

/// The policy as compact JSON, so that comparing it with ECR's copy ignores formatting; its
/// length is that of the text sent.
fn compact_lifecycle_policy(text: &str, p: &mut Vec<Problem>) -> Option<String> {
    const FIELD: &str = "repository_template.lifecycle_policy";
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) if v.get("rules").is_some_and(serde_json::Value::is_array) => {
            let compact = v.to_string();
            if !model_rules::lifecycle_policy_fits(&compact) {
                let (least, most) = LIFECYCLE_POLICY_LEN;
                p.push(Problem::new(
                    FIELD,
                    format!(
                        "is {} characters as compact JSON; ECR takes {least} to {most}",
                        compact.chars().count()
                    ),
                    if compact.chars().count() < least {
                        "give the policy at least one rule, with its rulePriority, selection and action"
                    } else {
                        "shorten the policy: fewer or shorter rules (descriptions count)"
                    },
                ));
            }
            Some(compact)
        }
        _ => {
            p.push(Problem::new(
                FIELD,
                "is not an ECR lifecycle policy (JSON with a \"rules\" list)",
                "paste the policy JSON, e.g. '{\"rules\": [...]}'",
            ));
            None
        }
    }
}

/// A template's role must be in the registry's own account (the ECR API reference for
/// CreateRepositoryCreationTemplate), so a fixed ARN can serve only a rollout to its account.
fn check_role(raw: &RawTemplate, accounts: Option<&BTreeSet<String>>, p: &mut Vec<Problem>) {
    const NAME: &str = "repository_template.custom_role_name";
    const ARN: &str = "repository_template.custom_role_arn";
    if let Some(name) = &raw.custom_role_name {
        if !model_rules::is_role_name(name) {
            p.push(Problem::new(
                NAME,
                format!("{name:?} is not an IAM role name"),
                "use the name of the role in each target account, e.g. \"ecr-template-role\", not its ARN",
            ));
        }
        if raw.custom_role_arn.is_some() {
            p.push(Problem::new(
                ARN,
                "is set together with custom_role_name",
                "keep only custom_role_name",
            ));
        }
        return;
    }
    let Some(arn) = &raw.custom_role_arn else {
        return;
    };
    if !model_rules::custom_role_arn_fits(arn) {
        p.push(Problem::new(
            ARN,
            "is longer than ECR's 2048 characters",
            "use custom_role_name = \"NAME\" (the role in each target account)",
        ));
        return;
    }
    let account = regions::arn_account(arn)
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()));
    let Some(account) = account.filter(|_| arn.contains(":role/")) else {
        p.push(Problem::new(
            ARN,
            format!("{arn:?} is not an IAM role ARN"),
            "use custom_role_name = \"NAME\" (the role in each target account)",
        ));
        return;
    };
    let only_that_account = accounts.is_some_and(|a| a.len() == 1 && a.contains(account));
    if !only_that_account {
        p.push(Problem::new(
            ARN,
            format!("names a role in account {account}, but a template's role must be in each target's own account"),
            "replace it with custom_role_name = \"NAME\": the role of that name in each target account",
        ));
    }
}

/// Checks `upstream.token_expires_on` (`YYYY-MM-DD`).
pub(super) fn check_expiry(value: &str, p: &mut Vec<Problem>) {
    check_expiry_at("upstream.token_expires_on", value, p);
}

pub(super) fn check_expiry_at(field: &str, value: &str, p: &mut Vec<Problem>) {
    if parse_date(value).is_none() {
        p.push(Problem::new(
            field,
            format!("{value:?} is not a date"),
            "use the token's expiry date as YYYY-MM-DD, e.g. \"2027-06-30\"",
        ));
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub(crate) fn parse_date(value: &str) -> Option<i64> {
    // RFC 3339 reads only date-times: the shape check lets nothing but a bare date into one.
    let shaped = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    let midnight = DateTime::from_str(&format!("{value}T00:00:00Z"), Format::DateTime).ok()?;
    Some(midnight.secs().div_euclid(86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_parsed_and_checked() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2027-06-30"), Some(20_999));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        for bad in ["2023-02-29", "2027-13-01", "27-06-30", "2027-6-30", "soon"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
