//! The AWS rules the rollout file's values meet, field by field: where each rule is stated in the
//! service's own model (botocore's `<service>/<version>/service-2.json`, the source the SDKs are
//! generated from) and the function the checks here use for it. tests/e2e/model_rules.rs loads the
//! models and holds every entry to them: the same bounds, and the same verdict on values at and
//! beyond them and on samples the model's pattern refuses.

use super::{
    ACCOUNT_RE, EXTERNAL_ID_RE, OU_RE, PREFIX_RE, ROLE_RE, SECRET_NAME_PREFIX, SECRET_NAME_RE,
};
use regex::Regex;
use std::sync::LazyLock;

/// Where a value goes: a member of an operation's input (`Tags[].Key` for a list's members), and
/// the text it is part of there (`{}` stands for the value, `"{}"` when it is sent as is).
#[derive(Debug, Clone, Copy)]
pub struct Member {
    pub service: &'static str,
    pub operation: &'static str,
    pub member: &'static str,
    pub wrap: &'static str,
}

/// A rule the model leaves out and the service's documentation states.
#[derive(Debug, Clone, Copy)]
pub struct Documented {
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// Where it is stated.
    pub source: &'static str,
}

/// What kind of value a rule is about, with the tool's side of it.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A string: its length in characters within `min..=max`, judged by `check`.
    Text {
        min: usize,
        max: usize,
        check: fn(&str) -> bool,
        /// A value of `n` characters the member's pattern takes (when its length fits).
        of_len: fn(usize) -> String,
    },
    /// An integer within `min..=max`.
    Integer { min: i64, max: i64 },
    /// One of these values, exactly the model's enum.
    Enum(&'static [&'static str]),
    /// A list of `min..=max` entries.
    List { min: usize, max: usize },
}

/// One value of the rollout file and the AWS rule it meets.
#[derive(Debug, Clone, Copy)]
pub struct ModelRule {
    /// The rollout file's key.
    pub field: &'static str,
    /// The members the value is sent in; the first one's bounds are the tool's.
    pub sent_to: &'static [Member],
    pub kind: Kind,
    /// The rule where the model is silent on the first member.
    pub documented: Option<Documented>,
    /// Values to judge besides the bounds, such as characters a pattern refuses.
    pub samples: &'static [&'static str],
}

const fn sent(service: &'static str, operation: &'static str, member: &'static str) -> Member {
    Member {
        service,
        operation,
        member,
        wrap: "{}",
    }
}

/// The repository name prefix of the rule (and of the template: same pattern, longer limit).
const PREFIX_LEN: (usize, usize) = (2, 30);
/// Secrets Manager's name length; the name must also fit ECR's `credentialArn` pattern.
const SECRET_NAME_LEN: (usize, usize) = (1, 512);
const ROLE_NAME_LEN: (usize, usize) = (1, 64);
const EXTERNAL_ID_LEN: (usize, usize) = (2, 1224);
pub(crate) const SESSION_DURATION: (i64, i64) = (900, 43_200);
/// Organizations' ids: the model bounds the length, its pattern the rest.
const ACCOUNT_ID_LEN: (usize, usize) = (0, 12);
const PARENT_ID_LEN: (usize, usize) = (0, 100);
/// Tags: Secrets Manager's model, and ECR's documentation (its model states no length).
const TAG_KEY_LEN: (usize, usize) = (1, 128);
const TAG_VALUE_LEN: (usize, usize) = (0, 256);
const TEMPLATE_DESCRIPTION_LEN: (usize, usize) = (0, 256);
/// The lifecycle policy text: the template's member takes 0 to 30720 characters (0 clears it),
/// and ECR puts the policy on each repository it creates, where 100 to 30720 are taken.
pub(crate) const LIFECYCLE_POLICY_LEN: (usize, usize) = (100, 30_720);
const CUSTOM_ROLE_ARN_LEN: (usize, usize) = (0, 2048);
pub(crate) const TAG_MUTABILITIES: &[&str] = &[
    "MUTABLE",
    "IMMUTABLE",
    "IMMUTABLE_WITH_EXCLUSION",
    "MUTABLE_WITH_EXCLUSION",
];
pub(crate) const EXCLUSION_FILTER_TYPES: &[&str] = &["WILDCARD"];
pub(crate) const EXCLUSION_FILTERS_LEN: (usize, usize) = (1, 5);
const EXCLUSION_FILTER_LEN: (usize, usize) = (1, 128);

static EXCLUSION_FILTER_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9a-zA-Z._*-]+$").expect("valid regex"));

fn chars_within(s: &str, (min, max): (usize, usize)) -> bool {
    (min..=max).contains(&s.chars().count())
}

pub(crate) fn is_account_id(s: &str) -> bool {
    chars_within(s, ACCOUNT_ID_LEN) && ACCOUNT_RE.is_match(s)
}

/// An OU's or a root's id, as ListChildren and ListAccountsForParent take it.
pub(crate) fn is_ou_id(s: &str) -> bool {
    chars_within(s, PARENT_ID_LEN) && OU_RE.is_match(s)
}

pub(crate) fn is_ecr_prefix(s: &str) -> bool {
    chars_within(s, PREFIX_LEN) && PREFIX_RE.is_match(s)
}

/// A name Secrets Manager takes and ECR reads credentials from (`ecr-pullthroughcache/...`;
/// the prefix alone fits ECR's pattern, the ARN's suffix following it: the rollout file's check
/// refuses it besides, as a name that says nothing).
pub(crate) fn is_secret_name(s: &str) -> bool {
    chars_within(s, SECRET_NAME_LEN)
        && s.starts_with(SECRET_NAME_PREFIX)
        && SECRET_NAME_RE.is_match(s)
}

pub(crate) fn is_role_name(s: &str) -> bool {
    chars_within(s, ROLE_NAME_LEN) && ROLE_RE.is_match(s)
}

pub(crate) fn is_external_id(s: &str) -> bool {
    chars_within(s, EXTERNAL_ID_LEN) && EXTERNAL_ID_RE.is_match(s)
}

pub(crate) fn is_tag_key(s: &str) -> bool {
    chars_within(s, TAG_KEY_LEN)
}

pub(crate) fn is_tag_value(s: &str) -> bool {
    chars_within(s, TAG_VALUE_LEN)
}

pub(crate) fn is_template_description(s: &str) -> bool {
    chars_within(s, TEMPLATE_DESCRIPTION_LEN)
}

/// The compact policy text, as sent.
pub(crate) fn lifecycle_policy_fits(s: &str) -> bool {
    chars_within(s, LIFECYCLE_POLICY_LEN)
}

pub(crate) fn custom_role_arn_fits(s: &str) -> bool {
    chars_within(s, CUSTOM_ROLE_ARN_LEN)
}

pub(crate) fn is_exclusion_filter(s: &str) -> bool {
    chars_within(s, EXCLUSION_FILTER_LEN) && EXCLUSION_FILTER_RE.is_match(s)
}

fn letters(n: usize) -> String {
    "a".repeat(n)
}

fn secret_name_of_len(n: usize) -> String {
    match n.checked_sub(SECRET_NAME_PREFIX.len()) {
        Some(rest) if rest > 0 => format!("{SECRET_NAME_PREFIX}{}", letters(rest)),
        _ => letters(n),
    }
}

const CREATE_TEMPLATE: &str = "CreateRepositoryCreationTemplate";
const ECR_TAG_DOCS: &str = "ECR API reference, Tag and TagResource: \"Tag keys can have a maximum \
     character length of 128 characters, and tag values can have a maximum length of 256\"; \
     CloudFormation's AWS::ECR::RepositoryCreationTemplate Tag: key 1 to 128, value 0 to 256";

/// Every value of the rollout file that reaches an AWS API, and its rule.
pub const MODEL_RULES: &[ModelRule] = &[
    ModelRule {
        field: "targets.accounts[], targets.exclude_accounts[], waves[].accounts[]",
        sent_to: &[sent("organizations", "DescribeAccount", "AccountId")],
        kind: Kind::Text {
            min: ACCOUNT_ID_LEN.0,
            max: ACCOUNT_ID_LEN.1,
            check: is_account_id,
            of_len: |n| "1".repeat(n),
        },
        documented: None,
        samples: &[
            "111111111111",
            "11111111111a",
            "١١١١١١١١١١١١",
            " 111111111111",
        ],
    },
    ModelRule {
        field: "targets.organizational_units[], waves[].organizational_units[]",
        sent_to: &[
            sent("organizations", "ListChildren", "ParentId"),
            sent("organizations", "ListAccountsForParent", "ParentId"),
        ],
        kind: Kind::Text {
            min: PARENT_ID_LEN.0,
            max: PARENT_ID_LEN.1,
            check: is_ou_id,
            of_len: letters,
        },
        documented: None,
        samples: &[
            "ou-ab12-cdef3456",
            "r-ab12",
            "ou-AB12-cdef3456",
            "ou-ab1-cdef3456",
            "r-ab12-cdef3456",
            "ou-ab12-cdef345",
            "ou-abcdefghijabcdefghijabcdefghijab-abcdefghijabcdefghijabcdefghijab",
            "ou-abcdefghijabcdefghijabcdefghijabc-abcdefgh",
        ],
    },
    ModelRule {
        field: "rule.ecr_repository_prefix",
        sent_to: &[
            sent("ecr", "CreatePullThroughCacheRule", "ecrRepositoryPrefix"),
            sent("ecr", CREATE_TEMPLATE, "prefix"),
        ],
        kind: Kind::Text {
            min: PREFIX_LEN.0,
            max: PREFIX_LEN.1,
            check: is_ecr_prefix,
            of_len: letters,
        },
        documented: None,
        samples: &[
            "gitlab",
            "GitLab",
            "gitlab-",
            "-gitlab",
            "git__lab",
            "git___lab",
            "git--lab",
            "a/b/",
            "a//b",
            "ROOT",
            "root",
            "git lab",
            "gitläb",
            "a.b_c-d/e",
        ],
    },
    ModelRule {
        field: "rule.secret_name",
        sent_to: &[
            sent("secretsmanager", "CreateSecret", "Name"),
            Member {
                service: "ecr",
                operation: "CreatePullThroughCacheRule",
                member: "credentialArn",
                wrap: "arn:aws:secretsmanager:us-east-1:111111111111:secret:{}-AbCdEf",
            },
        ],
        kind: Kind::Text {
            min: SECRET_NAME_LEN.0,
            max: SECRET_NAME_LEN.1,
            check: is_secret_name,
            of_len: secret_name_of_len,
        },
        documented: None,
        samples: &[
            "ecr-pullthroughcache/gitlab",
            "ecr-pullthroughcache/",
            "gitlab",
            "ecr-pullthroughcache/a b",
            "ecr-pullthroughcache/é",
            "ecr-pullthroughcache/a:b",
            "ecr-pullthroughcache/a/b_+=.@-",
            "ecr-pullthroughcache/a*",
        ],
    },
    ModelRule {
        field: "rule.tags (key)",
        sent_to: &[
            sent("secretsmanager", "CreateSecret", "Tags[].Key"),
            sent("secretsmanager", "TagResource", "Tags[].Key"),
        ],
        kind: Kind::Text {
            min: TAG_KEY_LEN.0,
            max: TAG_KEY_LEN.1,
            check: is_tag_key,
            of_len: |n| "é".repeat(n),
        },
        documented: None,
        samples: &["team", "a b", "#", "ключ", "😀"],
    },
    ModelRule {
        field: "rule.tags (value)",
        sent_to: &[
            sent("secretsmanager", "CreateSecret", "Tags[].Value"),
            sent("secretsmanager", "TagResource", "Tags[].Value"),
        ],
        kind: Kind::Text {
            min: TAG_VALUE_LEN.0,
            max: TAG_VALUE_LEN.1,
            check: is_tag_value,
            of_len: |n| "é".repeat(n),
        },
        documented: None,
        samples: &["", "platform", "a b", "#"],
    },
    ModelRule {
        field: "targets.role_name",
        sent_to: &[sent("iam", "CreateRole", "RoleName")],
        kind: Kind::Text {
            min: ROLE_NAME_LEN.0,
            max: ROLE_NAME_LEN.1,
            check: is_role_name,
            of_len: letters,
        },
        documented: None,
        samples: &[
            "OrganizationAccountAccessRole",
            "a+=,.@_-b",
            "path/role",
            "a b",
            "rôle",
            "a:b",
            "arn:aws:iam::111111111111:role/x",
        ],
    },
    ModelRule {
        field: "targets.external_id",
        sent_to: &[sent("sts", "AssumeRole", "ExternalId")],
        kind: Kind::Text {
            min: EXTERNAL_ID_LEN.0,
            max: EXTERNAL_ID_LEN.1,
            check: is_external_id,
            of_len: letters,
        },
        documented: None,
        samples: &["ab", "a+=,.@:/-_9", "a b", "é1", "a#b", "a\nb"],
    },
    ModelRule {
        field: "targets.session_duration_seconds",
        sent_to: &[sent("sts", "AssumeRole", "DurationSeconds")],
        kind: Kind::Integer {
            min: SESSION_DURATION.0,
            max: SESSION_DURATION.1,
        },
        documented: None,
        samples: &[],
    },
    ModelRule {
        field: "repository_template.description",
        sent_to: &[sent("ecr", CREATE_TEMPLATE, "description")],
        kind: Kind::Text {
            min: TEMPLATE_DESCRIPTION_LEN.0,
            max: TEMPLATE_DESCRIPTION_LEN.1,
            check: is_template_description,
            of_len: |n| "é".repeat(n),
        },
        documented: None,
        samples: &["Managed by ptc-rollout", ""],
    },
    ModelRule {
        field: "repository_template.lifecycle_policy",
        sent_to: &[
            sent("ecr", "PutLifecyclePolicy", "lifecyclePolicyText"),
            sent("ecr", CREATE_TEMPLATE, "lifecyclePolicy"),
        ],
        kind: Kind::Text {
            min: LIFECYCLE_POLICY_LEN.0,
            max: LIFECYCLE_POLICY_LEN.1,
            check: lifecycle_policy_fits,
            of_len: letters,
        },
        documented: None,
        samples: &[],
    },
    ModelRule {
        field: "repository_template.resource_tags (key)",
        sent_to: &[sent("ecr", CREATE_TEMPLATE, "resourceTags[].Key")],
        kind: Kind::Text {
            min: TAG_KEY_LEN.0,
            max: TAG_KEY_LEN.1,
            check: is_tag_key,
            of_len: |n| "é".repeat(n),
        },
        documented: Some(Documented {
            min: Some(1),
            max: Some(128),
            source: ECR_TAG_DOCS,
        }),
        samples: &["team", "a b"],
    },
    ModelRule {
        field: "repository_template.resource_tags (value)",
        sent_to: &[sent("ecr", CREATE_TEMPLATE, "resourceTags[].Value")],
        kind: Kind::Text {
            min: TAG_VALUE_LEN.0,
            max: TAG_VALUE_LEN.1,
            check: is_tag_value,
            of_len: |n| "é".repeat(n),
        },
        documented: Some(Documented {
            min: Some(0),
            max: Some(256),
            source: ECR_TAG_DOCS,
        }),
        samples: &["", "platform"],
    },
    ModelRule {
        field: "repository_template.custom_role_name",
        sent_to: &[
            sent("iam", "CreateRole", "RoleName"),
            Member {
                service: "ecr",
                operation: CREATE_TEMPLATE,
                member: "customRoleArn",
                wrap: "arn:aws:iam::111111111111:role/{}",
            },
        ],
        kind: Kind::Text {
            min: ROLE_NAME_LEN.0,
            max: ROLE_NAME_LEN.1,
            check: is_role_name,
            of_len: letters,
        },
        documented: None,
        samples: &["ecr-template-role", "a b", "rôle"],
    },
    ModelRule {
        field: "repository_template.custom_role_arn",
        sent_to: &[sent("ecr", CREATE_TEMPLATE, "customRoleArn")],
        kind: Kind::Text {
            min: CUSTOM_ROLE_ARN_LEN.0,
            max: CUSTOM_ROLE_ARN_LEN.1,
            check: custom_role_arn_fits,
            of_len: letters,
        },
        documented: None,
        samples: &["arn:aws:iam::111111111111:role/ecr-template"],
    },
    ModelRule {
        field: "repository_template.image_tag_mutability",
        sent_to: &[sent("ecr", CREATE_TEMPLATE, "imageTagMutability")],
        kind: Kind::Enum(TAG_MUTABILITIES),
        documented: None,
        samples: &[],
    },
    ModelRule {
        field: "repository_template.image_tag_mutability_exclusion_filters",
        sent_to: &[sent(
            "ecr",
            CREATE_TEMPLATE,
            "imageTagMutabilityExclusionFilters",
        )],
        kind: Kind::List {
            min: EXCLUSION_FILTERS_LEN.0,
            max: EXCLUSION_FILTERS_LEN.1,
        },
        documented: None,
        samples: &[],
    },
    ModelRule {
        field: "repository_template.image_tag_mutability_exclusion_filters[].filter_type",
        sent_to: &[sent(
            "ecr",
            CREATE_TEMPLATE,
            "imageTagMutabilityExclusionFilters[].filterType",
        )],
        kind: Kind::Enum(EXCLUSION_FILTER_TYPES),
        documented: None,
        samples: &[],
    },
    ModelRule {
        field: "repository_template.image_tag_mutability_exclusion_filters[].filter",
        sent_to: &[sent(
            "ecr",
            CREATE_TEMPLATE,
            "imageTagMutabilityExclusionFilters[].filter",
        )],
        kind: Kind::Text {
            min: EXCLUSION_FILTER_LEN.0,
            max: EXCLUSION_FILTER_LEN.1,
            check: is_exclusion_filter,
            of_len: letters,
        },
        documented: None,
        samples: &["latest", "dev-*", "v1.*_x", "a/b", "a b", "é", "a?", "a:b"],
    },
    ModelRule {
        field: "pull_access.role_names[]",
        sent_to: &[sent("iam", "CreateRole", "RoleName")],
        kind: Kind::Text {
            min: ROLE_NAME_LEN.0,
            max: ROLE_NAME_LEN.1,
            check: is_role_name,
            of_len: letters,
        },
        documented: None,
        samples: &["eks-node-role", "a b", "rôle"],
    },
];

/// The RoleSessionName `ptc-rollout` makes (not from the rollout file): `ptc-rollout-<unix time>`.
pub fn session_name(unix_secs: u64) -> String {
    format!("ptc-rollout-{unix_secs}")
}

/// Where [`session_name`] is sent.
pub const SESSION_NAME_MEMBER: Member = sent("sts", "AssumeRole", "RoleSessionName");
