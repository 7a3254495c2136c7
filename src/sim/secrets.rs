//! Secrets Manager (awsJson 1.1): DescribeSecret, GetSecretValue, CreateSecret, PutSecretValue,
//! RestoreSecret and DeleteSecret, with idempotent ClientRequestTokens and recovery windows.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::Deserialize;

use super::model::{Api, SimRng};
use super::state::{hash, push_exact, Ctx, Secret, SecretArn, State, Target};
use super::validation::valid_secret_name;
use super::wire::{Json, Reply};

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct In<'a> {
    #[serde(borrow)]
    secret_id: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    secret_string: Cow<'a, str>,
    #[serde(borrow)]
    description: Cow<'a, str>,
    #[serde(borrow)]
    client_request_token: Cow<'a, str>,
    #[serde(borrow)]
    tags: Vec<TagIn<'a>>,
    recovery_window_in_days: Option<i64>,
    force_delete_without_recovery: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagIn<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow, default)]
    value: Cow<'a, str>,
}

fn not_found() -> Reply {
    Reply::json_error(
        400,
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret.",
    )
}

fn marked_for_deletion() -> Reply {
    Reply::json_error(
        400,
        "InvalidRequestException",
        "You can't perform this operation on the secret because it was marked for deletion.",
    )
}

/// A version id for a call that sent no ClientRequestToken (the SDK always sends one).
fn new_token(rng: &SimRng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

fn random_suffix(rng: &SimRng) -> [u8; 6] {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut r = rng.next_u64();
    let mut out = [0u8; 6];
    for c in &mut out {
        *c = ALPHABET[(r % ALPHABET.len() as u64) as usize];
        r /= ALPHABET.len() as u64;
    }
    out
}

/// `{"ARN":"...","Name":"..."` (left open for more fields).
fn head(ctx: &Ctx, s: &Secret) -> String {
    let mut out = String::with_capacity(256);
    let arn = SecretArn {
        ctx,
        name: &s.name,
        suffix: &s.suffix,
    };
    let _ = write!(
        out,
        r#"{{"ARN":"{}","Name":"{}""#,
        Json(&arn.to_string()),
        Json(&s.name)
    );
    out
}

pub(crate) fn handle(st: &mut State, ctx: &Ctx, api: Api, body: &[u8], rng: &SimRng) -> Reply {
    let input: In = match serde_json::from_slice(body) {
        Ok(i) => i,
        Err(e) => return Reply::json_error(400, "SerializationException", e),
    };
    let State {
        targets, interner, ..
    } = st;
    let t = targets.entry((ctx.account, ctx.region)).or_default();
    t.purge(ctx.now());
    let now = ctx.now();
    if api == Api::CreateSecret {
        return create(t, interner, ctx, &input, rng);
    }
    let Some(i) = t.secret_index(ctx, &input.secret_id) else {
        return not_found();
    };
    let s = &mut t.secrets[i];
    match api {
        Api::DescribeSecret => {
            let mut out = head(ctx, s);
            if let Some(d) = &s.description {
                let _ = write!(out, r#","Description":"{}""#, Json(d));
            }
            out.push_str(r#","Tags":["#);
            for (n, (k, v)) in s.tags.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                let _ = write!(out, r#"{{"Key":"{}","Value":"{}"}}"#, Json(k), Json(v));
            }
            let _ = write!(
                out,
                r#"],"CreatedDate":{},"LastChangedDate":{}"#,
                s.created, s.changed
            );
            if s.deleted != 0 {
                let _ = write!(out, r#","DeletedDate":{}"#, s.deleted);
            }
            out.push('}');
            Reply::ok(out)
        }
        Api::GetSecretValue => {
            if s.deleted != 0 {
                return marked_for_deletion();
            }
            let Some(value) = &s.value else {
                return Reply::json_error(
                    400,
                    "ResourceNotFoundException",
                    "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
                );
            };
            let mut out = head(ctx, s);
            let _ = write!(
                out,
                r#","VersionId":"{:016x}","SecretString":"{}","VersionStages":["AWSCURRENT"],"CreatedDate":{}}}"#,
                s.version,
                Json(value),
                s.changed
            );
            Reply::ok(out)
        }
        Api::PutSecretValue => {
            if s.deleted != 0 {
                return marked_for_deletion();
            }
            let token = match &*input.client_request_token {
                "" => Cow::Owned(new_token(rng)),
                t => Cow::Borrowed(t),
            };
            let version = hash(&token);
            let same_value = s.value.as_deref() == Some(&*input.secret_string);
            if version == s.version && !same_value {
                return Reply::json_error(
                    400,
                    "ResourceExistsException",
                    "You can't modify an existing version, you can only create a new version.",
                );
            }
            if version != s.version {
                s.value =
                    (!input.secret_string.is_empty()).then(|| interner.str(&input.secret_string));
                s.version = version;
                s.changed = now;
            }
            let mut out = head(ctx, s);
            let _ = write!(
                out,
                r#","VersionId":"{}","VersionStages":["AWSCURRENT"]}}"#,
                Json(&token)
            );
            Reply::ok(out)
        }
        Api::RestoreSecret => {
            s.deleted = 0;
            s.purge_at = 0;
            s.changed = now;
            let mut out = head(ctx, s);
            out.push('}');
            Reply::ok(out)
        }
        Api::DeleteSecret => delete(t, i, ctx, &input),
        _ => Reply::json_error(400, "UnknownOperationException", api.name()),
    }
}

fn create(
    t: &mut Target,
    interner: &mut super::state::Interner,
    ctx: &Ctx,
    input: &In,
    rng: &SimRng,
) -> Reply {
    let name = &*input.name;
    if !valid_secret_name(name) {
        return Reply::json_error(
            400,
            "InvalidParameterException",
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        );
    }
    let token = match &*input.client_request_token {
        "" => Cow::Owned(new_token(rng)),
        t => Cow::Borrowed(t),
    };
    let token_hash = hash(&token);
    if let Some(s) = t.secrets.iter().find(|s| &*s.name == name) {
        if s.deleted != 0 {
            return Reply::json_error(
                400,
                "InvalidRequestException",
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
            );
        }
        if s.create_token != token_hash {
            return Reply::json_error(
                400,
                "ResourceExistsException",
                format!("The operation failed because the secret {name} already exists."),
            );
        }
        // The same request again (an SDK retry after a lost answer): the same result.
        let mut out = head(ctx, s);
        let _ = write!(out, r#","VersionId":"{}"}}"#, Json(&token));
        return Reply::ok(out);
    }
    let tags = input
        .tags
        .iter()
        .map(|tag| (interner.str(&tag.key), interner.str(&tag.value)))
        .collect();
    let now = ctx.now();
    let secret = Secret {
        name: interner.str(name),
        value: (!input.secret_string.is_empty()).then(|| interner.str(&input.secret_string)),
        description: (!input.description.is_empty()).then(|| interner.str(&input.description)),
        tags: interner.tags(tags),
        create_token: token_hash,
        version: token_hash,
        created: now,
        changed: now,
        deleted: 0,
        purge_at: 0,
        suffix: random_suffix(rng),
    };
    let mut out = head(ctx, &secret);
    if secret.value.is_some() {
        let _ = write!(out, r#","VersionId":"{}""#, Json(&token));
    }
    out.push('}');
    push_exact(&mut t.secrets, secret);
    Reply::ok(out)
}

fn delete(t: &mut Target, i: usize, ctx: &Ctx, input: &In) -> Reply {
    let force = input.force_delete_without_recovery.unwrap_or(false);
    if force && input.recovery_window_in_days.is_some() {
        return Reply::json_error(
            400,
            "InvalidParameterException",
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        );
    }
    if t.secrets[i].deleted != 0 {
        return Reply::json_error(
            400,
            "InvalidRequestException",
            "You can't perform this operation on the secret because it was already scheduled for deletion.",
        );
    }
    let now = ctx.now();
    let purge_at = if force {
        now
    } else {
        match input.recovery_window_in_days.unwrap_or(30) {
            d @ 7..=30 => now + d as u32 * 86_400,
            _ => {
                return Reply::json_error(
                    400,
                    "InvalidParameterException",
                    "The recovery window must be between 7 and 30 days.",
                )
            }
        }
    };
    let mut out = head(ctx, &t.secrets[i]);
    let _ = write!(out, r#","DeletionDate":{purge_at}}}"#);
    if force {
        t.secrets.remove(i);
    } else {
        let s = &mut t.secrets[i];
        s.deleted = now;
        s.purge_at = purge_at;
    }
    Reply::ok(out)
}
