//! `[[upstreams]]`: every registry ECR can cache from, one entry each; and the single
//! `[upstream]`/`[rule]` form, which is one GitLab entry named `gitlab`.
//!
//! Which credential each upstream takes is [`KINDS`], one table: ECR's user guide ("Sync an
//! upstream registry with an Amazon ECR private registry") sorts the upstreams into those that
//! need no authentication (ECR Public, Kubernetes, Quay), those that need a Secrets Manager
//! secret (Docker Hub, GHCR, GitLab, Azure, Chainguard), and ECR, which ECR reads with an IAM
//! role (`customRoleArn`; the service model: "the IAM role to be assumed by Amazon ECR to
//! authenticate to the ECR upstream registry"). The model's `UpstreamRegistry` enum has the
//! nine values of the table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

use super::checks::{check_secret_name, check_tags};
use super::{model_rules, Problem, ENV_NAME_RE, GITLAB_REGISTRY, GITLAB_REGISTRY_URL};

/// What credential an upstream takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential {
    /// ECR documents no authentication. ptc-rollout refuses a credential there: our rule, not
    /// ECR's (AWS documents no refusal, and Terraform's examples set one on `ecr-public`), as a
    /// secret there would be a token to keep alive that no pull uses.
    None,
    /// ECR requires a Secrets Manager secret (`ecr-pullthroughcache/...`) with the upstream's
    /// username and access token.
    Secret,
    /// An IAM role in the target account that ECR assumes to read the upstream registry.
    Role,
}

/// One `upstreamRegistry` value of ECR's model.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Kind {
    pub(crate) registry: &'static str,
    /// The URL ECR documents for it; `None` where it is the user's (Azure, ECR).
    pub(crate) url: Option<&'static str>,
    pub(crate) credential: Credential,
    /// How people call it, for messages.
    pub(crate) label: &'static str,
}

/// Every upstream ECR's model knows, with the credential the user guide gives it.
pub(crate) static KINDS: [Kind; 9] = [
    kind(
        GITLAB_REGISTRY,
        Some(GITLAB_REGISTRY_URL),
        Credential::Secret,
        "GitLab Container Registry",
    ),
    kind(
        "docker-hub",
        Some("registry-1.docker.io"),
        Credential::Secret,
        "Docker Hub",
    ),
    kind(
        "github-container-registry",
        Some("ghcr.io"),
        Credential::Secret,
        "GitHub Container Registry",
    ),
    kind(
        "azure-container-registry",
        None,
        Credential::Secret,
        "Azure Container Registry",
    ),
    kind(
        "chainguard",
        // The model's doc names no URL for Chainguard; cgr.dev is the AWS CLI reference's example.
        Some("cgr.dev"),
        Credential::Secret,
        "Chainguard",
    ),
    kind("quay", Some("quay.io"), Credential::None, "Quay"),
    kind(
        "ecr-public",
        Some("public.ecr.aws"),
        Credential::None,
        "ECR Public",
    ),
    kind(
        "k8s",
        Some("registry.k8s.io"),
        Credential::None,
        "the Kubernetes registry",
    ),
    kind("ecr", None, Credential::Role, "a private ECR registry"),
];

const fn kind(
    registry: &'static str,
    url: Option<&'static str>,
    credential: Credential,
    label: &'static str,
) -> Kind {
    Kind {
        registry,
        url,
        credential,
        label,
    }
}

pub(crate) fn kind_of(registry: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.registry == registry)
}

/// An Azure registry's login server: its name is 5 to 50 letters and digits (Azure's rule),
/// lowercased in the host name.
static AZURE_URL_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]{5,50}\.azurecr\.io$").expect("valid regex"));
/// A private ECR registry's host, as ECR-to-ECR pull through cache names it.
/// (The registry host ECR's user guide gives, `aws_account_id.dkr.ecr.region.amazonaws.com`,
/// `.com.cn` in China.)
static ECR_URL_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9]{12})\.dkr\.ecr\.([a-z]{2}(?:-[a-z]+)+-[0-9])\.amazonaws\.com(?:\.cn)?$")
        .expect("valid regex")
});
static NAME_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9_-]{0,31}$").expect("valid regex"));

/// What ptc-rollout keeps to log in upstream: the secret and the token that goes in it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SecretSpec {
    pub(crate) username: String,
    pub(crate) token_env: String,
    /// `token_file`: read instead of the variable (`[[upstreams]]` only; the single form
    /// has `--token-file`).
    pub(crate) token_file: Option<PathBuf>,
    pub(crate) secret_name: String,
    /// Tags for the secret, besides ptc-rollout's own.
    pub(crate) tags: BTreeMap<String, String>,
}

/// One upstream of the rollout, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Upstream {
    pub(crate) name: String,
    /// Where it is in the file, for messages: `upstream` (the single form) or `upstreams[I]`.
    pub(crate) at: String,
    pub(crate) kind: &'static Kind,
    pub(crate) url: String,
    pub(crate) ecr_repository_prefix: String,
    /// ECR-to-ECR: the central registry's namespace cached under the prefix (`ROOT` by default).
    pub(crate) upstream_repository_prefix: Option<String>,
    pub(crate) secret: Option<SecretSpec>,
    /// ECR-to-ECR: the role in each target account that ECR assumes.
    pub(crate) custom_role_name: Option<String>,
    /// The token's expiry (`YYYY-MM-DD`), tagged on the secret.
    pub(crate) token_expires_on: Option<String>,
}

impl Upstream {
    /// The central registry's account and Region (ECR-to-ECR).
    pub(crate) fn central_registry(&self) -> Option<(&str, &str)> {
        // Asked for every target in every pass: only an ECR upstream's URL is parsed.
        if self.kind.credential != Credential::Role {
            return None;
        }
        let c = ECR_URL_RE.captures(&self.url)?;
        Some((c.get(1)?.as_str(), c.get(2)?.as_str()))
    }

    /// The custom role's ARN in an account (built per account and partition, as templates do).
    pub(crate) fn custom_role_arn(&self, partition: &str, account: &str) -> Option<String> {
        let name = self.custom_role_name.as_deref()?;
        Some(format!("arn:{partition}:iam::{account}:role/{name}"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEntry {
    name: String,
    registry: String,
    url: Option<String>,
    ecr_repository_prefix: String,
    upstream_repository_prefix: Option<String>,
    username: Option<String>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    secret_name: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    token_expires_on: Option<String>,
    custom_role_name: Option<String>,
}

/// Checks `[[upstreams]]`, every entry and what they must not share.
pub(super) fn check_entries(raw: Vec<RawEntry>, p: &mut Vec<Problem>) -> Vec<Upstream> {
    if raw.is_empty() {
        p.push(Problem::new(
            "upstreams",
            "is empty",
            "add at least one [[upstreams]] entry (see plans/org.toml)",
        ));
    }
    let entries: Vec<Upstream> = raw
        .into_iter()
        .enumerate()
        .map(|(i, e)| check_entry(&format!("upstreams[{i}]"), e, p))
        .collect();
    let mut names = BTreeSet::new();
    let mut prefixes = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    for (i, u) in entries.iter().enumerate() {
        if !names.insert(&u.name) {
            p.push(Problem::new(
                format!("upstreams[{i}].name"),
                format!("{:?} is used by an earlier entry", u.name),
                "give each upstream its own name",
            ));
        }
        if let Some(first) = prefixes.insert(&u.ecr_repository_prefix, i) {
            p.push(Problem::new(
                format!("upstreams[{i}].ecr_repository_prefix"),
                format!(
                    "{:?} is also upstreams[{first}]'s: ECR keeps one rule per prefix",
                    u.ecr_repository_prefix
                ),
                "give each upstream its own prefix",
            ));
        }
        if let Some(s) = &u.secret {
            if let Some(first) = secrets.insert(&s.secret_name, i) {
                p.push(Problem::new(
                    format!("upstreams[{i}].secret_name"),
                    format!(
                        "{:?} is also upstreams[{first}]'s: one would overwrite the other's token",
                        s.secret_name
                    ),
                    "give each upstream its own secret",
                ));
            }
        }
    }
    entries
}

fn check_entry(at: &str, e: RawEntry, p: &mut Vec<Problem>) -> Upstream {
    let field = |key: &str| format!("{at}.{key}");
    if !NAME_RE.is_match(&e.name) {
        p.push(Problem::new(
            field("name"),
            format!("{:?} is not an upstream name", e.name),
            "use 1 to 32 lowercase letters, digits, - and _, starting with a letter or digit, e.g. \"docker-hub\"",
        ));
    }
    let kind = kind_of(&e.registry).unwrap_or_else(|| {
        let known: Vec<_> = KINDS.iter().map(|k| k.registry).collect();
        p.push(Problem::new(
            field("registry"),
            format!("{:?} is not an upstream registry ECR knows", e.registry),
            format!("use one of {}", known.join(", ")),
        ));
        &KINDS[0]
    });
    let url = check_url(&field("url"), kind, e.url.clone(), p);
    check_prefix(&field("ecr_repository_prefix"), &e.ecr_repository_prefix, p);
    if let Some(prefix) = &e.upstream_repository_prefix {
        // The model documents upstreamRepositoryPrefix for ECR-to-ECR only; refusing it elsewhere
        // is our reading (the emulator's ptc.py says the same).
        if kind.credential != Credential::Role {
            p.push(Problem::new(
                field("upstream_repository_prefix"),
                format!(
                    "is set, but only an ECR upstream takes one, not {}",
                    kind.label
                ),
                "remove it",
            ));
        } else {
            check_prefix(&field("upstream_repository_prefix"), prefix, p);
        }
    }
    let secret = match kind.credential {
        Credential::Secret => Some(check_secret(at, &e, kind, p)),
        Credential::None | Credential::Role => {
            refuse_secret(at, &e, kind, p);
            None
        }
    };
    let custom_role_name = match (&e.custom_role_name, kind.credential) {
        // ECR's ECR-to-ECR guide (pull-through-cache-private.html) needs the role across
        // accounts; whether a same-account central registry (its other Regions) needs one is
        // unconfirmed, so ptc-rollout asks for it always: our rule.
        (None, Credential::Role) => {
            p.push(Problem::new(field("custom_role_name"), "is missing: ECR reads another account's registry only with a role of the target account", "name the role each target account has for ECR (`ptc-rollout iam-policy` prints its policies), e.g. \"ecr-pull-through-cache\""));
            None
        }
        (Some(name), Credential::Role) => {
            if !model_rules::is_role_name(name) {
                p.push(Problem::new(
                    field("custom_role_name"),
                    format!("{name:?} is not an IAM role name"),
                    "use 1 to 64 letters, digits or +=,.@_- (the role's name, not its ARN)",
                ));
            }
            Some(name.clone())
        }
        (Some(_), _) => {
            p.push(Problem::new(
                field("custom_role_name"),
                format!("is set, but {} is not read with a role", kind.label),
                "remove it: only an ECR upstream takes custom_role_name",
            ));
            None
        }
        (None, _) => None,
    };
    if let Some(date) = &e.token_expires_on {
        super::template::check_expiry_at(&field("token_expires_on"), date, p);
    }
    Upstream {
        name: e.name,
        at: at.to_owned(),
        kind,
        url,
        ecr_repository_prefix: e.ecr_repository_prefix,
        upstream_repository_prefix: e.upstream_repository_prefix,
        secret,
        custom_role_name,
        token_expires_on: e.token_expires_on,
    }
}

fn check_prefix(field: &str, prefix: &str, p: &mut Vec<Problem>) {
    if !model_rules::is_ecr_prefix(prefix) {
        p.push(Problem::new(
            field,
            format!("{prefix:?} is not a valid ECR repository prefix"),
            "use 2 to 30 lowercase letters, digits and . _ - / (starting and ending with a letter or digit), e.g. \"docker-hub\"",
        ));
    }
}

/// The URL ECR documents for the upstream; given, it must be that one. Azure's and ECR's are
/// the user's own, in the form ECR's user guide gives.
fn check_url(field: &str, kind: &Kind, url: Option<String>, p: &mut Vec<Problem>) -> String {
    match (kind.url, url) {
        (Some(fixed), None) => fixed.to_owned(),
        (Some(fixed), Some(url)) => {
            if url != fixed {
                p.push(Problem::new(
                    field,
                    format!("{url:?} is not {}'s URL", kind.label),
                    format!("remove the key (ECR takes {fixed:?} for {})", kind.registry),
                ));
            }
            url
        }
        (None, None) => {
            let example = if kind.credential == Credential::Role {
                "\"111111111111.dkr.ecr.us-east-1.amazonaws.com\""
            } else {
                "\"myregistry.azurecr.io\""
            };
            p.push(Problem::new(
                field,
                format!("is missing: {} has no default URL", kind.label),
                format!("set the registry's host, e.g. {example}"),
            ));
            String::new()
        }
        (None, Some(url)) => {
            let (ok, form) = if kind.credential == Credential::Role {
                (
                    ECR_URL_RE.is_match(&url),
                    "ACCOUNT.dkr.ecr.REGION.amazonaws.com",
                )
            } else {
                (
                    AZURE_URL_RE.is_match(&url),
                    "NAME.azurecr.io (NAME: 5 to 50 lowercase letters and digits)",
                )
            };
            if !ok {
                p.push(Problem::new(
                    field,
                    format!("{url:?} is not a host of {}", kind.label),
                    format!("use {form}, without https:// or a path"),
                ));
            }
            url
        }
    }
}

fn check_secret(at: &str, e: &RawEntry, kind: &Kind, p: &mut Vec<Problem>) -> SecretSpec {
    let field = |key: &str| format!("{at}.{key}");
    let username = e.username.clone().unwrap_or_default();
    if username.trim().is_empty() {
        p.push(Problem::new(
            field("username"),
            format!(
                "is missing: ECR logs in to {} with a username and a token",
                kind.label
            ),
            "set the user the token belongs to",
        ));
    } else if username.len() > 255 || username.chars().any(char::is_control) {
        p.push(Problem::new(
            field("username"),
            "is too long or holds control characters",
            "set the user the token belongs to",
        ));
    }
    let token_env = e.token_env.clone().unwrap_or_default();
    match (&e.token_env, &e.token_file) {
        (None, None) => p.push(Problem::new(field("token_env"), format!("is missing: ECR logs in to {} with a token", kind.label), "set token_env to the NAME of the variable holding the token, or token_file to a file holding it")),
        (Some(_), Some(_)) => p.push(Problem::new(field("token_file"), "is set together with token_env", "keep one of them")),
        _ => {}
    }
    if e.token_env.is_some()
        && (!ENV_NAME_RE.is_match(&token_env) || super::looks_like_a_token(&token_env))
    {
        // Never echo the value: a user may have pasted the token itself here.
        p.push(Problem::new(field("token_env"), "is not an environment variable name", "set the NAME of the variable that holds the token (letters, digits, _), never the token itself"));
    }
    let secret_name = e.secret_name.clone().unwrap_or_default();
    if e.secret_name.is_none() {
        p.push(Problem::new(
            field("secret_name"),
            "is missing",
            format!(
                "name the secret ECR reads the token from, e.g. \"ecr-pullthroughcache/{}\"",
                e.name
            ),
        ));
    } else {
        check_secret_name(&field("secret_name"), &secret_name, p);
    }
    check_tags(&field("tags"), &e.tags, p);
    SecretSpec {
        username,
        token_env,
        token_file: e.token_file.clone(),
        secret_name,
        tags: e.tags.clone(),
    }
}

/// A credential on an upstream that takes none (or takes a role) is refused, key by key.
fn refuse_secret(at: &str, e: &RawEntry, kind: &Kind, p: &mut Vec<Problem>) {
    let why = match kind.credential {
        Credential::Role => format!("{} is read with custom_role_name, not a secret", kind.label),
        _ => format!("ECR's user guide lists {} as needing no authentication, and ptc-rollout keeps no secret for it (its rule: a token no pull uses would still need rotating)", kind.label),
    };
    let set = [
        ("username", e.username.is_some()),
        ("token_env", e.token_env.is_some()),
        ("token_file", e.token_file.is_some()),
        ("secret_name", e.secret_name.is_some()),
        ("tags", !e.tags.is_empty()),
        ("token_expires_on", e.token_expires_on.is_some()),
    ];
    for (key, _) in set.iter().filter(|(_, set)| *set) {
        p.push(Problem::new(
            format!("{at}.{key}"),
            format!("is set, but {why}"),
            "remove it",
        ));
    }
}

#[cfg(test)]
mod tests;
