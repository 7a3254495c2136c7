//! The rollout file: what to roll out where. Parsing is strict (unknown keys are errors) and every
//! value is checked against the AWS rules it will meet, so that bad input is refused with the field
//! and the fix before any AWS call is made.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

use crate::clients::Tuning;
use crate::regions;
use pull_access::RawPullAccess;
pub use pull_access::{PullAccess, ACCOUNT_PLACEHOLDER};
use template::RawTemplate;
pub use template::{parse_date, RepositoryTemplate};

/// The only upstream this tool rolls out today.
pub const GITLAB_REGISTRY: &str = "gitlab-container-registry";
/// The upstream URL ECR requires for [`GITLAB_REGISTRY`] (GitLab.com SaaS only).
pub const GITLAB_REGISTRY_URL: &str = "registry.gitlab.com";
/// ECR reads pull through cache credentials only from secrets named under this prefix.
pub const SECRET_NAME_PREFIX: &str = "ecr-pullthroughcache/";
/// Tag that marks a secret as created by this tool; the tool never overwrites a secret without it.
pub const MANAGED_TAG_KEY: &str = "managed-by";
/// Tag holding the token's expiry date (`upstream.token_expires_on`) on each secret.
pub const EXPIRY_TAG_KEY: &str = "token-expires-on";
/// Value of [`MANAGED_TAG_KEY`].
pub const MANAGED_TAG_VALUE: &str = "ptc-rollout";

static PREFIX_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*/?|ROOT)$")
        .expect("valid regex")
});
static SECRET_NAME_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9/_+=.@-]+$").expect("valid regex"));
static SUFFIX_LIKE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"-[A-Za-z0-9]{6}$").expect("valid regex"));
static ACCOUNT_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{12}$").expect("valid regex"));
static OU_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$").expect("valid regex")
});
static ROLE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\w+=,.@-]{1,64}$").expect("valid regex"));
static EXTERNAL_ID_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\w+=,.@:/-]{2,1224}$").expect("valid regex"));
static ENV_NAME_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").expect("valid regex"));

/// Whether `name` is a name IAM accepts for a role.
pub fn is_role_name(name: &str) -> bool {
    ROLE_RE.is_match(name)
}

/// A validated rollout file.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    pub regions: Vec<String>,
    pub role_name: String,
    /// Allow-list; `None` means every account of the Organization.
    pub accounts: Option<BTreeSet<String>>,
    pub exclude_accounts: BTreeSet<String>,
    /// OU (or root) ids whose whole subtrees are targeted; empty means no OU filter.
    pub organizational_units: Vec<String>,
    pub external_id: Option<String>,
    pub session_duration_seconds: i32,
    pub username: String,
    pub token_env: String,
    pub ecr_repository_prefix: String,
    pub secret_name: String,
    /// Tags for the secret, besides [`MANAGED_TAG_KEY`].
    pub tags: BTreeMap<String, String>,
    /// SDK retry and timeout settings (`[tuning]`, optional).
    pub tuning: Tuning,
    /// `upstream.token_expires_on` (`YYYY-MM-DD`), tagged on each secret at apply and rotate.
    pub token_expires_on: Option<String>,
    /// `[repository_template]`, optional.
    pub repository_template: Option<RepositoryTemplate>,
    /// `[pull_access]`, optional: principals granted first pulls in the registry policy.
    pub pull_access: Option<PullAccess>,
}

/// One thing wrong with the input, with the field it is in and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
    pub fix: String,
}

impl Problem {
    pub fn new(
        field: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (fix: {})", self.field, self.message, self.fix)
    }
}

/// Why a rollout file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("cannot read rollout file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rollout file {} is invalid:\n{}", path.display(), list(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    targets: RawTargets,
    upstream: RawUpstream,
    rule: RawRule,
    #[serde(default)]
    tuning: RawTuning,
    repository_template: Option<RawTemplate>,
    pull_access: Option<RawPullAccess>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTuning {
    max_attempts: Option<u32>,
    initial_backoff_ms: Option<u64>,
    max_backoff_ms: Option<u64>,
    attempt_timeout_seconds: Option<u64>,
    operation_timeout_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargets {
    regions: Vec<String>,
    role_name: String,
    accounts: Option<Vec<String>>,
    #[serde(default)]
    exclude_accounts: Vec<String>,
    #[serde(default)]
    organizational_units: Vec<String>,
    external_id: Option<String>,
    #[serde(default)]
    allow_unknown_regions: bool,
    session_duration_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    registry: String,
    username: String,
    token_env: String,
    token_expires_on: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    ecr_repository_prefix: String,
    secret_name: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

impl Rollout {
    /// Reads and validates a rollout file.
    pub fn load(path: &Path) -> Result<Self, RolloutError> {
        let text = std::fs::read_to_string(path).map_err(|source| RolloutError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|problems| RolloutError::Invalid {
            path: path.to_owned(),
            problems,
        })
    }

    /// Parses and validates the text of a rollout file, collecting every problem at once.
    pub fn parse(text: &str) -> Result<Self, Vec<Problem>> {
        let raw: RawFile = toml::from_str(text).map_err(|e| vec![toml_problem(text, &e)])?;
        let mut p = Vec::new();
        let t = raw.targets;

        if t.regions.is_empty() {
            p.push(Problem::new(
                "targets.regions",
                "is empty",
                "list at least one Region, e.g. [\"us-east-1\"]",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, r) in t.regions.iter().enumerate() {
            let field = format!("targets.regions[{i}]");
            if !seen.insert(r) {
                p.push(Problem::new(
                    field,
                    format!("{r:?} is listed twice"),
                    "list each Region once",
                ));
            } else if let Some(problem) = check_region(&field, r, t.allow_unknown_regions) {
                p.push(problem);
            }
        }
        if !ROLE_RE.is_match(&t.role_name) {
            p.push(Problem::new(
                "targets.role_name",
                format!("{:?} is not an IAM role name", t.role_name),
                "use 1 to 64 letters, digits or +=,.@_- (the role's name, not its ARN), e.g. \"OrganizationAccountAccessRole\"",
            ));
        }
        let accounts = t
            .accounts
            .map(|a| check_accounts("targets.accounts", &a, &mut p));
        if accounts.as_ref().is_some_and(|a| a.is_empty()) {
            p.push(Problem::new(
                "targets.accounts",
                "is empty, so nothing would be targeted",
                "remove the key to target every account, or list account ids",
            ));
        }
        let exclude_accounts =
            check_accounts("targets.exclude_accounts", &t.exclude_accounts, &mut p);
        for (i, ou) in t.organizational_units.iter().enumerate() {
            if !OU_RE.is_match(ou) {
                p.push(Problem::new(
                    format!("targets.organizational_units[{i}]"),
                    format!("{ou:?} is not an OU id"),
                    "use ids like \"ou-ab12-cdef3456\" (or a root \"r-ab12\"), as `aws organizations list-organizational-units-for-parent` prints them",
                ));
            }
        }
        if let Some(id) = &t.external_id {
            if !EXTERNAL_ID_RE.is_match(id) {
                p.push(Problem::new(
                    "targets.external_id",
                    "is not a valid external ID",
                    "use 2 to 1224 letters, digits or +=,.@:/-_",
                ));
            }
        }
        let duration = t.session_duration_seconds.unwrap_or(3600);
        if !(900..=43_200).contains(&duration) {
            p.push(Problem::new(
                "targets.session_duration_seconds",
                format!("{duration} is outside 900 to 43200"),
                "use a duration STS accepts, e.g. 3600",
            ));
        }

        let u = raw.upstream;
        if u.registry != GITLAB_REGISTRY {
            p.push(Problem::new(
                "upstream.registry",
                format!("{:?} is not supported", u.registry),
                format!(
                    "use \"{GITLAB_REGISTRY}\" (registry.gitlab.com), the only upstream for now"
                ),
            ));
        }
        if u.username.trim().is_empty() {
            p.push(Problem::new("upstream.username", "is empty", "set the GitLab username the token belongs to (for a group access token, its bot user)"));
        } else if u.username.len() > 255 || u.username.chars().any(char::is_control) {
            p.push(Problem::new(
                "upstream.username",
                "is too long or holds control characters",
                "set the GitLab username the token belongs to",
            ));
        }
        if !ENV_NAME_RE.is_match(&u.token_env) || u.token_env.starts_with("glpat") {
            // Never echo the value: a user may have pasted the token itself here.
            p.push(Problem::new("upstream.token_env", "is not an environment variable name", "set the NAME of the variable that holds the token (letters, digits, _), e.g. \"GITLAB_REGISTRY_TOKEN\", never the token itself"));
        }

        let r = raw.rule;
        let prefix = &r.ecr_repository_prefix;
        if !(2..=30).contains(&prefix.len()) || !PREFIX_RE.is_match(prefix) {
            p.push(Problem::new(
                "rule.ecr_repository_prefix",
                format!("{prefix:?} is not a valid ECR repository prefix"),
                "use 2 to 30 lowercase letters, digits and . _ - / (starting and ending with a letter or digit), e.g. \"gitlab\"",
            ));
        }
        check_secret_name(&r.secret_name, &mut p);
        for (k, v) in &r.tags {
            let field = format!("rule.tags.{k}");
            if k.is_empty() || k.len() > 128 || v.len() > 256 {
                p.push(Problem::new(
                    field,
                    "tag key must be 1 to 128 characters and value at most 256",
                    "shorten the tag",
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
        if r.tags.len() > 49 {
            p.push(Problem::new(
                "rule.tags",
                "more than 49 tags",
                "Secrets Manager allows 50 tags and ptc-rollout adds one",
            ));
        }

        let tuning = check_tuning(&raw.tuning, &mut p);
        if let Some(date) = &u.token_expires_on {
            template::check_expiry(date, &mut p);
        }
        let repository_template = raw
            .repository_template
            .map(|t| template::check_template(t, accounts.as_ref(), &mut p));
        let pull_access = raw
            .pull_access
            .map(|a| pull_access::check_pull_access(a, &t.regions, &mut p));

        if !p.is_empty() {
            return Err(p);
        }
        Ok(Rollout {
            regions: t.regions,
            role_name: t.role_name,
            accounts,
            exclude_accounts,
            organizational_units: t.organizational_units,
            external_id: t.external_id,
            session_duration_seconds: duration as i32,
            username: u.username,
            token_env: u.token_env,
            ecr_repository_prefix: r.ecr_repository_prefix,
            secret_name: r.secret_name,
            tags: r.tags,
            tuning,
            token_expires_on: u.token_expires_on,
            repository_template,
            pull_access,
        })
    }

    /// Narrows the matrix for one run (`--regions`, `--accounts`). A narrowing flag may only
    /// select from what the file allows, so a typo cannot widen a rollout.
    pub fn narrow(
        &mut self,
        regions: Option<&[String]>,
        accounts: Option<&[String]>,
    ) -> Result<(), Vec<Problem>> {
        let mut p = Vec::new();
        if let Some(regions) = regions {
            for r in regions {
                if !self.regions.contains(r) {
                    p.push(Problem::new(
                        "--regions",
                        format!("{r:?} is not in the rollout file's targets.regions"),
                        format!("choose among {}", self.regions.join(",")),
                    ));
                }
            }
            self.regions.retain(|r| regions.contains(r));
        }
        if let Some(accounts) = accounts {
            let set = check_accounts("--accounts", accounts, &mut p);
            if let Some(allow) = &self.accounts {
                for a in set.difference(allow) {
                    p.push(Problem::new(
                        "--accounts",
                        format!("{a} is not in the rollout file's targets.accounts"),
                        "choose accounts the rollout file allows",
                    ));
                }
            }
            self.accounts = Some(match &self.accounts {
                Some(allow) => allow.intersection(&set).cloned().collect(),
                None => set,
            });
        }
        if p.is_empty() {
            Ok(())
        } else {
            Err(p)
        }
    }
}

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

fn check_tuning(t: &RawTuning, p: &mut Vec<Problem>) -> Tuning {
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

fn check_accounts(field: &str, ids: &[String], p: &mut Vec<Problem>) -> BTreeSet<String> {
    for (i, id) in ids.iter().enumerate() {
        if !ACCOUNT_RE.is_match(id) {
            p.push(Problem::new(
                format!("{field}[{i}]"),
                format!("{id:?} is not an AWS account id"),
                "use the 12-digit account id, as a string, e.g. \"111111111111\"",
            ));
        }
    }
    ids.iter().cloned().collect()
}

fn check_secret_name(name: &str, p: &mut Vec<Problem>) {
    let field = "rule.secret_name";
    if !name.starts_with(SECRET_NAME_PREFIX) || name.len() == SECRET_NAME_PREFIX.len() {
        p.push(Problem::new(field, format!("{name:?} does not start with {SECRET_NAME_PREFIX:?}"), format!("ECR reads only secrets named {SECRET_NAME_PREFIX}..., e.g. \"{SECRET_NAME_PREFIX}gitlab\"")));
    } else if name.len() > 512 || !SECRET_NAME_RE.is_match(name) {
        p.push(Problem::new(
            field,
            format!("{name:?} breaks Secrets Manager's name rules"),
            "use at most 512 ASCII letters, digits and /_+=.@-",
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
fn toml_problem(text: &str, e: &toml::de::Error) -> Problem {
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

mod pull_access;
mod template;
#[cfg(test)]
mod tests;
