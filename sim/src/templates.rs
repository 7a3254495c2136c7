//! ECR repository creation templates (awsJson 1.1): Create, Update, Describe and Delete, with
//! emulator/templates.py's semantics, so both test doubles answer alike
//! (tests/e2e/conformance.rs).
//! The model's constraints (lengths, patterns, enums, the 1 to 5 exclusion filters) are checked
//! before, by `model_check.rs`; here are ECR's own rules:
//! - Create defaults imageTagMutability to MUTABLE and encryption to AES256; a prefix that has a
//!   template is TemplateAlreadyExistsException.
//! - Update changes only the members given: one left out keeps the stored value, and an empty
//!   string clears description, repositoryPolicy, lifecyclePolicy and customRoleArn. Going back
//!   to MUTABLE or IMMUTABLE drops the exclusion filters (as the emulator does: an assumption, ECR's
//!   docs do not say). A prefix without a template is
//!   TemplateNotFoundException (also for Delete).
//! - Describe with `prefixes` shows the templates that exist; an unknown prefix is simply absent.
//! - InvalidParameterException: a prefix of one character, an empty appliedFor, a policy that is
//!   not a JSON object (a lifecycle policy without `rules`), exclusion filters without a
//!   *_WITH_EXCLUSION mutability or such a mutability without them, a KMS key with AES256, tags
//!   out of bounds or repeated, a customRoleArn that is not a role of the registry's account.

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::model::Api;
use super::model_check::check_str;
use super::model_table::ECR_PREFIX;
use super::state::{Ctx, State};
use super::wire::Reply;

/// Members whose empty string means "none".
const CLEARABLE: &[&str] = &[
    "description",
    "repositoryPolicy",
    "lifecyclePolicy",
    "customRoleArn",
];
/// The request members a template keeps (besides prefix and appliedFor).
const REQUEST_FIELDS: &[&str] = &[
    "description",
    "encryptionConfiguration",
    "resourceTags",
    "imageTagMutability",
    "imageTagMutabilityExclusionFilters",
    "repositoryPolicy",
    "lifecyclePolicy",
    "customRoleArn",
];

static ROLE_ARN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$").expect("pattern")
});

/// One template: its members as the requests gave them (defaults filled in at create).
#[derive(Clone)]
pub(crate) struct Template {
    prefix: String,
    fields: Map<String, Value>,
    created: u32,
    updated: u32,
}

fn invalid(message: impl std::fmt::Display) -> Reply {
    Reply::json_error(400, "InvalidParameterException", message)
}

fn not_found(prefix: &str, ctx: &Ctx) -> Reply {
    Reply::json_error(
        400,
        "TemplateNotFoundException",
        format!(
            "The repository creation template with prefix '{prefix}' does not exist in the registry with id '{:012}'",
            ctx.account_id
        ),
    )
}

pub(crate) fn handle(st: &mut State, ctx: &Ctx, api: Api, body: &[u8]) -> Reply {
    let input: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => Map::new(),
        Err(e) => return Reply::json_error(400, "SerializationException", e),
    };
    let t = st.targets.entry((ctx.account, ctx.region)).or_default();
    let templates = &mut t.templates;
    let prefix = input.get("prefix").and_then(Value::as_str).unwrap_or("");
    let result = match api {
        Api::DescribeRepositoryCreationTemplates => return describe(templates, ctx, &input),
        Api::CreateRepositoryCreationTemplate => create(templates, ctx, prefix, &input),
        Api::UpdateRepositoryCreationTemplate => update(templates, ctx, prefix, &input),
        // Delete is not in the model table (the tool never calls it): its prefix's pattern
        // is checked here.
        Api::DeleteRepositoryCreationTemplate => check_prefix(prefix)
            .and_then(|()| check_str(&ECR_PREFIX, prefix, "prefix").map_err(invalid))
            .and_then(
                |()| match templates.iter().position(|x| x.prefix == prefix) {
                    Some(i) => Ok(templates.remove(i)),
                    None => Err(not_found(prefix, ctx)),
                },
            ),
        _ => return Reply::json_error(400, "UnknownOperationException", api.name()),
    };
    match result {
        Ok(template) => {
            let mut out = format!(
                r#"{{"registryId":"{:012}","repositoryCreationTemplate":"#,
                ctx.account_id
            );
            write_template(&mut out, &template);
            out.push('}');
            Reply::ok(out)
        }
        Err(r) => r,
    }
}

fn write_template(out: &mut String, t: &Template) {
    let mut m = t.fields.clone();
    m.insert("prefix".into(), Value::from(t.prefix.as_str()));
    out.push_str(&Value::Object(m).to_string());
    // Append the timestamps (epoch seconds) inside the object.
    out.pop();
    let _ = write!(
        out,
        r#","createdAt":{},"updatedAt":{}}}"#,
        t.created, t.updated
    );
}

/// The length the model leaves open (1 to 256): ECR wants a repository name's two characters.
fn check_prefix(prefix: &str) -> Result<(), Reply> {
    if prefix.chars().count() < 2 {
        return Err(invalid("Invalid parameter at 'prefix' failed to satisfy constraint: 'must be 2-256 characters and satisfy regular expression'"));
    }
    Ok(())
}

/// appliedFor: at least one (the model's enum is checked before), repeats dropped.
fn applied_for(v: &Value) -> Result<Value, Reply> {
    let mut out: Vec<Value> = Vec::new();
    for item in v.as_array().into_iter().flatten() {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    if out.is_empty() {
        return Err(invalid("Invalid parameter at 'appliedFor' failed to satisfy constraint: 'must contain at least one of [REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH]'"));
    }
    Ok(Value::Array(out))
}

/// The members given (null is not given), checked.
fn given(input: &Map<String, Value>, ctx: &Ctx) -> Result<Map<String, Value>, Reply> {
    let fields: Map<String, Value> = REQUEST_FIELDS
        .iter()
        .filter_map(|&k| {
            let v = input.get(k).filter(|v| !v.is_null())?;
            Some((k.to_owned(), v.clone()))
        })
        .collect();
    let str_of = |k: &str| fields.get(k).and_then(Value::as_str).unwrap_or("");
    if let Some(enc) = fields.get("encryptionConfiguration") {
        let key = enc.get("kmsKey").and_then(Value::as_str).unwrap_or("");
        if !key.is_empty() && enc.get("encryptionType").and_then(Value::as_str) == Some("AES256") {
            return Err(invalid("Invalid parameter at 'encryptionConfiguration.kmsKey' failed to satisfy constraint: 'a KMS key ARN is allowed only with encryption type KMS or KMS_DSSE'"));
        }
    }
    if let Some(tags) = fields.get("resourceTags").and_then(Value::as_array) {
        let mut keys = Vec::with_capacity(tags.len());
        for tag in tags {
            let (key, value) = (tag.get("Key"), tag.get("Value"));
            let (Some(key), Some(value)) =
                (key.and_then(Value::as_str), value.and_then(Value::as_str))
            else {
                return Err(tags_invalid());
            };
            if !(1..=128).contains(&key.chars().count()) || value.chars().count() > 256 {
                return Err(tags_invalid());
            }
            keys.push(key);
        }
        keys.sort_unstable();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid(
                "Invalid parameter at 'resourceTags': duplicate tag keys",
            ));
        }
    }
    let role = str_of("customRoleArn");
    if !role.is_empty() {
        if !ROLE_ARN.is_match(role) {
            return Err(invalid(format!("Invalid parameter at 'customRoleArn' failed to satisfy constraint: '{role} is not a valid IAM role ARN'")));
        }
        // ECR assumes the role as the registry's own service: it must be in its account.
        let account = format!("{:012}", ctx.account_id);
        if role.split(':').nth(4) != Some(account.as_str()) {
            return Err(invalid(format!("Invalid parameter at 'customRoleArn' failed to satisfy constraint: 'the role {role} must be in the registry's account {account}'")));
        }
    }
    for (member, what) in [
        ("repositoryPolicy", "Repository policy"),
        ("lifecyclePolicy", "Lifecycle policy"),
    ] {
        check_policy(str_of(member), member, what)?;
    }
    Ok(fields)
}

fn tags_invalid() -> Reply {
    invalid("Invalid parameter at 'resourceTags' failed to satisfy constraint: 'tag keys must be 1-128 characters and values at most 256 characters'")
}

/// A policy text: empty (none), or a JSON object; a lifecycle policy has its `rules`.
fn check_policy(text: &str, member: &str, what: &str) -> Result<(), Reply> {
    if text.is_empty() {
        return Ok(());
    }
    let why = match serde_json::from_str::<Value>(text) {
        Err(e) => format!("the text is not valid JSON ({e})"),
        Ok(Value::Object(doc)) => {
            if member != "lifecyclePolicy" || doc.get("rules").is_some_and(Value::is_array) {
                return Ok(());
            }
            r#"object has missing required properties (["rules"])"#.to_owned()
        }
        Ok(_) => "the document must be a JSON object".to_owned(),
    };
    Err(invalid(format!(
        "Invalid parameter at '{member}' failed to satisfy constraint: '{what} validation failure: {why}'"
    )))
}

/// Exclusion filters go with, and only with, the *_WITH_EXCLUSION mutabilities.
fn check_filters(fields: &Map<String, Value>) -> Result<(), Reply> {
    let mutability = fields.get("imageTagMutability").and_then(Value::as_str);
    let with_exclusion = mutability.unwrap_or("").ends_with("_WITH_EXCLUSION");
    let filters = fields
        .get("imageTagMutabilityExclusionFilters")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if with_exclusion != filters {
        return Err(invalid("Invalid parameter at 'imageTagMutabilityExclusionFilters': exclusion filters are required with, and allowed only with, IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION"));
    }
    Ok(())
}

fn is_cleared(k: &str, v: &Value) -> bool {
    CLEARABLE.contains(&k) && v.as_str() == Some("")
}

fn create(
    templates: &mut Vec<Template>,
    ctx: &Ctx,
    prefix: &str,
    input: &Map<String, Value>,
) -> Result<Template, Reply> {
    check_prefix(prefix)?;
    let applied = applied_for(input.get("appliedFor").unwrap_or(&Value::Null))?;
    let given = given(input, ctx)?;
    let mut fields = Map::new();
    fields.insert("appliedFor".into(), applied);
    fields.insert("imageTagMutability".into(), Value::from("MUTABLE"));
    let aes = serde_json::json!({"encryptionType": "AES256"});
    fields.insert("encryptionConfiguration".into(), aes);
    fields.insert("resourceTags".into(), Value::Array(Vec::new()));
    for (k, v) in given {
        if !is_cleared(&k, &v) {
            fields.insert(k, v);
        }
    }
    check_filters(&fields)?;
    if templates.iter().any(|x| x.prefix == prefix) {
        return Err(Reply::json_error(
            400,
            "TemplateAlreadyExistsException",
            format!(
                "The repository creation template with prefix '{prefix}' already exists in the registry with id '{:012}'",
                ctx.account_id
            ),
        ));
    }
    let template = Template {
        prefix: prefix.to_owned(),
        fields,
        created: ctx.now(),
        updated: ctx.now(),
    };
    templates.push(template.clone());
    Ok(template)
}

fn update(
    templates: &mut [Template],
    ctx: &Ctx,
    prefix: &str,
    input: &Map<String, Value>,
) -> Result<Template, Reply> {
    check_prefix(prefix)?;
    let mut given = given(input, ctx)?;
    if let Some(v) = input.get("appliedFor").filter(|v| !v.is_null()) {
        given.insert("appliedFor".into(), applied_for(v)?);
    }
    let Some(current) = templates.iter_mut().find(|x| x.prefix == prefix) else {
        return Err(not_found(prefix, ctx));
    };
    let mut fields = current.fields.clone();
    let filters_given = given.contains_key("imageTagMutabilityExclusionFilters");
    for (k, v) in given {
        if is_cleared(&k, &v) {
            fields.remove(&k);
        } else {
            fields.insert(k, v);
        }
    }
    let plain = matches!(
        fields.get("imageTagMutability").and_then(Value::as_str),
        Some("MUTABLE" | "IMMUTABLE")
    );
    if plain && !filters_given {
        fields.remove("imageTagMutabilityExclusionFilters");
    }
    check_filters(&fields)?;
    current.fields = fields;
    current.updated = ctx.now();
    Ok(current.clone())
}

fn describe(templates: &[Template], ctx: &Ctx, input: &Map<String, Value>) -> Reply {
    let wanted: Vec<&str> = input
        .get("prefixes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let chosen: Vec<&Template> = if wanted.is_empty() {
        templates.iter().collect()
    } else {
        // Unknown prefixes are not an error: they are simply not in the answer.
        let mut chosen: Vec<&Template> = Vec::new();
        for p in wanted {
            let found = templates.iter().find(|x| x.prefix == p);
            if let Some(x) = found.filter(|x| !chosen.iter().any(|c| std::ptr::eq(*c, *x))) {
                chosen.push(x);
            }
        }
        chosen
    };
    let size = input
        .get("maxResults")
        .and_then(Value::as_u64)
        .unwrap_or(100) as usize;
    let start = match input.get("nextToken").and_then(Value::as_str) {
        None | Some("") => 0,
        Some(tok) => match tok.parse::<usize>() {
            Ok(n) => n.min(chosen.len()),
            Err(_) => return invalid("Invalid parameter at 'nextToken': invalid token"),
        },
    };
    let end = (start + size).min(chosen.len());
    let mut out = format!(
        r#"{{"registryId":"{:012}","repositoryCreationTemplates":["#,
        ctx.account_id
    );
    for (n, x) in chosen[start..end].iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        write_template(&mut out, x);
    }
    out.push(']');
    if end < chosen.len() {
        let _ = write!(out, r#","nextToken":"{end}""#);
    }
    out.push('}');
    Reply::ok(out)
}
