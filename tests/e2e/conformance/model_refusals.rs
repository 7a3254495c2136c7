//! AWS's front-end check of each request against its service model (botocore's models: the
//! emulator reads them in emulator/model_check.py, the simulation carries a table generated
//! from them, sim/src/model_table.rs): one value the model refuses for each constrained member
//! the tool sends, answered with the code each service gives invalid input and HTTP 400:
//! Organizations InvalidInputException, STS ValidationError, Account Management, KMS and Secrets
//! Manager ValidationException, ECR ValidationException, or its own InvalidParameterException
//! for repository prefixes. A sensitive member's value (SecretString) is never shown.

use aws_sdk_ecr::types::{
    ImageTagMutability, ImageTagMutabilityExclusionFilter as Filter,
    ImageTagMutabilityExclusionFilterType as FilterType, RctAppliedFor, UpstreamRegistry,
};
use aws_sdk_organizations::types::ChildType;
use aws_sdk_secretsmanager::types::Tag;

use super::*;

/// What AWS documents for the steps of [`model_refusals`], in order.
pub(crate) const DOCUMENTED: &[&str] = &[
    "model: ListAccounts, MaxResults 21 => InvalidInputException 400: You provided a numeric \
     parameter that has a larger value than allowed.",
    "model: ListAccountsForParent, ParentId neither a root nor an OU => InvalidInputException 400: \
     You provided a value that does not match the required pattern.",
    "model: ListChildren, ParentId longer than 100 => InvalidInputException 400",
    "model: ListChildren, ChildType outside the enum => InvalidInputException 400",
    "model: ListOrganizationalUnitsForParent, ParentId neither a root nor an OU => \
     InvalidInputException 400",
    "model: ListOrganizationalUnitsForParent, MaxResults 21 => InvalidInputException 400",
    "model: DescribeOrganizationalUnit, OrganizationalUnitId of a root => InvalidInputException \
     400: You provided a value that does not match the required pattern.",
    "model: AssumeRole, RoleSessionName with a space => ValidationError 400: 1 validation error \
     detected: Value 'has space' at 'roleSessionName' failed to satisfy constraint: Member must \
     satisfy regular expression pattern: [\\w+=,.@-]*",
    "model: AssumeRole, RoleSessionName of one character => ValidationError 400",
    "model: AssumeRole, ExternalId of one character => ValidationError 400",
    "model: AssumeRole, ExternalId with a space => ValidationError 400",
    "model: AssumeRole, DurationSeconds 899 => ValidationError 400: 1 validation error detected: \
     Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value \
     greater than or equal to 900",
    "model: AssumeRole, DurationSeconds 43201 => ValidationError 400",
    "model: AssumeRole, RoleArn shorter than 20 => ValidationError 400",
    "model: GetRegionOptStatus, RegionName longer than 50 => ValidationException 400",
    "model: DescribeSecret, SecretId longer than 2048 => ValidationException 400",
    "model: CreateSecret, Name longer than 512 => ValidationException 400",
    "model: CreateSecret, ClientRequestToken of 31 characters => ValidationException 400",
    "model: CreateSecret, Description longer than 2048 => ValidationException 400",
    "model: CreateSecret, tag key longer than 128 => ValidationException 400",
    "model: CreateSecret, tag value longer than 256 => ValidationException 400",
    "model: CreateSecret, SecretString longer than 65536 => ValidationException 400: 1 validation \
     error detected: Value at 'secretString' failed to satisfy constraint: Member must have \
     length less than or equal to 65536",
    "model: CreateSecret, KmsKeyId longer than 2048 => ValidationException 400",
    "model: PutSecretValue, ClientRequestToken of 31 characters => ValidationException 400",
    "model: UpdateSecretVersionStage, MoveToVersionId of 31 characters => ValidationException 400",
    "model: UpdateSecretVersionStage, VersionStage longer than 256 => ValidationException 400",
    "model: GetSecretValue, VersionId of 31 characters => ValidationException 400",
    "model: TagResource, SecretId longer than 2048 => ValidationException 400",
    "model: TagResource, tag key longer than 128 => ValidationException 400",
    "model: TagResource, tag value longer than 256 => ValidationException 400",
    "model: DeleteSecret, SecretId longer than 2048 => ValidationException 400",
    "model: RestoreSecret, SecretId longer than 2048 => ValidationException 400",
    "model: DescribeKey, KeyId longer than 2048 => ValidationException 400",
    "model: CreatePullThroughCacheRule, prefix longer than 30 => InvalidParameterException 400: \
     Invalid parameter at 'ecrRepositoryPrefix' failed to satisfy constraint: 'Member must have \
     length less than or equal to 30'",
    "model: CreatePullThroughCacheRule, credentialArn of another prefix's secret => \
     ValidationException 400",
    "model: CreatePullThroughCacheRule, upstreamRegistry outside the enum => ValidationException 400",
    "model: UpdatePullThroughCacheRule, credentialArn longer than 612 => ValidationException 400",
    "model: DescribePullThroughCacheRules, a prefix in upper case => InvalidParameterException 400",
    "model: DescribePullThroughCacheRules, maxResults 1001 => ValidationException 400",
    "model: ValidatePullThroughCacheRule, prefix of one character => InvalidParameterException 400",
    "model: DeletePullThroughCacheRule, prefix in upper case => InvalidParameterException 400",
    "model: CreateRepositoryCreationTemplate, prefix in upper case => InvalidParameterException 400",
    "model: CreateRepositoryCreationTemplate, description longer than 256 => ValidationException \
     400",
    "model: CreateRepositoryCreationTemplate, imageTagMutability outside the enum => \
     ValidationException 400",
    "model: CreateRepositoryCreationTemplate, exclusion filter with a space => ValidationException \
     400",
    "model: CreateRepositoryCreationTemplate, lifecyclePolicy longer than 30720 => \
     ValidationException 400",
    "model: CreateRepositoryCreationTemplate, customRoleArn longer than 2048 => ValidationException \
     400",
    "model: UpdateRepositoryCreationTemplate, description longer than 256 => ValidationException 400",
    "model: DescribeRepositoryCreationTemplates, a prefix in upper case => \
     InvalidParameterException 400",
    "model: PutRegistryPolicy, policy text longer than 10,240 => ValidationException 400",
];

/// 31 characters: one short of the 32 a ClientRequestToken and a version id need.
const SHORT_TOKEN: &str = "0123456789abcdef0123456789abcde";

fn long(n: usize) -> String {
    "x".repeat(n)
}

pub(crate) async fn model_refusals(b: &impl Backend, t: &mut Transcript) {
    t.section = "model";
    organizations(b, t).await;
    sts(b, t).await;
    let account = Clients::account(&b.clients().for_caller()).get_region_opt_status();
    let region = account.region_name(long(51)).send().await.status();
    t.refused("GetRegionOptStatus, RegionName longer than 50", region);
    secrets(b, t).await;
    rules(b, t).await;
    templates(b, t).await;
}

async fn organizations(b: &impl Backend, t: &mut Transcript) {
    let org = b.clients().organizations();
    let list = org.list_accounts().max_results(21).send().await.message();
    t.refused("ListAccounts, MaxResults 21", list);
    let call = org.list_accounts_for_parent().parent_id("not-a-parent");
    let parent = call.send().await.message();
    t.refused(
        "ListAccountsForParent, ParentId neither a root nor an OU",
        parent,
    );
    let children = |parent: String, kind: ChildType| {
        org.list_children()
            .parent_id(parent)
            .child_type(kind)
            .send()
    };
    let ou = format!("ou-{}", "a".repeat(98));
    let long_parent = children(ou, ChildType::Account).await.status();
    t.refused("ListChildren, ParentId longer than 100", long_parent);
    // A well-formed root id: only the child type is wrong.
    let kind = children("r-abcd".into(), ChildType::from("BOGUS"));
    t.refused(
        "ListChildren, ChildType outside the enum",
        kind.await.status(),
    );
    // The OU walk of `organizational_units` (src/engine/discovery/tree.rs).
    let units = |parent: &str, max: i32| {
        let call = org.list_organizational_units_for_parent();
        call.parent_id(parent).max_results(max).send()
    };
    let step = units("not-a-parent", 20).await.status();
    t.refused(
        "ListOrganizationalUnitsForParent, ParentId neither a root nor an OU",
        step,
    );
    let step = units("r-abcd", 21).await.status();
    t.refused("ListOrganizationalUnitsForParent, MaxResults 21", step);
    let describe = org
        .describe_organizational_unit()
        .organizational_unit_id("r-abcd");
    t.refused(
        "DescribeOrganizationalUnit, OrganizationalUnitId of a root",
        describe.send().await.message(),
    );
}

async fn sts(b: &impl Backend, t: &mut Transcript) {
    let sts = b.clients().sts();
    let role = format!(
        "arn:aws:iam::{}:role/OrganizationAccountAccessRole",
        b.members()[0]
    );
    let assume = |arn: &str, session: &str, external: Option<&str>, seconds: i32| {
        let call = sts.assume_role().role_arn(arn).role_session_name(session);
        let call = call.set_external_id(external.map(str::to_owned));
        call.duration_seconds(seconds).send()
    };
    let space = assume(&role, "has space", None, 900).await.message();
    t.refused("AssumeRole, RoleSessionName with a space", space);
    let one = assume(&role, "x", None, 900).await.status();
    t.refused("AssumeRole, RoleSessionName of one character", one);
    let one = assume(&role, "conformance", Some("x"), 900).await.status();
    t.refused("AssumeRole, ExternalId of one character", one);
    let space = assume(&role, "conformance", Some("has space"), 900);
    t.refused("AssumeRole, ExternalId with a space", space.await.status());
    let short = assume(&role, "conformance", None, 899).await.message();
    t.refused("AssumeRole, DurationSeconds 899", short);
    let over = assume(&role, "conformance", None, 43_201).await.status();
    t.refused("AssumeRole, DurationSeconds 43201", over);
    let arn = assume("arn:aws:iam::1:r/x", "conformance", None, 900);
    t.refused("AssumeRole, RoleArn shorter than 20", arn.await.status());
}

async fn secrets(b: &impl Backend, t: &mut Transcript) {
    let sm = caller(b, REGION).secrets;
    let name = "ecr-pullthroughcache/conformance-model";
    let describe = sm.describe_secret().secret_id(long(2049)).send().await;
    t.refused(
        "DescribeSecret, SecretId longer than 2048",
        describe.status(),
    );
    let create = || sm.create_secret().name(name).secret_string("x");
    let step = create().name(long(513)).send().await.status();
    t.refused("CreateSecret, Name longer than 512", step);
    let step = create().client_request_token(SHORT_TOKEN).send().await;
    t.refused(
        "CreateSecret, ClientRequestToken of 31 characters",
        step.status(),
    );
    let step = create().description(long(2049)).send().await.status();
    t.refused("CreateSecret, Description longer than 2048", step);
    let tag = |key: String, value: String| Tag::builder().key(key).value(value).build();
    let step = create().tags(tag(long(129), "v".into())).send().await;
    t.refused("CreateSecret, tag key longer than 128", step.status());
    let step = create().tags(tag("k".into(), long(257))).send().await;
    t.refused("CreateSecret, tag value longer than 256", step.status());
    let step = create().secret_string(long(65_537)).send().await.message();
    t.refused("CreateSecret, SecretString longer than 65536", step);
    let step = create().kms_key_id(long(2049)).send().await.status();
    t.refused("CreateSecret, KmsKeyId longer than 2048", step);
    let put = sm.put_secret_value().secret_id(name).secret_string("x");
    let step = put.client_request_token(SHORT_TOKEN).send().await.status();
    t.refused("PutSecretValue, ClientRequestToken of 31 characters", step);
    let stage = || sm.update_secret_version_stage().secret_id(name);
    let step = stage()
        .version_stage("AWSCURRENT")
        .move_to_version_id(SHORT_TOKEN);
    let step = step.send().await.status();
    t.refused(
        "UpdateSecretVersionStage, MoveToVersionId of 31 characters",
        step,
    );
    let step = stage().version_stage(long(257)).send().await.status();
    t.refused(
        "UpdateSecretVersionStage, VersionStage longer than 256",
        step,
    );
    let get = sm
        .get_secret_value()
        .secret_id(name)
        .version_id(SHORT_TOKEN);
    t.refused(
        "GetSecretValue, VersionId of 31 characters",
        get.send().await.status(),
    );
    // `rotate`'s expiry tag, `destroy`'s deletion, `apply`'s restore, `plan`'s key check.
    let tag_resource = |id: String, key: String, value: String| {
        let call = sm.tag_resource().secret_id(id);
        call.tags(tag(key, value)).send()
    };
    let expiry = || ("token-expires-on".to_owned(), "2026-12-31".to_owned());
    let (key, value) = expiry();
    let step = tag_resource(long(2049), key, value).await.status();
    t.refused("TagResource, SecretId longer than 2048", step);
    let step = tag_resource(name.into(), long(129), expiry().1).await;
    t.refused("TagResource, tag key longer than 128", step.status());
    let step = tag_resource(name.into(), expiry().0, long(257)).await;
    t.refused("TagResource, tag value longer than 256", step.status());
    let step = sm.delete_secret().secret_id(long(2049)).send().await;
    t.refused("DeleteSecret, SecretId longer than 2048", step.status());
    let step = sm.restore_secret().secret_id(long(2049)).send().await;
    t.refused("RestoreSecret, SecretId longer than 2048", step.status());
    let kms = caller(b, REGION).kms();
    let step = kms.describe_key().key_id(long(2049)).send().await;
    t.refused("DescribeKey, KeyId longer than 2048", step.status());
}

async fn rules(b: &impl Backend, t: &mut Transcript) {
    let ecr = caller(b, REGION).ecr;
    let account = b.management();
    let secret = |name: &str| format!("arn:aws:secretsmanager:{REGION}:{account}:secret:{name}");
    let create = |prefix: &str, arn: String, registry: UpstreamRegistry| {
        let call = ecr
            .create_pull_through_cache_rule()
            .ecr_repository_prefix(prefix);
        let call = call.upstream_registry_url("registry.gitlab.com");
        call.upstream_registry(registry).credential_arn(arn).send()
    };
    let ours = secret("ecr-pullthroughcache/conformance-model-AbCdEf");
    let gitlab = || UpstreamRegistry::GitLabContainerRegistry;
    let step = create(&long(31), ours.clone(), gitlab()).await.message();
    t.refused("CreatePullThroughCacheRule, prefix longer than 30", step);
    let theirs = secret("another-team/conformance-model-AbCdEf");
    let step = create("conformance-model", theirs, gitlab()).await.status();
    t.refused(
        "CreatePullThroughCacheRule, credentialArn of another prefix's secret",
        step,
    );
    let registry = UpstreamRegistry::from("not-a-registry");
    let step = create("conformance-model", ours.clone(), registry)
        .await
        .status();
    t.refused(
        "CreatePullThroughCacheRule, upstreamRegistry outside the enum",
        step,
    );
    let update = ecr
        .update_pull_through_cache_rule()
        .ecr_repository_prefix("conformance");
    let too_long = secret(&format!("ecr-pullthroughcache/{}", long(600)));
    let step = update.credential_arn(too_long).send().await.status();
    t.refused(
        "UpdatePullThroughCacheRule, credentialArn longer than 612",
        step,
    );
    let describe = || ecr.describe_pull_through_cache_rules();
    let step = describe()
        .ecr_repository_prefixes("Upper")
        .send()
        .await
        .status();
    t.refused(
        "DescribePullThroughCacheRules, a prefix in upper case",
        step,
    );
    let step = describe().max_results(1001).send().await.status();
    t.refused("DescribePullThroughCacheRules, maxResults 1001", step);
    let validate = ecr
        .validate_pull_through_cache_rule()
        .ecr_repository_prefix("a");
    let step = validate.send().await.status();
    t.refused(
        "ValidatePullThroughCacheRule, prefix of one character",
        step,
    );
    let delete = ecr
        .delete_pull_through_cache_rule()
        .ecr_repository_prefix("Upper");
    let step = delete.send().await.status();
    t.refused("DeletePullThroughCacheRule, prefix in upper case", step);
}

async fn templates(b: &impl Backend, t: &mut Transcript) {
    let ecr = caller(b, REGION).ecr;
    let create = |prefix: &str| {
        let call = ecr.create_repository_creation_template().prefix(prefix);
        call.applied_for(RctAppliedFor::PullThroughCache)
    };
    let step = create("Upper").send().await.status();
    t.refused(
        "CreateRepositoryCreationTemplate, prefix in upper case",
        step,
    );
    let prefix = "conformance-model";
    let step = create(prefix).description(long(257)).send().await.status();
    t.refused(
        "CreateRepositoryCreationTemplate, description longer than 256",
        step,
    );
    let mutability = ImageTagMutability::from("SOMETIMES");
    let step = create(prefix).image_tag_mutability(mutability).send().await;
    t.refused(
        "CreateRepositoryCreationTemplate, imageTagMutability outside the enum",
        step.status(),
    );
    let filter = Filter::builder()
        .filter_type(FilterType::Wildcard)
        .filter("has space");
    let call = create(prefix).image_tag_mutability(ImageTagMutability::ImmutableWithExclusion);
    let call = call.image_tag_mutability_exclusion_filters(filter.build().expect("filter"));
    t.refused(
        "CreateRepositoryCreationTemplate, exclusion filter with a space",
        call.send().await.status(),
    );
    let step = create(prefix).lifecycle_policy(long(30_721)).send().await;
    t.refused(
        "CreateRepositoryCreationTemplate, lifecyclePolicy longer than 30720",
        step.status(),
    );
    let step = create(prefix).custom_role_arn(long(2049)).send().await;
    t.refused(
        "CreateRepositoryCreationTemplate, customRoleArn longer than 2048",
        step.status(),
    );
    let update = ecr.update_repository_creation_template().prefix(prefix);
    let step = update.description(long(257)).send().await.status();
    t.refused(
        "UpdateRepositoryCreationTemplate, description longer than 256",
        step,
    );
    let describe = ecr
        .describe_repository_creation_templates()
        .prefixes("Upper");
    let step = describe.send().await.status();
    t.refused(
        "DescribeRepositoryCreationTemplates, a prefix in upper case",
        step,
    );
    let policy = ecr.put_registry_policy().policy_text(long(10_241));
    t.refused(
        "PutRegistryPolicy, policy text longer than 10,240",
        policy.send().await.status(),
    );
}
