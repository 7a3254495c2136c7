//! The ECR repository creation template for the rule's prefix (`[repository_template]`), so the
//! repositories ECR creates on first pull get the tag mutability, lifecycle policy and tags the
//! platform team wants.

use aws_sdk_ecr::types::{
    ImageTagMutability, ImageTagMutabilityExclusionFilter, ImageTagMutabilityExclusionFilterType,
    RctAppliedFor, RepositoryCreationTemplate, Tag,
};

use crate::aws::clients::Regional;
use crate::aws::error::ApiError;
use crate::config::{RepositoryTemplate, Rollout};
use crate::data::regions;
use crate::data::target::{Target, TemplateState};

/// The template ECR keeps for the rule's prefix, if any.
async fn describe(
    c: &Regional,
    t: &Target,
    r: &Rollout,
) -> Result<Option<RepositoryCreationTemplate>, ApiError> {
    let out = c
        .ecr
        .describe_repository_creation_templates()
        .prefixes(r.prefix())
        .send()
        .await
        .map_err(|e| {
            ApiError::from_sdk(
                &t.account_id,
                &t.region,
                "ecr:DescribeRepositoryCreationTemplates",
                e,
            )
        })?;
    Ok(out
        .repository_creation_templates
        .unwrap_or_default()
        .into_iter()
        .find(|x| x.prefix() == Some(r.prefix())))
}

pub(crate) async fn read_template(
    c: &Regional,
    t: &Target,
    r: &Rollout,
    want: &RepositoryTemplate,
) -> Result<TemplateState, ApiError> {
    let Some(have) = describe(c, t, r).await? else {
        return Ok(TemplateState::Absent);
    };
    let json =
        |text: Option<&str>| text.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
    let mut tags: Vec<(&str, &str)> = have
        .resource_tags()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    tags.sort();
    let want_tags: Vec<(&str, &str)> = want
        .resource_tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut filters: Vec<(&str, &str)> = have
        .image_tag_mutability_exclusion_filters()
        .iter()
        .map(|f| (f.filter_type().as_str(), f.filter()))
        .collect();
    filters.sort();
    let mut want_filters: Vec<(&str, &str)> = want
        .image_tag_mutability_exclusion_filters
        .iter()
        .map(|f| (f.filter_type.as_str(), f.filter.as_str()))
        .collect();
    want_filters.sort();
    // An empty description or role is none: ECR keeps none. A file without a tag mutability
    // wants ECR's default, so that removing the setting puts the default back.
    let matches = have
        .applied_for()
        .contains(&RctAppliedFor::PullThroughCache)
        && have.description().unwrap_or_default() == want.description
        && have
            .image_tag_mutability()
            .map_or(DEFAULT_MUTABILITY, |x| x.as_str())
            == mutability(want).as_str()
        && filters == want_filters
        && json(have.lifecycle_policy()) == json(want.lifecycle_policy.as_deref())
        && tags == want_tags
        && have.custom_role_arn().filter(|a| !a.is_empty()) == role_arn(t, want).as_deref();
    Ok(if matches {
        TemplateState::Matches
    } else {
        TemplateState::Differs
    })
}

/// ECR's tag mutability for the repositories a template creates when it sets none.
const DEFAULT_MUTABILITY: &str = "MUTABLE";

/// The tag mutability the file asks for, ECR's default when it names none.
fn mutability(want: &RepositoryTemplate) -> ImageTagMutability {
    ImageTagMutability::from(
        want.image_tag_mutability
            .as_deref()
            .unwrap_or(DEFAULT_MUTABILITY),
    )
}

/// The template's role in this target's account.
fn role_arn(t: &Target, want: &RepositoryTemplate) -> Option<String> {
    want.role_arn(regions::partition(&t.region), &t.account_id)
}

/// Creates the template, or updates it to the rollout file's settings.
pub(crate) async fn put_template(
    c: &Regional,
    t: &Target,
    r: &Rollout,
    want: &RepositoryTemplate,
    exists: bool,
) -> Result<(), ApiError> {
    let tags: Vec<Tag> = want
        .resource_tags
        .iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect();
    let filters: Vec<ImageTagMutabilityExclusionFilter> = want
        .image_tag_mutability_exclusion_filters
        .iter()
        .filter_map(|f| {
            ImageTagMutabilityExclusionFilter::builder()
                .filter_type(ImageTagMutabilityExclusionFilterType::from(
                    f.filter_type.as_str(),
                ))
                .filter(&f.filter)
                .build()
                .ok()
        })
        .collect();
    // The model takes 1 to 5 filters: none is said by leaving the member out.
    let filters = Some(filters).filter(|f| !f.is_empty());
    // Update keeps what a request leaves out, so a setting the file no longer has is cleared
    // with an empty string (the model takes length 0; the AWS provider for Terraform clears
    // these the same way), and only when ECR holds one: a request never carries an empty
    // value that was not needed. Create needs none of it.
    let have = if exists {
        describe(c, t, r).await?
    } else {
        None
    };
    let cleared = |want: Option<String>, held: bool| match want {
        None if held => Some(String::new()),
        other => other,
    };
    let held = |v: Option<&str>| v.is_some_and(|v| !v.is_empty());
    let lifecycle_policy = cleared(
        want.lifecycle_policy.clone(),
        held(have.as_ref().and_then(|h| h.lifecycle_policy())),
    );
    let custom_role_arn = cleared(
        role_arn(t, want),
        held(have.as_ref().and_then(|h| h.custom_role_arn())),
    );
    let mutability = Some(mutability(want));
    // Create and Update take the same settings, on builders of two types.
    macro_rules! with_settings {
        ($builder:expr) => {
            $builder
                .prefix(r.prefix())
                .description(&want.description)
                .applied_for(RctAppliedFor::PullThroughCache)
                .set_image_tag_mutability(mutability)
                .set_image_tag_mutability_exclusion_filters(filters)
                .set_lifecycle_policy(lifecycle_policy)
                .set_resource_tags(Some(tags))
                .set_custom_role_arn(custom_role_arn)
                .send()
                .await
        };
    }
    let (id, region) = (&t.account_id, &t.region);
    if exists {
        with_settings!(c.ecr.update_repository_creation_template()).map_err(|e| {
            ApiError::from_sdk(id, region, "ecr:UpdateRepositoryCreationTemplate", e)
        })?;
    } else {
        with_settings!(c.ecr.create_repository_creation_template()).map_err(|e| {
            ApiError::from_sdk(id, region, "ecr:CreateRepositoryCreationTemplate", e)
        })?;
    }
    Ok(())
}
