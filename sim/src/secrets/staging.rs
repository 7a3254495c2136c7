//! Versions and staging labels: GetSecretValue, ListSecretVersionIds, PutSecretValue (and
//! UpdateSecret with a value) and UpdateSecretVersionStage.

use std::fmt::Write as _;

use super::super::model::SimRng;
use super::super::state::{Ctx, Interner, SecretArn};
use super::super::versions::{Secret, Version, VersionId, BUILTIN_LABELS};
use super::super::wire::{Json, Reply};
use super::{head, invalid, marked_for_deletion, token, In};

/// `["AWSCURRENT",...]`: the staging labels of a version.
pub(super) fn write_stages(out: &mut String, s: &Secret, v: &Version) {
    out.push('[');
    let mut n = 0;
    for (bit, label) in BUILTIN_LABELS {
        if v.stages & bit != 0 {
            if n > 0 {
                out.push(',');
            }
            let _ = write!(out, r#""{label}""#);
            n += 1;
        }
    }
    for label in s.custom_labels(&v.id) {
        if n > 0 {
            out.push(',');
        }
        let _ = write!(out, r#""{}""#, Json(label));
        n += 1;
    }
    out.push(']');
}

/// A version id escaped for a JSON string.
pub(super) struct JsonId<'a>(pub(super) &'a VersionId);

impl std::fmt::Display for JsonId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            VersionId::Other(o) => Json(o).fmt(f),
            id => id.fmt(f),
        }
    }
}

pub(super) fn get_value(ctx: &Ctx, s: &Secret, input: &In) -> Reply {
    if s.deleted != 0 {
        return marked_for_deletion();
    }
    let stage = input.version_stage.as_deref();
    let version = match (input.version_id.as_deref(), stage) {
        (Some(id), _) => s
            .version(id)
            .filter(|v| stage.is_none_or(|l| s.holder(l).is_some_and(|h| h == v.id))),
        (None, l) => {
            let l = l.unwrap_or("AWSCURRENT");
            s.holder(l).and_then(|id| s.versions().find(|v| v.id == id))
        }
    };
    let Some(v) = version.filter(|v| v.value.is_some()) else {
        let what = match (input.version_id.as_deref(), stage) {
            (Some(id), _) => format!("VersionId: {id}"),
            (None, l) => format!("staging label: {}", l.unwrap_or("AWSCURRENT")),
        };
        return Reply::json_error(
            400,
            "ResourceNotFoundException",
            format!("Secrets Manager can't find the specified secret value for {what}"),
        );
    };
    let mut out = head(ctx, &s.name, &s.suffix);
    let _ = write!(
        out,
        r#","VersionId":"{}","SecretString":"{}","VersionStages":"#,
        JsonId(&v.id),
        Json(v.value.as_deref().unwrap_or_default()),
    );
    write_stages(&mut out, s, v);
    let _ = write!(out, r#","CreatedDate":{}}}"#, v.created);
    Reply::ok(out)
}

pub(super) fn list_versions(ctx: &Ctx, s: &Secret, input: &In) -> Reply {
    let all = input.include_deprecated == Some(true);
    let size = match input.max_results {
        None => 100,
        Some(n @ 1..=100) => n as usize,
        Some(_) => return invalid("MaxResults must be between 1 and 100."),
    };
    let start = match &*input.next_token {
        "" => 0,
        tok => match tok.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return invalid("Invalid NextToken."),
        },
    };
    let shown: Vec<&Version> = s.versions().filter(|v| all || s.labelled(v)).collect();
    let end = (start + size).min(shown.len());
    let mut out = head(ctx, &s.name, &s.suffix);
    out.push_str(r#","Versions":["#);
    for (n, v) in shown[start.min(end)..end].iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        let _ = write!(out, r#"{{"VersionId":"{}","VersionStages":"#, JsonId(&v.id));
        write_stages(&mut out, s, v);
        let _ = write!(out, r#","CreatedDate":{}}}"#, v.created);
    }
    out.push(']');
    if end < shown.len() {
        let _ = write!(out, r#","NextToken":"{end}""#);
    }
    out.push('}');
    Reply::ok(out)
}

/// PutSecretValue, and UpdateSecret with a value: a new version, or nothing at all when the
/// token names an existing version with the same value.
pub(super) fn put_value(
    s: &mut Secret,
    interner: &mut Interner,
    ctx: &Ctx,
    input: &In,
    rng: &SimRng,
) -> Reply {
    let Some(value) = input.secret_string.as_deref() else {
        return Reply::json_error(
            400,
            "InvalidRequestException",
            "You must provide either SecretString or SecretBinary.",
        );
    };
    let token = token(input, rng);
    if let Some(v) = s.version(&token) {
        if v.value.as_deref() != Some(value) {
            let arn = SecretArn {
                ctx,
                name: &s.name,
                suffix: &s.suffix,
            };
            return Reply::json_error(
                400,
                "ResourceExistsException",
                format!("You can't use ClientRequestToken {token} because that value is already in use for a version of secret {arn}."),
            );
        }
        // The same version again: succeeds and changes nothing (AWSCURRENT stays put).
        let mut out = head(ctx, &s.name, &s.suffix);
        let _ = write!(out, r#","VersionId":"{}","VersionStages":"#, Json(&token));
        write_stages(&mut out, s, v);
        out.push('}');
        return Reply::ok(out);
    }
    let id = VersionId::new(&token);
    let first = s.first.is_none();
    s.add_version(Version {
        id: id.clone(),
        value: Some(interner.str(value)),
        created: ctx.now(),
        stages: 0,
    });
    let labels = input.version_stages.as_deref().unwrap_or_default();
    if labels.is_empty() || first || labels.iter().any(|l| l == "AWSCURRENT") {
        s.make_current(&id, interner);
    }
    for l in labels.iter().map(|l| &**l).filter(|l| *l != "AWSCURRENT") {
        s.set_label(l, Some(&id), interner);
    }
    s.forget_old_versions();
    s.changed = ctx.now();
    let mut out = head(ctx, &s.name, &s.suffix);
    let _ = write!(out, r#","VersionId":"{}","VersionStages":"#, Json(&token));
    let v = s.versions().find(|v| v.id == id).expect("just added");
    write_stages(&mut out, s, v);
    out.push('}');
    Reply::ok(out)
}

/// UpdateSecretVersionStage: attaches a label to MoveToVersionId and detaches it from
/// RemoveFromVersionId, which must name the version holding it; AWSPREVIOUS follows AWSCURRENT.
pub(super) fn update_stage(
    s: &mut Secret,
    interner: &mut Interner,
    ctx: &Ctx,
    input: &In,
) -> Reply {
    if s.deleted != 0 {
        return marked_for_deletion();
    }
    let label = input.version_stage.as_deref().unwrap_or_default();
    if !(1..=256).contains(&label.len()) {
        return invalid("VersionStage must be 1-256 characters long.");
    }
    let holder = s.holder(label);
    let known = |id: &str| s.version(id).map(|v| v.id.clone());
    let remove = match input.remove_from_version_id.as_deref() {
        None => None,
        Some(id) => match known(id) {
            Some(v) if holder.as_ref() == Some(&v) => Some(v),
            Some(_) => {
                return invalid(format!(
                    "The staging label {label} is not attached to version {id}."
                ))
            }
            None => return invalid(format!("Not a valid version: {id}")),
        },
    };
    let to = match input.move_to_version_id.as_deref() {
        None => None,
        Some(id) => match known(id) {
            Some(v) => Some(v),
            None => return invalid(format!("Not a valid version: {id}")),
        },
    };
    match (&to, &holder) {
        (Some(to), Some(h)) if to != h && remove.is_none() => {
            return invalid(format!(
                "The parameter RemoveFromVersionId can't be empty. Staging label {label} is currently attached to version {h}, so you must explicitly reference that version in RemoveFromVersionId."
            ));
        }
        (None, _) if remove.is_none() => {
            return invalid("You must specify MoveToVersionId, RemoveFromVersionId or both.");
        }
        (None, _) if label == "AWSCURRENT" => {
            return invalid("You can't remove the staging label AWSCURRENT without moving it to another version.");
        }
        _ => {}
    }
    match &to {
        Some(to) if label == "AWSCURRENT" => s.make_current(to, interner),
        to => s.set_label(label, to.as_ref(), interner),
    }
    s.changed = ctx.now();
    let mut out = head(ctx, &s.name, &s.suffix);
    out.push('}');
    Reply::ok(out)
}
