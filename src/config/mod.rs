//! The rollout file: what to roll out where. Parsing is strict (unknown keys are errors) and every
//! value is checked against the AWS rules it will meet, so that bad input is refused with the field
//! and the fix before any AWS call is made.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

use crate::data::tuning::Tuning;
use checks::{
    check_accounts, check_rule, check_targets, check_tuning, check_upstream, toml_problem,
};
use gitlab::RawGitlab;
pub(crate) use gitlab::{role_name, GitlabSide, TokenRole, REPORTER};
pub(crate) use pull_access::PullAccess;
use pull_access::RawPullAccess;
use template::RawTemplate;
pub(crate) use template::{parse_date, RepositoryTemplate};
pub(crate) use upstreams::{SecretSpec, Upstream};
use waves::RawWave;
pub(crate) use waves::Wave;

/// GitLab's `upstreamRegistry`, the single `[upstream]` form's.
pub(crate) const GITLAB_REGISTRY: &str = "gitlab-container-registry";
/// The upstream URL ECR requires for [`GITLAB_REGISTRY`] (GitLab.com SaaS only).
pub(crate) const GITLAB_REGISTRY_URL: &str = "registry.gitlab.com";
/// ECR reads pull through cache credentials only from secrets named under this prefix.
pub(crate) const SECRET_NAME_PREFIX: &str = "ecr-pullthroughcache/";
/// Tag that marks a secret as created by this tool; the tool never overwrites a secret without it.
pub(crate) const MANAGED_TAG_KEY: &str = "managed-by";
/// Tag holding the token's expiry date (`upstream.token_expires_on`) on each secret.
pub(crate) const EXPIRY_TAG_KEY: &str = "token-expires-on";
/// Value of [`MANAGED_TAG_KEY`].
pub(crate) const MANAGED_TAG_VALUE: &str = "ptc-rollout";

static PREFIX_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*/?|ROOT)$")
        .expect("valid regex")
});
static SECRET_NAME_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9/_+=.@-]+$").expect("valid regex"));
static SUFFIX_LIKE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"-[A-Za-z0-9]{6}$").expect("valid regex"));
// ASCII digits, as Organizations' `^\d{12}$` means them (Java's `\d`; the regex crate's is Unicode).
static ACCOUNT_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]{12}$").expect("valid regex"));
static OU_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$").expect("valid regex")
});
// ASCII only: IAM refuses the other letters that `\w` would take.
static ROLE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_+=,.@-]{1,64}$").expect("valid regex"));
/// STS's pattern for an external ID (`[\w+=,.@:/-]`, ASCII word characters); the 2 to 1224
/// length is checked apart: a counted repetition of 1224 would not fit the regex size limit.
static EXTERNAL_ID_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_+=,.@:/-]+$").expect("valid regex"));
static ENV_NAME_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").expect("valid regex"));

/// Whether a "variable name" is rather a pasted token (GitLab's, GitHub's, Docker Hub's
/// prefixes): refused without being echoed.
pub(crate) fn looks_like_a_token(name: &str) -> bool {
    const PREFIXES: [&str; 8] = [
        "glpat",
        "gldt",
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "github_pat_",
        "dckr_pat_",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether `name` is a name IAM accepts for a role.
pub(crate) fn is_role_name(name: &str) -> bool {
    model_rules::is_role_name(name)
}

/// A validated rollout file.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    pub regions: Vec<String>,
    pub role_name: String,
    /// Allow-list; `None` means every account of the Organization.
    pub(crate) accounts: Option<BTreeSet<String>>,
    pub(crate) exclude_accounts: BTreeSet<String>,
    /// OU (or root) ids whose whole subtrees are targeted; empty means no OU filter.
    pub(crate) organizational_units: Vec<String>,
    pub(crate) external_id: Option<String>,
    pub(crate) session_duration_seconds: i32,
    /// The upstream this rollout is for: the first of [`Self::upstreams`] as loaded; each of
    /// them in a view ([`Self::views`]), which is what a target's work sees.
    pub(crate) upstream: Upstream,
    /// Every upstream of the file, in its order (the single `[upstream]` form: one, `gitlab`).
    pub(crate) upstreams: Vec<Upstream>,
    /// The file's first upstream: its targets' work owns ptc-rollout's registry policy
    /// statement, which covers every upstream's prefix (kept when `--upstream` narrows).
    policy_owner: String,
    /// `--upstream` narrowed the run to one of the file's several upstreams.
    narrowed: bool,
    /// SDK retry and timeout settings (`[tuning]`, optional).
    pub(crate) tuning: Tuning,
    /// `[repository_template]`, optional.
    pub(crate) repository_template: Option<RepositoryTemplate>,
    /// `[pull_access]`, optional: principals granted first pulls in the registry policy.
    pub(crate) pull_access: Option<PullAccess>,
    /// `[gitlab]`, optional: the group whose tokens the `token` commands manage.
    pub(crate) gitlab: Option<GitlabSide>,
    /// `[[waves]]`, optional: the order `apply` and `rotate` go through the targets in.
    pub(crate) waves: Vec<Wave>,
}

/// One thing wrong with the input, with the field it is in and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub(crate) field: String,
    pub(crate) message: String,
    pub(crate) fix: String,
}

impl Problem {
    pub(crate) fn new(
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
    upstream: Option<RawUpstream>,
    rule: Option<RawRule>,
    upstreams: Option<Vec<upstreams::RawEntry>>,
    #[serde(default)]
    tuning: RawTuning,
    repository_template: Option<RawTemplate>,
    pull_access: Option<RawPullAccess>,
    gitlab: Option<RawGitlab>,
    #[serde(default)]
    waves: Vec<RawWave>,
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
    pub(crate) fn load(path: &Path) -> Result<Self, RolloutError> {
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
        let rollout = Self::from_raw(raw, &mut p);
        if p.is_empty() {
            Ok(rollout)
        } else {
            Err(p)
        }
    }

    /// Checks the tables in file order, so that problems read as the file does, and builds the
    /// value, which is only meaningful if no problem was found.
    fn from_raw(raw: RawFile, p: &mut Vec<Problem>) -> Self {
        let t = raw.targets;
        let checked = check_targets(&t, p);
        let all = match (raw.upstream, raw.rule, raw.upstreams) {
            (None, None, Some(entries)) => upstreams::check_entries(entries, p),
            (Some(u), Some(r), None) => vec![single_form(u, r, p)],
            (u, _, entries) => {
                let (field, fix) = if entries.is_some() {
                    ("upstreams", "keep [[upstreams]] and move [upstream] and [rule] into an entry of it (see plans/org.toml)")
                } else if u.is_none() {
                    (
                        "upstream",
                        "add [upstream] (or list [[upstreams]], see plans/org.toml)",
                    )
                } else {
                    (
                        "rule",
                        "add [rule] (or list [[upstreams]], see plans/org.toml)",
                    )
                };
                p.push(Problem::new(
                    field,
                    "the file needs either [upstream] with [rule] (one GitLab upstream) or [[upstreams]], not a mix",
                    fix,
                ));
                Vec::new()
            }
        };
        let tuning = check_tuning(&raw.tuning, p);
        let repository_template = raw
            .repository_template
            .map(|t| template::check_template(t, checked.accounts.as_ref(), p));
        let pull_access = raw.pull_access.map(|a| {
            let mut access = pull_access::check_pull_access(a, &t.regions, p);
            access.prefixes = all
                .iter()
                .map(|u| u.ecr_repository_prefix.clone())
                .collect();
            access
        });
        let mut gitlab = raw.gitlab.map(|g| gitlab::check_gitlab(g, p));
        if let Some(g) = &mut gitlab {
            check_gitlab_upstream(g, &all, p);
        }
        let waves = waves::check_waves(raw.waves, &t, checked.accounts.as_ref(), p);
        let upstream = all.first().cloned().unwrap_or_else(placeholder);
        Rollout {
            regions: t.regions,
            role_name: t.role_name,
            accounts: checked.accounts,
            exclude_accounts: checked.exclude_accounts,
            organizational_units: t.organizational_units,
            external_id: t.external_id,
            session_duration_seconds: checked.session_duration_seconds,
            // Not an ECR upstream, whose target in the central registry itself is skipped.
            policy_owner: all
                .iter()
                .find(|u| u.custom_role_name.is_none())
                .unwrap_or(&upstream)
                .name
                .clone(),
            narrowed: false,
            upstream,
            upstreams: all,
            tuning,
            repository_template,
            pull_access,
            gitlab,
            waves,
        }
    }

    /// Narrows the matrix for one run (`--regions`, `--accounts`). A narrowing flag may only
    /// select from what the file allows, so a typo cannot widen a rollout.
    pub(crate) fn narrow(
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

/// The single form as one GitLab entry named `gitlab`, its problems named as that form's keys.
fn single_form(u: RawUpstream, r: RawRule, p: &mut Vec<Problem>) -> Upstream {
    check_upstream(&u, p);
    check_rule(&r, p);
    if let Some(date) = &u.token_expires_on {
        template::check_expiry(date, p);
    }
    Upstream {
        name: "gitlab".to_owned(),
        at: "upstream".to_owned(),
        kind: upstreams::kind_of(GITLAB_REGISTRY).expect("in the table"),
        url: GITLAB_REGISTRY_URL.to_owned(),
        ecr_repository_prefix: r.ecr_repository_prefix,
        upstream_repository_prefix: None,
        secret: Some(SecretSpec {
            username: u.username,
            token_env: u.token_env,
            token_file: None,
            secret_name: r.secret_name,
            tags: r.tags,
        }),
        custom_role_name: None,
        token_expires_on: u.token_expires_on,
    }
}

/// `[gitlab]` manages one GitLab entry's token: the one `gitlab.upstream` names, or the only one.
fn check_gitlab_upstream(g: &mut GitlabSide, all: &[Upstream], p: &mut Vec<Problem>) {
    let gitlab: Vec<&Upstream> = all
        .iter()
        .filter(|u| u.kind.registry == GITLAB_REGISTRY)
        .collect();
    let chosen = match (&g.upstream, gitlab.as_slice()) {
        (Some(name), _) => match gitlab.iter().find(|u| &u.name == name) {
            Some(u) => Some(*u),
            None => {
                p.push(Problem::new("gitlab.upstream", format!("{name:?} is not a GitLab entry of [[upstreams]]"), "name the [[upstreams]] entry with registry = \"gitlab-container-registry\" whose token [gitlab] manages"));
                None
            }
        },
        (None, [only]) => Some(*only),
        (None, []) => {
            if !all.is_empty() {
                p.push(Problem::new(
                    "gitlab",
                    "is set, but no upstream is GitLab's registry",
                    "remove [gitlab], or add a gitlab-container-registry entry to [[upstreams]]",
                ));
            }
            None
        }
        (None, _) => {
            p.push(Problem::new(
                "gitlab.upstream",
                "is missing, and there are several GitLab entries",
                "name the [[upstreams]] entry whose token [gitlab] manages",
            ));
            None
        }
    };
    if let Some(u) = chosen {
        if u.token_expires_on.is_some() {
            p.push(Problem::new(
                format!("{}.token_expires_on", u.at),
                "is set together with [gitlab], which reads the token's expiry from GitLab",
                "remove it: the date can then not be typed wrong",
            ));
        }
        g.upstream = Some(u.name.clone());
    }
}

/// Stands in for the first upstream of a file whose upstreams were refused (never used: the
/// file's problems are reported instead).
fn placeholder() -> Upstream {
    Upstream {
        name: String::new(),
        at: String::new(),
        kind: &upstreams::KINDS[0],
        url: String::new(),
        ecr_repository_prefix: String::new(),
        upstream_repository_prefix: None,
        secret: None,
        custom_role_name: None,
        token_expires_on: None,
    }
}

mod checks;
mod gitlab;
pub(crate) mod image_ref;
pub mod model_rules;
mod pull_access;
pub(crate) mod secrets;
mod template;
#[cfg(test)]
pub(crate) mod test_rollouts;
#[cfg(test)]
mod tests;
pub(crate) mod upstreams;
mod views;
mod waves;
