//! ECR repository creation templates as the tool uses them: an update keeps what it leaves
//! out and clears a lifecycle policy or role sent as an empty string (what `apply` sends when
//! the rollout file drops one), goes back to a plain mutability without the exclusion filters,
//! and refuses a second template for the same prefix.

use aws_sdk_ecr::types::{
    ImageTagMutability, ImageTagMutabilityExclusionFilter, ImageTagMutabilityExclusionFilterType,
    RctAppliedFor,
};

use super::*;

const PREFIX: &str = "conformance-template";
const LIFECYCLE: &str = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}"#;

/// What AWS documents for the steps of [`templates`], in order.
pub(crate) const DOCUMENTED: &[&str] = &[
    "templates: create with a lifecycle policy and a role => ok",
    "templates: describe => ok lifecycle=sent role=sent MUTABLE filters=-",
    "templates: create again => TemplateAlreadyExistsException 400",
    "templates: update without lifecyclePolicy and customRoleArn => ok",
    "templates: describe (both kept) => ok lifecycle=sent role=sent IMMUTABLE filters=-",
    "templates: update with empty lifecyclePolicy and customRoleArn => ok",
    "templates: describe (both cleared) => ok lifecycle=- role=- IMMUTABLE filters=-",
    "templates: update to MUTABLE_WITH_EXCLUSION with a filter => ok",
    "templates: describe => ok lifecycle=- role=- MUTABLE_WITH_EXCLUSION filters=latest",
    "templates: update to MUTABLE without filters => ok",
    "templates: describe (filters dropped) => ok lifecycle=- role=- MUTABLE filters=-",
    "templates: create, an exclusion filter with MUTABLE => InvalidParameterException 400",
    "templates: update, a prefix without a template => TemplateNotFoundException 400",
    "templates: describe, a prefix without a template => ok 0 templates",
];

fn filter(tag: &str) -> ImageTagMutabilityExclusionFilter {
    ImageTagMutabilityExclusionFilter::builder()
        .filter_type(ImageTagMutabilityExclusionFilterType::Wildcard)
        .filter(tag)
        .build()
        .expect("filter")
}

/// `lifecycle=sent|other|- role=sent|other|- MUTABILITY filters=a,b|-` of the template.
async fn describe(r: &Regional, prefix: &str, role: &str) -> String {
    let call = r
        .ecr
        .describe_repository_creation_templates()
        .prefixes(prefix);
    call.send().await.shows(false, false, |o| {
        let Some(x) = o.repository_creation_templates().first() else {
            return format!("{} templates", o.repository_creation_templates().len());
        };
        let same = |have: Option<&str>, sent: &str| match have {
            None => "-",
            Some(h) if h == sent => "sent",
            Some(_) => "other",
        };
        let filters: Vec<&str> = x
            .image_tag_mutability_exclusion_filters()
            .iter()
            .map(|f| f.filter())
            .collect();
        let filters = if filters.is_empty() {
            "-".to_owned()
        } else {
            filters.join(",")
        };
        format!(
            "lifecycle={} role={} {} filters={filters}",
            same(x.lifecycle_policy(), LIFECYCLE),
            same(x.custom_role_arn(), role),
            x.image_tag_mutability().map_or("-", |m| m.as_str()),
        )
    })
}

pub(crate) async fn templates(b: &impl Backend, t: &mut Transcript) {
    t.section = "templates";
    let r = caller(b, REGION);
    let role = format!("arn:aws:iam::{}:role/ecr-template", b.management());
    let create = || {
        let call = r.ecr.create_repository_creation_template().prefix(PREFIX);
        call.applied_for(RctAppliedFor::PullThroughCache)
            .lifecycle_policy(LIFECYCLE)
            .custom_role_arn(&role)
            .send()
    };
    t.step(
        "create with a lifecycle policy and a role",
        create().await.class(),
    );
    t.step("describe", describe(&r, PREFIX, &role).await);
    t.step("create again", create().await.status());
    let update = || r.ecr.update_repository_creation_template().prefix(PREFIX);
    let kept = update().image_tag_mutability(ImageTagMutability::Immutable);
    let kept = kept.send().await.class();
    t.step("update without lifecyclePolicy and customRoleArn", kept);
    t.step("describe (both kept)", describe(&r, PREFIX, &role).await);
    let cleared = update().lifecycle_policy("").custom_role_arn("").send();
    let cleared = cleared.await.class();
    t.step(
        "update with empty lifecyclePolicy and customRoleArn",
        cleared,
    );
    t.step("describe (both cleared)", describe(&r, PREFIX, &role).await);
    let excluded = update()
        .image_tag_mutability(ImageTagMutability::MutableWithExclusion)
        .image_tag_mutability_exclusion_filters(filter("latest"));
    let excluded = excluded.send().await.class();
    t.step("update to MUTABLE_WITH_EXCLUSION with a filter", excluded);
    t.step("describe", describe(&r, PREFIX, &role).await);
    let plain = update().image_tag_mutability(ImageTagMutability::Mutable);
    t.step(
        "update to MUTABLE without filters",
        plain.send().await.class(),
    );
    t.step(
        "describe (filters dropped)",
        describe(&r, PREFIX, &role).await,
    );
    let mismatched = r.ecr.create_repository_creation_template();
    let mismatched = mismatched
        .prefix("conformance-mismatched")
        .applied_for(RctAppliedFor::PullThroughCache)
        .image_tag_mutability(ImageTagMutability::Mutable)
        .image_tag_mutability_exclusion_filters(filter("latest"));
    let mismatched = mismatched.send().await.status();
    t.step("create, an exclusion filter with MUTABLE", mismatched);
    let missing = r.ecr.update_repository_creation_template();
    let missing = missing.prefix("no-template-here").description("x").send();
    t.step(
        "update, a prefix without a template",
        missing.await.status(),
    );
    let none = describe(&r, "no-template-here", &role).await;
    t.step("describe, a prefix without a template", none);
}
