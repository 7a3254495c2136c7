//! ECR pull through cache rules (awsJson 1.1): Describe, Create, Update, Delete and Validate,
//! with the 50-rule cap, the secret checks ECR makes at create time, and validation that reads
//! the secret as ECR's login to the upstream would.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;

use serde::Deserialize;

use super::model::Api;
use super::state::{push_exact, split_secret_arn, Cred, Ctx, Interner, Rule, State, Target};
use super::templates;
use super::validation::{login, secret_problem};
use super::wire::{Json, Reply};

/// ECR's quota of rules per registry per Region (not adjustable).
pub(crate) const MAX_RULES: usize = 50;

/// Upstreams with one fixed URL.
const FIXED_URLS: &[(&str, &str)] = &[
    ("ecr-public", "public.ecr.aws"),
    ("quay", "quay.io"),
    ("k8s", "registry.k8s.io"),
    ("docker-hub", "registry-1.docker.io"),
    ("github-container-registry", "ghcr.io"),
    ("gitlab-container-registry", "registry.gitlab.com"),
    ("chainguard", "cgr.dev"),
];
/// What each upstream does with a Secrets Manager credential (the emulator's table, ptc.py
/// CREDENTIAL_RULE): required (ECR's user guide lists them), optional (no authentication
/// documented: accepted, never used), refused (the ECR upstream authenticates with
/// customRoleArn: our reading of the model's doc).
#[derive(Clone, Copy, PartialEq)]
enum CredRule {
    Required,
    Optional,
    Refused,
}

fn cred_rule(registry: &str) -> CredRule {
    match registry {
        "docker-hub"
        | "github-container-registry"
        | "gitlab-container-registry"
        | "azure-container-registry"
        | "chainguard" => CredRule::Required,
        "ecr" => CredRule::Refused,
        _ => CredRule::Optional,
    }
}

/// `ACCOUNT.dkr.ecr.REGION.amazonaws.com`: an ECR upstream.
fn is_ecr_url(url: &str) -> bool {
    let parts: Vec<&str> = url.split('.').collect();
    matches!(parts.as_slice(), [acct, "dkr", "ecr", region, "amazonaws", "com"]
        if acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit())
            && !region.is_empty()
            && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
}

/// `NAME.azurecr.io`: an Azure Container Registry login server.
fn is_azure_url(url: &str) -> bool {
    url.strip_suffix(".azurecr.io").is_some_and(|name| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// The credential rule of `registry` for a rule (or an update) carrying `credential` and
/// `role`: a secret where required/refused, customRoleArn on the ECR upstream only and in the
/// registry's own account (the model's doc; the refusals' wording is ours).
fn check_credentials(
    ctx: &Ctx,
    registry: &str,
    credential: bool,
    role: Option<&str>,
) -> Result<(), Reply> {
    match cred_rule(registry) {
        CredRule::Required if !credential => {
            return Err(Reply::json_error(
                400,
                "UnsupportedUpstreamRegistryException",
                CREDENTIAL_REQUIRED_MESSAGE.to_owned(),
            ))
        }
        CredRule::Refused if credential => {
            return Err(invalid("Invalid parameter at 'credentialArn': the ECR upstream registry authenticates with an IAM role (customRoleArn), not a secret"));
        }
        _ => {}
    }
    if let Some(role) = role {
        if registry != "ecr" {
            return Err(invalid(format!("Invalid parameter at 'customRoleArn': a custom role is used only with the ECR upstream registry, not '{registry}'")));
        }
        let parts: Vec<&str> = role.splitn(6, ':').collect();
        let same_account = matches!(parts.as_slice(), ["arn", p, "iam", "", acct, rest]
            if p.starts_with("aws") && rest.starts_with("role/") && acct.len() == 12
                && acct.parse::<u64>().ok() == Some(ctx.account_id));
        if !same_account {
            return Err(invalid(format!("Invalid parameter at 'customRoleArn': the role must be an IAM role of the account of the registry being configured ({:012})", ctx.account_id)));
        }
    }
    Ok(())
}
/// ECR's answer to a rule without the credential its upstream requires, as a user saw it
/// (aws-controllers-k8s/community#2589; not documented): the emulator's words, cut where that
/// report was.
const CREDENTIAL_REQUIRED_MESSAGE: &str =
    "The specified upstream registry requires authentication. Specify a valid Secrets Manager ARN.";

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct In<'a> {
    #[serde(borrow)]
    registry_id: Cow<'a, str>,
    #[serde(borrow)]
    ecr_repository_prefix: Cow<'a, str>,
    ecr_repository_prefixes: Vec<String>,
    #[serde(borrow)]
    upstream_registry_url: Cow<'a, str>,
    #[serde(borrow)]
    upstream_registry: Cow<'a, str>,
    #[serde(borrow)]
    credential_arn: Option<Cow<'a, str>>,
    #[serde(borrow)]
    custom_role_arn: Option<Cow<'a, str>>,
    #[serde(borrow)]
    next_token: Cow<'a, str>,
    max_results: Option<i64>,
}

fn not_found(prefix: &str, ctx: &Ctx) -> Reply {
    Reply::json_error(
        400,
        "PullThroughCacheRuleNotFoundException",
        format!(
            "The pull through cache rule with prefix '{prefix}' does not exist in the registry with id '{:012}'",
            ctx.account_id
        ),
    )
}

fn invalid(message: impl std::fmt::Display) -> Reply {
    Reply::json_error(400, "InvalidParameterException", message)
}

/// The credential a rule stores: the secret of this target the ARN names (its form already
/// checked against the model by `model_check.rs`), or the error ECR answers when it cannot use it: no such secret
/// in the rule's account and Region, a secret scheduled for deletion, or one under a customer
/// managed key (ECR decrypts only secrets under the default `aws/secretsmanager` key).
fn credential(t: &Target, ctx: &Ctx, arn: &str) -> Result<Cred, Reply> {
    let found = match split_secret_arn(ctx, arn) {
        Some((name, Some(suffix))) => t
            .secrets
            .iter()
            .find(|s| &*s.name == name && s.suffix == suffix),
        _ => None,
    };
    match (found, secret_problem(found)) {
        (Some(s), None) => Ok(Cred {
            name: s.name.clone(),
            suffix: s.suffix,
        }),
        (_, problem) => {
            let (code, reason) = problem.unwrap_or_default();
            let doc = match code {
                "UnableToAccessSecretException" => "The secret is unable to be accessed. Verify the resource permissions for the secret and try again.",
                "UnableToDecryptSecretValueException" => "The secret is accessible but is unable to be decrypted. Verify the resource permissions and try again.",
                _ => "The ARN of the secret specified in the pull through cache rule was not found",
            };
            Err(Reply::json_error(
                400,
                code,
                format!("{doc} ({arn}: {reason})"),
            ))
        }
    }
}

/// Which optional fields a rule's JSON carries.
#[derive(Clone, Copy)]
struct Fields {
    upstream: bool,
    created: bool,
    updated: bool,
}

const ALL: Fields = Fields {
    upstream: true,
    created: true,
    updated: true,
};

/// The rule's fields, without the surrounding braces.
fn rule_fields(out: &mut String, ctx: &Ctx, r: &Rule, f: Fields) {
    let _ = write!(
        out,
        r#""ecrRepositoryPrefix":"{}","registryId":"{:012}""#,
        Json(&r.prefix),
        ctx.account_id
    );
    if f.upstream {
        let _ = write!(out, r#","upstreamRegistryUrl":"{}""#, Json(&r.url));
        if let Some(reg) = &r.registry {
            let _ = write!(out, r#","upstreamRegistry":"{}""#, Json(reg));
        }
    }
    if let Some(c) = &r.cred {
        let _ = write!(out, r#","credentialArn":"{}""#, Json(&c.arn(ctx)));
    }
    if f.created {
        let _ = write!(out, r#","createdAt":{}"#, r.created);
    }
    if f.updated {
        let _ = write!(out, r#","updatedAt":{}"#, r.updated);
    }
}

pub(crate) fn handle(
    st: &mut State,
    ctx: &Ctx,
    api: Api,
    body: &[u8],
    valid_tokens: Option<&HashSet<String>>,
) -> Reply {
    if matches!(
        api,
        Api::CreateRepositoryCreationTemplate
            | Api::UpdateRepositoryCreationTemplate
            | Api::DescribeRepositoryCreationTemplates
            | Api::DeleteRepositoryCreationTemplate
    ) {
        return templates::handle(st, ctx, api, body);
    }
    let input: In = match serde_json::from_slice(body) {
        Ok(i) => i,
        Err(e) => return Reply::json_error(400, "SerializationException", e),
    };
    if !input.registry_id.is_empty()
        && input.registry_id.parse::<u64>().ok() != Some(ctx.account_id)
    {
        return invalid(format!(
            "Invalid parameter at 'registryId': registry '{}' is not the caller's registry",
            input.registry_id
        ));
    }
    let State {
        targets, interner, ..
    } = st;
    let t = targets.entry((ctx.account, ctx.region)).or_default();
    t.purge(ctx.now());
    let prefix = &*input.ecr_repository_prefix;
    match api {
        Api::DescribePullThroughCacheRules => describe(t, ctx, &input),
        Api::CreatePullThroughCacheRule => create(t, interner, ctx, &input),
        Api::UpdatePullThroughCacheRule => {
            let arn = input.credential_arn.as_deref();
            if arn.is_none() && input.custom_role_arn.is_none() {
                return invalid("Invalid input: Please set either credential arn or role arn to update the credentials");
            }
            let Some(i) = t.rule_index(prefix) else {
                return not_found(prefix, ctx);
            };
            let registry = t.rules[i].registry.clone().unwrap_or_default();
            let has_cred = arn.is_some() || t.rules[i].cred.is_some();
            if let Err(r) =
                check_credentials(ctx, &registry, has_cred, input.custom_role_arn.as_deref())
            {
                return r;
            }
            if let Some(arn) = arn {
                match credential(t, ctx, arn) {
                    Ok(c) => t.rules[i].cred = Some(c),
                    Err(r) => return r,
                }
            }
            let r = &mut t.rules[i];
            r.updated = ctx.now();
            let mut out = String::from("{");
            let f = Fields {
                upstream: false,
                created: false,
                updated: true,
            };
            rule_fields(&mut out, ctx, r, f);
            out.push('}');
            Reply::ok(out)
        }
        Api::DeletePullThroughCacheRule => {
            let Some(i) = t.rule_index(prefix) else {
                return not_found(prefix, ctx);
            };
            let r = t.rules.remove(i);
            let mut out = String::from("{");
            let f = Fields {
                updated: false,
                ..ALL
            };
            rule_fields(&mut out, ctx, &r, f);
            out.push('}');
            Reply::ok(out)
        }
        Api::ValidatePullThroughCacheRule => {
            let Some(r) = t.rules.iter().find(|r| &*r.prefix == prefix) else {
                return not_found(prefix, ctx);
            };
            // Only a required credential is used: the sim models no roles (the ECR upstream
            // is valid once its credential rule was met at create time).
            let (valid, failure) = match cred_rule(r.registry.as_deref().unwrap_or_default()) {
                CredRule::Required => login(t, ctx, r, valid_tokens),
                _ => (true, None),
            };
            let mut out = String::from("{");
            let f = Fields {
                upstream: true,
                created: false,
                updated: false,
            };
            rule_fields(&mut out, ctx, r, f);
            let _ = write!(out, r#","isValid":{valid}"#);
            if let Some(msg) = failure {
                let _ = write!(out, r#","failure":"{}""#, Json(&msg));
            }
            out.push('}');
            Reply::ok(out)
        }
        _ => Reply::json_error(400, "UnknownOperationException", api.name()),
    }
}

fn describe(t: &Target, ctx: &Ctx, input: &In) -> Reply {
    let mut chosen: Vec<&Rule> = Vec::with_capacity(t.rules.len());
    if input.ecr_repository_prefixes.is_empty() {
        chosen.extend(&t.rules);
    } else {
        for p in &input.ecr_repository_prefixes {
            match t.rules.iter().find(|r| &*r.prefix == p) {
                Some(r) if !chosen.iter().any(|c| std::ptr::eq(*c, r)) => chosen.push(r),
                Some(_) => {}
                None => return not_found(p, ctx),
            }
        }
    }
    let size = input.max_results.unwrap_or(100).clamp(1, 1000) as usize;
    let start = match input.next_token.as_ref() {
        "" => 0,
        tok => match tok.parse::<usize>() {
            Ok(n) if n <= chosen.len() => n,
            _ => return invalid("Invalid parameter at 'nextToken': invalid token"),
        },
    };
    let end = (start + size).min(chosen.len());
    let mut out = String::with_capacity(64 + 300 * (end - start));
    out.push_str(r#"{"pullThroughCacheRules":["#);
    for (n, r) in chosen[start..end].iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push('{');
        rule_fields(&mut out, ctx, r, ALL);
        out.push('}');
    }
    out.push(']');
    if end < chosen.len() {
        let _ = write!(out, r#","nextToken":"{end}""#);
    }
    out.push('}');
    Reply::ok(out)
}

fn create(t: &mut Target, interner: &mut Interner, ctx: &Ctx, input: &In) -> Reply {
    // The model's constraints (the prefix's pattern and length, the credential ARN's) were
    // checked before, by model_check.rs; an empty URL meets the model.
    let prefix = &*input.ecr_repository_prefix;
    let url = &*input.upstream_registry_url;
    if url.is_empty() {
        return invalid("upstreamRegistryUrl must be specified");
    }
    let registry = match &*input.upstream_registry {
        "" => FIXED_URLS
            .iter()
            .find(|(_, u)| *u == url)
            .map(|(r, _)| *r)
            .or_else(|| is_azure_url(url).then_some("azure-container-registry"))
            .or_else(|| is_ecr_url(url).then_some("ecr")),
        r => Some(r),
    };
    let expected = registry.and_then(|r| FIXED_URLS.iter().find(|(n, _)| *n == r));
    let wrong = expected.is_some_and(|(_, u)| *u != url)
        || (registry == Some("azure-container-registry") && !is_azure_url(url))
        || (registry == Some("ecr") && !is_ecr_url(url));
    if registry.is_none() || wrong {
        return Reply::json_error(
            400,
            "UnsupportedUpstreamRegistryException",
            format!("The upstream registry URL '{url}' is not supported"),
        );
    }
    let registry = registry.unwrap_or_default();
    let arn = input.credential_arn.as_deref();
    if let Err(r) = check_credentials(
        ctx,
        registry,
        arn.is_some(),
        input.custom_role_arn.as_deref(),
    ) {
        return r;
    }
    let cred = match arn {
        None => None,
        Some(arn) => match credential(t, ctx, arn) {
            Ok(c) => Some(c),
            Err(r) => return r,
        },
    };
    if t.rule_index(prefix).is_some() {
        return Reply::json_error(
            400,
            "PullThroughCacheRuleAlreadyExistsException",
            format!(
                "A pull through cache rule with prefix '{prefix}' already exists in the registry with id '{:012}'",
                ctx.account_id
            ),
        );
    }
    if t.rules.len() >= MAX_RULES {
        return Reply::json_error(
            400,
            "LimitExceededException",
            format!("The operation did not succeed because it would have exceeded a service limit for your account: at most {MAX_RULES} pull through cache rules per registry per Region"),
        );
    }
    let rule = Rule {
        prefix: interner.str(prefix),
        url: interner.str(url),
        registry: Some(interner.str(registry)),
        cred,
        created: ctx.now(),
        updated: ctx.now(),
    };
    let mut out = String::from("{");
    let f = Fields {
        updated: false,
        ..ALL
    };
    rule_fields(&mut out, ctx, &rule, f);
    out.push('}');
    push_exact(&mut t.rules, rule);
    Reply::ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_and_credential_rules() {
        assert!(is_ecr_url("210987654321.dkr.ecr.eu-west-1.amazonaws.com"));
        assert!(!is_ecr_url("2109876543.dkr.ecr.eu-west-1.amazonaws.com"));
        assert!(!is_ecr_url("ecr.example.com"));
        assert!(is_azure_url("demo.azurecr.io"));
        assert!(!is_azure_url(".azurecr.io") && !is_azure_url("Demo.azurecr.io"));
        assert!(cred_rule("chainguard") == CredRule::Required);
        assert!(cred_rule("quay") == CredRule::Optional);
        assert!(cred_rule("ecr") == CredRule::Refused);
    }
}
