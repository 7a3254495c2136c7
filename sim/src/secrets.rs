//! Secrets Manager (awsJson 1.1): DescribeSecret, GetSecretValue, ListSecretVersionIds,
//! CreateSecret, PutSecretValue, UpdateSecret, UpdateSecretVersionStage, RestoreSecret and
//! DeleteSecret, with versions and staging labels, idempotent ClientRequestTokens, customer
//! managed keys, recovery windows and asynchronous forced deletion.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Deserialize;

use super::model::{Api, SimRng};
use super::state::{
    hash, push_exact, split_secret_arn, Ctx, Interner, SecretArn, State, Target, Tombstones,
};
use super::validation::valid_secret_name;
use super::versions::{Extra, Secret, Version, VersionId, AWSCURRENT};
use super::wire::{Json, Reply};

mod staging;

use staging::{get_value, list_versions, put_value, update_stage, write_stages, JsonId};

/// The default key's alias: a secret under it (or under no key named) has no `KmsKeyId`.
const DEFAULT_KEY_ALIAS: &str = "alias/aws/secretsmanager";

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct In<'a> {
    #[serde(borrow)]
    secret_id: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    secret_string: Option<Cow<'a, str>>,
    #[serde(borrow)]
    description: Option<Cow<'a, str>>,
    #[serde(borrow)]
    client_request_token: Cow<'a, str>,
    #[serde(borrow)]
    kms_key_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tags: Vec<TagIn<'a>>,
    #[serde(borrow)]
    version_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    version_stage: Option<Cow<'a, str>>,
    #[serde(borrow)]
    version_stages: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow)]
    move_to_version_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    remove_from_version_id: Option<Cow<'a, str>>,
    include_deprecated: Option<bool>,
    max_results: Option<i64>,
    #[serde(borrow)]
    next_token: Cow<'a, str>,
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

fn invalid(message: impl std::fmt::Display) -> Reply {
    Reply::json_error(400, "InvalidParameterException", message)
}

fn name_taken_by_deletion() -> Reply {
    Reply::json_error(
        400,
        "InvalidRequestException",
        "You can't create this secret because a secret with this name is already scheduled for deletion.",
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

/// The call's ClientRequestToken (the model check has refused one outside 32 to 64
/// characters), or a fresh one.
fn token<'a>(input: &'a In, rng: &SimRng) -> Cow<'a, str> {
    match &*input.client_request_token {
        "" => Cow::Owned(new_token(rng)),
        t => Cow::Borrowed(t),
    }
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

/// The key a secret is encrypted with: `None` for the default `aws/secretsmanager` key.
fn kms_key(interner: &mut Interner, key: Option<&str>) -> Option<std::sync::Arc<str>> {
    match key {
        None | Some("") => None,
        Some(k) if k == DEFAULT_KEY_ALIAS || k.ends_with(":alias/aws/secretsmanager") => None,
        Some(k) => Some(interner.str(k)),
    }
}

/// `{"ARN":"...","Name":"..."` (left open for more fields).
fn head(ctx: &Ctx, name: &str, suffix: &[u8; 6]) -> String {
    let mut out = String::with_capacity(512);
    let arn = SecretArn { ctx, name, suffix };
    let _ = write!(out, r#"{{"ARN":"{arn}","Name":"{}""#, Json(name));
    out
}

pub(crate) fn handle(st: &mut State, ctx: &Ctx, api: Api, body: &[u8], rng: &SimRng) -> Reply {
    let input: In = match serde_json::from_slice(body) {
        Ok(i) => i,
        Err(e) => return Reply::json_error(400, "SerializationException", e),
    };
    let State {
        targets,
        interner,
        tombstones,
        knobs,
        ..
    } = st;
    let t = targets.entry((ctx.account, ctx.region)).or_default();
    t.purge(ctx.now());
    let now = ctx.now();
    if api == Api::CreateSecret {
        if !tombstones.is_empty() {
            if let Some(gone) = tombstones.get_mut(&(ctx.account, ctx.region)) {
                gone.retain(|(_, until)| *until > ctx.now_nanos);
                if gone.iter().any(|(n, _)| **n == *input.name) {
                    return name_taken_by_deletion();
                }
            }
        }
        return create(t, interner, ctx, &input, rng);
    }
    let Some(i) = t.secret_index(ctx, &input.secret_id) else {
        if api == Api::DeleteSecret && input.force_delete_without_recovery == Some(true) {
            return delete_absent(ctx, &input, rng);
        }
        // No suffix to match: a permission on `NAME-??????` does not cover the request.
        if api == Api::DescribeSecret && knobs.describe_secret_by_arn_only {
            let action = "secretsmanager:DescribeSecret";
            return Reply::json_error(
                400,
                "AccessDeniedException",
                format_args!(
                    "User is not authorized to perform: {action} on resource: {} because no identity-based policy allows the {action} action",
                    input.secret_id
                ),
            );
        }
        return not_found();
    };
    let s = &mut t.secrets[i];
    match api {
        Api::DescribeSecret => describe(ctx, s),
        Api::GetSecretValue => get_value(ctx, s, &input),
        Api::ListSecretVersionIds => list_versions(ctx, s, &input),
        Api::PutSecretValue | Api::UpdateSecret => {
            if s.deleted != 0 {
                return marked_for_deletion();
            }
            if api == Api::UpdateSecret {
                if let Some(d) = &input.description {
                    s.description = (!d.is_empty()).then(|| interner.str(d));
                    s.changed = now;
                }
                if let Some(k) = &input.kms_key_id {
                    s.extra().kms_key = kms_key(interner, Some(k));
                    s.changed = now;
                }
                if input.secret_string.is_none() {
                    let mut out = head(ctx, &s.name, &s.suffix);
                    out.push('}');
                    return Reply::ok(out);
                }
            }
            put_value(s, interner, ctx, &input, rng)
        }
        Api::UpdateSecretVersionStage => update_stage(s, interner, ctx, &input),
        Api::RestoreSecret => {
            // A forced deletion still being carried out: nothing left to restore.
            if s.deleted != 0 && being_purged(tombstones, ctx, &s.name) {
                return Reply::json_error(
                    400,
                    "InvalidRequestException",
                    "You can't perform this operation on the secret because it was deleted.",
                );
            }
            s.deleted = 0;
            s.purge_at = 0;
            s.changed = now;
            let mut out = head(ctx, &s.name, &s.suffix);
            out.push('}');
            Reply::ok(out)
        }
        Api::DeleteSecret => {
            let name = s.name.clone();
            let delay = knobs.force_delete_delay_nanos;
            let forced = input.force_delete_without_recovery == Some(true);
            // Still shown, whole seconds (DeletedDate's unit) until the name is free.
            let shown_for = if forced && knobs.force_delete_visible {
                delay.div_ceil(1_000_000_000) as u32
            } else {
                0
            };
            let reply = delete(t, i, ctx, &input, shown_for);
            if forced && delay > 0 && reply.error.is_none() {
                // AWS deletes in the background: the name stays taken a while.
                tombstones
                    .entry((ctx.account, ctx.region))
                    .or_default()
                    .push((name, ctx.now_nanos + delay));
            }
            reply
        }
        _ => Reply::json_error(400, "UnknownOperationException", api.name()),
    }
}

fn describe(ctx: &Ctx, s: &Secret) -> Reply {
    let mut out = head(ctx, &s.name, &s.suffix);
    if let Some(d) = &s.description {
        let _ = write!(out, r#","Description":"{}""#, Json(d));
    }
    if let Some(k) = s.kms_key() {
        let _ = write!(out, r#","KmsKeyId":"{}""#, Json(k));
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
    // Versions with a staging label; the others are deprecated and not shown.
    let mut n = 0;
    for v in s.versions().filter(|v| s.labelled(v)) {
        out.push_str(if n == 0 {
            r#","VersionIdsToStages":{"#
        } else {
            ","
        });
        let _ = write!(out, r#""{}":"#, JsonId(&v.id));
        write_stages(&mut out, s, v);
        n += 1;
    }
    if n > 0 {
        out.push('}');
    }
    out.push('}');
    Reply::ok(out)
}

fn create(t: &mut Target, interner: &mut Interner, ctx: &Ctx, input: &In, rng: &SimRng) -> Reply {
    let name = &*input.name;
    if !valid_secret_name(name) {
        return invalid(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        );
    }
    let token = token(input, rng);
    let token_hash = hash(&token);
    let value = input.secret_string.as_deref();
    if let Some(s) = t.secrets.iter().find(|s| &*s.name == name) {
        if s.deleted != 0 {
            return name_taken_by_deletion();
        }
        // The same request again (an SDK retry after a lost answer): the same result.
        let same = match (s.version(&token), value) {
            (Some(v), Some(value)) => v.value.as_deref() == Some(value),
            (None, None) => s.extra.as_ref().and_then(|e| e.create_token) == Some(token_hash),
            _ => false,
        };
        if !same {
            return Reply::json_error(
                400,
                "ResourceExistsException",
                format!("The operation failed because the secret {name} already exists."),
            );
        }
        let mut out = head(ctx, &s.name, &s.suffix);
        if value.is_some() {
            let _ = write!(out, r#","VersionId":"{}""#, Json(&token));
        }
        out.push('}');
        return Reply::ok(out);
    }
    let tags = input
        .tags
        .iter()
        .map(|tag| (interner.str(&tag.key), interner.str(&tag.value)))
        .collect();
    let now = ctx.now();
    let first = value.map(|v| Version {
        id: VersionId::new(&token),
        value: Some(interner.str(v)),
        created: now,
        stages: AWSCURRENT,
    });
    let kms_key = kms_key(interner, input.kms_key_id.as_deref());
    let create_token = value.is_none().then_some(token_hash);
    let extra = (kms_key.is_some() || create_token.is_some()).then(|| {
        Box::new(Extra {
            kms_key,
            create_token,
            ..Extra::default()
        })
    });
    let secret = Secret {
        name: interner.str(name),
        description: input
            .description
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(|d| interner.str(d)),
        tags: interner.tags(tags),
        first,
        extra,
        created: now,
        changed: now,
        deleted: 0,
        purge_at: 0,
        suffix: random_suffix(rng),
    };
    let mut out = head(ctx, &secret.name, &secret.suffix);
    if value.is_some() {
        let _ = write!(out, r#","VersionId":"{}""#, Json(&token));
    }
    out.push('}');
    push_exact(&mut t.secrets, secret);
    Reply::ok(out)
}

/// `shown_for`: seconds a forced deletion leaves the secret shown, scheduled for deletion.
fn delete(t: &mut Target, i: usize, ctx: &Ctx, input: &In, shown_for: u32) -> Reply {
    let force = input.force_delete_without_recovery.unwrap_or(false);
    if force && input.recovery_window_in_days.is_some() {
        return invalid(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        );
    }
    // A forced deletion also purges a secret already scheduled for deletion.
    if t.secrets[i].deleted != 0 && !force {
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
            _ => return invalid("The recovery window must be between 7 and 30 days."),
        }
    };
    let s = &t.secrets[i];
    let mut out = head(ctx, &s.name, &s.suffix);
    let _ = write!(out, r#","DeletionDate":{purge_at}}}"#);
    if force && shown_for == 0 {
        t.secrets.remove(i);
    } else {
        let s = &mut t.secrets[i];
        s.deleted = now;
        s.purge_at = purge_at + shown_for;
    }
    Reply::ok(out)
}

/// Whether a forced deletion of `name` in this target is still being carried out.
fn being_purged(tombstones: &HashMap<(u32, u8), Tombstones>, ctx: &Ctx, name: &str) -> bool {
    tombstones
        .get(&(ctx.account, ctx.region))
        .is_some_and(|gone| {
            gone.iter()
                .any(|(n, until)| **n == *name && *until > ctx.now_nanos)
        })
}

/// A forced deletion of a secret that does not exist succeeds (AWS does not answer
/// ResourceNotFoundException for it).
fn delete_absent(ctx: &Ctx, input: &In, rng: &SimRng) -> Reply {
    if input.recovery_window_in_days.is_some() {
        return invalid(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        );
    }
    let (name, suffix) = match split_secret_arn(ctx, &input.secret_id) {
        Some((n, Some(s))) => (n, s),
        Some((n, None)) => (n, random_suffix(rng)),
        None => (&*input.secret_id, random_suffix(rng)),
    };
    if !valid_secret_name(name) {
        return not_found();
    }
    let mut out = head(ctx, name, &suffix);
    let _ = write!(out, r#","DeletionDate":{}}}"#, ctx.now());
    Reply::ok(out)
}
