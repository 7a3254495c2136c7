//! The checks of the rollout file, table by table, each value against the AWS rule it will meet.
//! Each check adds what is wrong to the list and goes on, so that every problem is told at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;

use super::{
    model_rules, Problem, RawRule, RawTargets, RawTuning, RawUpstream, ENV_NAME_RE, EXPIRY_TAG_KEY,
    GITLAB_REGISTRY, MANAGED_TAG_KEY, SECRET_NAME_PREFIX, SUFFIX_LIKE_RE,
};
use crate::data::regions;
use crate::data::tuning::Tuning;

/// What the rollout keeps of `[targets]` besides its values as written.
pub(super) struct CheckedTargets {
    pub(crate) accounts: Option<BTreeSet<String>>,
    pub(crate) exclude_accounts: BTreeSet<String>,
    pub(crate) session_duration_seconds: i32,
}

/// `[targets]`: the matrix, and how each account is entered.
pub(super) fn check_targets(t: &RawTargets, p: &mut Vec<Problem>) -> CheckedTargets {
    check_regions(&t.regions, t.allow_unknown_regions, p);
    if !model_rules::is_role_name(&t.role_name) {
        p.push(Problem::new(
            "targets.role_name",
            format!("{:?} is not an IAM role name", t.role_name),
            "use 1 to 64 letters, digits or +=,.@_- (the role's name, not its ARN), e.g. \"OrganizationAccountAccessRole\"",
        ));
    }
    let (accounts, exclude_accounts) = check_account_filters(t, p);
    if let Some(id) = &t.external_id {
        if !model_rules::is_external_id(id) {
            // Never echoed: an external ID is sometimes treated as a shared secret.
            p.push(Problem::new(
                "targets.external_id",
                "is not an external ID STS accepts",
                "use 2 to 1224 ASCII letters, digits or +=,.@:/-_ (no spaces)",
            ));
        }
    }
    let duration = t.session_duration_seconds.unwrap_or(3600);
    let (shortest, longest) = model_rules::SESSION_DURATION;
    if !(shortest..=longest).contains(&duration) {
        p.push(Problem::new(
            "targets.session_duration_seconds",
            format!("{duration} is outside 900 to 43200"),
            "use a duration STS accepts, e.g. 3600",
        ));
    }
    CheckedTargets {
        accounts,
        exclude_accounts,
        session_duration_seconds: duration as i32,
    }
}

/// A repeated Region would make each of its targets twice.
fn check_regions(regions: &[String], allow_unknown: bool, p: &mut Vec<Problem>) {
    if regions.is_empty() {
        p.push(Problem::new(
            "targets.regions",
            "is empty",
            "list at least one Region, e.g. [\"us-east-1\"]",
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, r) in regions.iter().enumerate() {
        let field = format!("targets.regions[{i}]");
        if !seen.insert(r) {
            p.push(Problem::new(
                field,
                format!("{r:?} is listed twice"),
                "list each Region once",
            ));
        } else if let Some(problem) = check_region(&field, r, allow_unknown) {
            p.push(problem);
        }
    }
}

/// The account filters: an empty allow-list would silently target nothing.
fn check_account_filters(
    t: &RawTargets,
    p: &mut Vec<Problem>,
) -> (Option<BTreeSet<String>>, BTreeSet<String>) {
    let accounts = t
        .accounts
        .as_ref()
        .map(|a| check_accounts("targets.accounts", a, p));
    if accounts.as_ref().is_some_and(|a| a.is_empty()) {
        p.push(Problem::new(
            "targets.accounts",
            "is empty, so nothing would be targeted",
            "remove the key to target every account, or list account ids",
        ));
    }
    let exclude_accounts = check_accounts("targets.exclude_accounts", &t.exclude_accounts, p);
    for (i, ou) in t.organizational_units.iter().enumerate() {
        if !model_rules::is_ou_id(ou) {
            p.push(Problem::new(
                format!("targets.organizational_units[{i}]"),
                format!("{ou:?} is not an OU id"),
                "use ids like \"ou-ab12-cdef3456\" (or a root \"r-ab12\"), as `aws organizations list-organizational-units-for-parent` prints them",
            ));
        }
    }
    (accounts, exclude_accounts)
}

/// `[upstream]`: the registry and the token's owner and variable.
pub(super) fn check_upstream(u: &RawUpstream, p: &mut Vec<Problem>) {
    if u.registry != GITLAB_REGISTRY {
        p.push(Problem::new(
            "upstream.registry",
            format!("{:?} is not supported", u.registry),
            format!("use \"{GITLAB_REGISTRY}\" (registry.gitlab.com), the only upstream for now"),
        ));
    }
    if u.username.trim().is_empty() {
        p.push(Problem::new(
            "upstream.username",
            "is empty",
            "set the GitLab username the token belongs to (for a group access token, its bot user)",
        ));
    } else if u.username.len() > 255 || u.username.chars().any(char::is_control) {
        p.push(Problem::new(
            "upstream.username",
            "is too long or holds control characters",
            "set the GitLab username the token belongs to",
        ));
    }
    if !ENV_NAME_RE.is_match(&u.token_env) || super::looks_like_a_token(&u.token_env) {
        // Never echo the value: a user may have pasted the token itself here.
        p.push(Problem::new("upstream.token_env", "is not an environment variable name", "set the NAME of the variable that holds the token (letters, digits, _), e.g. \"GITLAB_REGISTRY_TOKEN\", never the token itself"));
    }
}

/// `[rule]`: the ECR prefix, the secret and its tags.
pub(super) fn check_rule(r: &RawRule, p: &mut Vec<Problem>) {
    let prefix = &r.ecr_repository_prefix;
    if !model_rules::is_ecr_prefix(prefix) {
        p.push(Problem::new(
            "rule.ecr_repository_prefix",
            format!("{prefix:?} is not a valid ECR repository prefix"),
            "use 2 to 30 lowercase letters, digits and . _ - / (starting and ending with a letter or digit), e.g. \"gitlab\"",
        ));
    }
    check_secret_name("rule.secret_name", &r.secret_name, p);
    check_tags("rule.tags", &r.tags, p);
}

/// The secret's tags must fit Secrets Manager's rules next to the tool's own tags.
pub(super) fn check_tags(at: &str, tags: &BTreeMap<String, String>, p: &mut Vec<Problem>) {
    for (k, v) in tags {
        let field = format!("{at}.{k}");
        if !model_rules::is_tag_key(k) || !model_rules::is_tag_value(v) {
            p.push(Problem::new(
                field,
                "is not a tag Secrets Manager accepts: the key must be 1 to 128 characters and the value at most 256",
                "shorten the key or the value",
            ));
        } else if k.starts_with("aws:") {
            p.push(Problem::new(
                field,
                "the aws: prefix is reserved by AWS",
                "choose another key",
            ));
        } else if k == MANAGED_TAG_KEY || k == EXPIRY_TAG_KEY {
            p.push(Problem::new(
                field,
                format!("{k} is set by ptc-rollout itself"),
                "remove it",
            ));
        }
    }
    // Secrets Manager's 50 tags a secret (its TagResource reference; the model states no count),
    // less managed-by and token-expires-on.
    if tags.len() > 48 {
        p.push(Problem::new(
            at,
            format!("has {} tags, more than 48", tags.len()),
            "remove some: Secrets Manager allows 50 tags on a secret and ptc-rollout adds two of its own",
        ));
    }
}

/// A Region outside the built-in list is refused unless allowed, so a typo fails before any call.
fn check_region(field: &str, r: &str, allow_unknown: bool) -> Option<Problem> {
    if regions::is_known(r) {
        None
    } else if !regions::is_well_formed(r) {
        Some(Problem::new(
            field,
            format!("{r:?} is not a Region code"),
            "use a code like \"us-east-1\"",
        ))
    } else if !allow_unknown {
        Some(Problem::new(field, format!("{r:?} is not a known AWS Region"), "check the spelling, or set targets.allow_unknown_regions = true for a Region newer than this tool"))
    } else {
        None
    }
}

/// `[tuning]`: each setting within what makes sense for the SDK, the default for the rest.
pub(super) fn check_tuning(t: &RawTuning, p: &mut Vec<Problem>) -> Tuning {
    use std::time::Duration;
    let d = Tuning::default();
    let mut in_range = |field: &str, value: Option<u64>, range: std::ops::RangeInclusive<u64>| {
        if let Some(v) = value.filter(|v| !range.contains(v)) {
            p.push(Problem::new(
                format!("tuning.{field}"),
                format!("{v} is outside {} to {}", range.start(), range.end()),
                "choose a value in that range, or remove the key for the default",
            ));
        }
        value
    };
    let max_attempts = in_range("max_attempts", t.max_attempts.map(u64::from), 1..=20);
    let initial = in_range("initial_backoff_ms", t.initial_backoff_ms, 1..=60_000);
    let max = in_range("max_backoff_ms", t.max_backoff_ms, 1..=300_000);
    let attempt = in_range(
        "attempt_timeout_seconds",
        t.attempt_timeout_seconds,
        1..=900,
    );
    let operation = in_range(
        "operation_timeout_seconds",
        t.operation_timeout_seconds,
        1..=3600,
    );
    let tuning = Tuning {
        max_attempts: max_attempts.map_or(d.max_attempts, |v| v as u32),
        initial_backoff: initial.map_or(d.initial_backoff, Duration::from_millis),
        max_backoff: max.map_or(d.max_backoff, Duration::from_millis),
        connect_timeout: d.connect_timeout,
        attempt_timeout: attempt.map_or(d.attempt_timeout, Duration::from_secs),
        operation_timeout: operation.map_or(d.operation_timeout, Duration::from_secs),
    };
    if tuning.operation_timeout < tuning.attempt_timeout {
        p.push(Problem::new(
            "tuning.operation_timeout_seconds",
            "is shorter than one attempt",
            "make it at least tuning.attempt_timeout_seconds",
        ));
    }
    tuning
}

/// Account ids as Organizations prints them, returned as a set even when some are wrong.
pub(super) fn check_accounts(
    field: &str,
    ids: &[String],
    p: &mut Vec<Problem>,
) -> BTreeSet<String> {
    for (i, id) in ids.iter().enumerate() {
        if !model_rules::is_account_id(id) {
            p.push(Problem::new(
                format!("{field}[{i}]"),
                format!("{id:?} is not an AWS account id"),
                "use the 12-digit account id, as a string, e.g. \"111111111111\"",
            ));
        }
    }
    ids.iter().cloned().collect()
}

/// A name ECR reads pull through cache credentials from and Secrets Manager accepts.
pub(super) fn check_secret_name(field: &str, name: &str, p: &mut Vec<Problem>) {
    if !name.starts_with(SECRET_NAME_PREFIX) || name.len() == SECRET_NAME_PREFIX.len() {
        p.push(Problem::new(field, format!("{name:?} does not start with {SECRET_NAME_PREFIX:?}"), format!("ECR reads only secrets named {SECRET_NAME_PREFIX}..., e.g. \"{SECRET_NAME_PREFIX}gitlab\"")));
    } else if !model_rules::is_secret_name(name) {
        p.push(Problem::new(
            field,
            format!("{name:?} breaks Secrets Manager's name rules or ECR's credentialArn pattern"),
            "use at most 512 ASCII letters, digits and /_+=.@- in all (no spaces)",
        ));
    } else if SUFFIX_LIKE_RE.is_match(name) {
        p.push(Problem::new(
            field,
            format!("{name:?} ends in a hyphen and six characters"),
            "Secrets Manager mistakes that for an ARN suffix: choose another ending",
        ));
    }
}

/// Turns a TOML error into a problem without echoing values (the text may hold anything).
pub(super) fn toml_problem(text: &str, e: &toml::de::Error) -> Problem {
    static QUOTED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(string|integer|float) (`[^`]*`|"[^"]*")"#).expect("valid regex")
    });
    let message = QUOTED.replace_all(e.message().trim(), "$1").into_owned();
    let (line, table) = match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let table = before
                .lines()
                .rev()
                .map(str::trim)
                .find(|l| l.starts_with('[') && l.ends_with(']'))
                .map(|l| l.trim_matches(['[', ']']).to_owned());
            (Some(line), table)
        }
        None => (None, None),
    };
    let field = match (line, &table) {
        (Some(l), Some(t)) => format!("line {l}, in [{t}]"),
        (Some(l), None) => format!("line {l}"),
        _ => "file".to_owned(),
    };
    let fix = if message.starts_with("unknown field") {
        "remove the key or correct its spelling (see plans/gitlab.toml for every key)"
    } else if message.starts_with("missing field") {
        "add the key (see plans/gitlab.toml for an example)"
    } else {
        "correct the TOML at that place (see plans/gitlab.toml)"
    };
    Problem::new(field, message, fix)
}
