//! The ECR repository creation template for the rule's prefix (`[repository_template]`), so the
//! repositories ECR creates on first pull get the tag mutability, lifecycle policy and tags the
//! platform team wants.

use aws_sdk_ecr::types::{
    ImageTagMutability, ImageTagMutabilityExclusionFilter, ImageTagMutabilityExclusionFilterType,
    RctAppliedFor, Tag,
};

use crate::clients::Regional;
use crate::error::ApiError;
use crate::regions;
use crate::rollout::{RepositoryTemplate, Rollout};
use crate::target::{Target, TemplateState};

pub async fn read_template(
    c: &Regional,
    t: &Target,
    r: &Rollout,
    want: &RepositoryTemplate,
) -> Result<TemplateState, ApiError> {
    let out = match c
        .ecr
        .describe_repository_creation_templates()
        .prefixes(&r.ecr_repository_prefix)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            return Err(ApiError::from_sdk(
                &t.account_id,
                &t.region,
                "ecr:DescribeRepositoryCreationTemplates",
                e,
            ))
        }
    };
    let Some(have) = out
        .repository_creation_templates()
        .iter()
        .find(|x| x.prefix() == Some(&r.ecr_repository_prefix))
    else {
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
    // An empty description is no description: ECR keeps none.
    let matches = have
        .applied_for()
        .contains(&RctAppliedFor::PullThroughCache)
        && have.description().unwrap_or_default() == want.description
        && want
            .image_tag_mutability
            .as_deref()
            .is_none_or(|m| have.image_tag_mutability().map(|x| x.as_str()) == Some(m))
        && (want.image_tag_mutability.is_none() || filters == want_filters)
        && json(have.lifecycle_policy()) == json(want.lifecycle_policy.as_deref())
        && tags == want_tags
        && have.custom_role_arn() == role_arn(t, want).as_deref();
    Ok(if matches {
        TemplateState::Matches
    } else {
        TemplateState::Differs
    })
}

/// The template's role in this target's account.
fn role_arn(t: &Target, want: &RepositoryTemplate) -> Option<String> {
    want.role_arn(regions::partition(&t.region), &t.account_id)
}

/// Creates the template, or updates it to the rollout file's settings.
pub async fn put_template(
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
    let mutability = want
        .image_tag_mutability
        .as_deref()
        .map(ImageTagMutability::from);
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
    // with an empty string, which the model takes (min length 0) and ECR reads as "none"; the
    // AWS provider for Terraform clears these the same way. Create needs none of it.
    let cleared = |value: Option<String>| Some(value.unwrap_or_default());
    let (lifecycle_policy, custom_role_arn) = if exists {
        (
            cleared(want.lifecycle_policy.clone()),
            cleared(role_arn(t, want)),
        )
    } else {
        (want.lifecycle_policy.clone(), role_arn(t, want))
    };
    // Create and Update take the same settings, on builders of two types.
    macro_rules! with_settings {
        ($builder:expr) => {
            $builder
                .prefix(&r.ecr_repository_prefix)
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
