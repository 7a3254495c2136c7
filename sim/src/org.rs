//! Organizations (awsJson 1.1) and STS (query protocol, XML): listing the generated
//! Organization, who the caller is, and AssumeRole into member accounts.

use std::borrow::Cow;
use std::fmt::Write as _;

use aws_smithy_types::date_time::{DateTime, Format};
use serde::Deserialize;

use super::model::Api;
use super::state::{Ctx, Org, Parent, State, ORG_ID};
use super::wire::{form_value, Reply, Xml};

/// The caller's user ARN (management account).
pub(crate) const CALLER_USER: &str = "user/sim";
/// The caller's role session, with [`super::SimConfig::caller_assumed_role`].
pub(crate) const CALLER_ROLE_SESSION: &str = "assumed-role/ci-deploy/ptc-rollout-ci";
const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// A fixed join time for every account (2023-11-14).
const JOINED: u32 = 1_700_000_000;
const PAGE: usize = 20;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ListIn<'a> {
    #[serde(borrow)]
    parent_id: Cow<'a, str>,
    #[serde(borrow)]
    child_type: Cow<'a, str>,
    #[serde(borrow)]
    next_token: Cow<'a, str>,
    max_results: Option<i64>,
}

pub(crate) fn organizations(st: &State, ctx: &Ctx, api: Api, body: &[u8]) -> Reply {
    if ctx.account != 0 {
        return Reply::json_error(
            400,
            "AccessDeniedException",
            "You don't have permissions to access this resource.",
        );
    }
    let input: ListIn = if body.is_empty() {
        ListIn::default()
    } else {
        match serde_json::from_slice(body) {
            Ok(i) => i,
            Err(e) => {
                return Reply::json_error(400, "SerializationException", e);
            }
        }
    };
    let org = &st.org;
    match api {
        Api::DescribeOrganization => Reply::ok(format!(
            r#"{{"Organization":{{"Id":"{ORG_ID}","Arn":"arn:aws:organizations::{m:012}:organization/{ORG_ID}","FeatureSet":"ALL","MasterAccountArn":"arn:aws:organizations::{m:012}:account/{ORG_ID}/{m:012}","MasterAccountId":"{m:012}","MasterAccountEmail":"management@example.com"}}}}"#,
            m = org.management
        )),
        Api::ListAccounts => list_accounts(org, &input, (org.accounts(), 0, 1)),
        Api::ListAccountsForParent | Api::ListChildren => {
            let Some(parent) = org.parent(&input.parent_id) else {
                return Reply::json_error(
                    400,
                    "ParentNotFoundException",
                    "We can't find a root or OU with the ParentId that you specified.",
                );
            };
            if api == Api::ListAccountsForParent {
                return list_accounts(org, &input, org.accounts_under(parent));
            }
            match &*input.child_type {
                "ACCOUNT" => list_children(org, &input, "ACCOUNT", org.accounts_under(parent)),
                "ORGANIZATIONAL_UNIT" => {
                    let ous = if parent == Parent::Root { org.ous } else { 0 };
                    list_children(org, &input, "ORGANIZATIONAL_UNIT", (ous, 0, 1))
                }
                _ => Reply::json_error(
                    400,
                    "InvalidInputException",
                    "You provided an invalid ChildType.",
                ),
            }
        }
        _ => Reply::json_error(400, "UnknownOperationException", api.name()),
    }
}

/// The slice of `count` items one page shows, and the next token.
fn page(input: &ListIn, count: usize) -> Result<(usize, usize, Option<usize>), Reply> {
    let size = match input.max_results {
        None => PAGE,
        Some(n) if (1..=PAGE as i64).contains(&n) => n as usize,
        Some(_) => {
            return Err(Reply::json_error(
                400,
                "InvalidInputException",
                "MaxResults must be between 1 and 20.",
            ))
        }
    };
    let start = if input.next_token.is_empty() {
        0
    } else {
        match input.next_token.parse::<usize>() {
            Ok(n) if n <= count => n,
            _ => {
                return Err(Reply::json_error(
                    400,
                    "InvalidInputException",
                    "You specified an invalid value for nextToken.",
                ))
            }
        }
    };
    let end = (start + size).min(count);
    Ok((start, end, (end < count).then_some(end)))
}

fn close_page(out: &mut String, next: Option<usize>) {
    out.push(']');
    if let Some(n) = next {
        let _ = write!(out, r#","NextToken":"{n}""#);
    }
    out.push('}');
}

fn list_accounts(org: &Org, input: &ListIn, (count, first, step): (usize, usize, usize)) -> Reply {
    let (start, end, next) = match page(input, count) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut out = String::with_capacity(64 + (end - start) * 280);
    out.push_str(r#"{"Accounts":["#);
    for n in start..end {
        let i = first + n * step;
        if n > start {
            out.push(',');
        }
        let id = org.account_id(i);
        let state = if org.is_active(i) {
            "ACTIVE"
        } else {
            "SUSPENDED"
        };
        let (name, joined) = if i == 0 {
            ("management".to_owned(), "CREATED")
        } else {
            (format!("member-{:06}", i - 1), "INVITED")
        };
        let _ = write!(
            out,
            r#"{{"Id":"{id:012}","Arn":"arn:aws:organizations::{m:012}:account/{ORG_ID}/{id:012}","Email":"{name}@example.com","Name":"{name}","State":"{state}","Status":"{state}","JoinedMethod":"{joined}","JoinedTimestamp":{JOINED}}}"#,
            m = org.management
        );
    }
    close_page(&mut out, next);
    Reply::ok(out)
}

fn list_children(
    org: &Org,
    input: &ListIn,
    kind: &str,
    (count, first, step): (usize, usize, usize),
) -> Reply {
    let (start, end, next) = match page(input, count) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut out = String::with_capacity(64 + (end - start) * 60);
    out.push_str(r#"{"Children":["#);
    for n in start..end {
        if n > start {
            out.push(',');
        }
        let i = first + n * step;
        if kind == "ACCOUNT" {
            let _ = write!(
                out,
                r#"{{"Id":"{:012}","Type":"ACCOUNT"}}"#,
                org.account_id(i)
            );
        } else {
            let _ = write!(
                out,
                r#"{{"Id":"{}","Type":"ORGANIZATIONAL_UNIT"}}"#,
                Org::ou_id(i)
            );
        }
    }
    close_page(&mut out, next);
    Reply::ok(out)
}

/// The caller's ARN: the management account's user (or, with `caller_assumed_role`, its role
/// session), or the member role session AssumeRole's keys stand for.
pub(crate) fn caller_arn(st: &State, ctx: &Ctx) -> String {
    if ctx.account != 0 {
        format!("arn:aws:sts::{:012}:assumed-role/sim/sim", ctx.account_id)
    } else if st.knobs.caller_assumed_role {
        format!("arn:aws:sts::{:012}:{CALLER_ROLE_SESSION}", ctx.account_id)
    } else {
        format!("arn:aws:iam::{:012}:{CALLER_USER}", ctx.account_id)
    }
}

/// STS: GetCallerIdentity and AssumeRole. `sent_at` is the request's X-Amz-Date (the SDK's
/// clock), from which AssumeRole's Expiration is counted.
pub(crate) fn sts(st: &State, ctx: &Ctx, api: Api, body: &str, sent_at: Option<i64>) -> Reply {
    match api {
        Api::GetCallerIdentity => {
            let user = if ctx.account == 0 && !st.knobs.caller_assumed_role {
                "AIDASIMULATEDCALLER0"
            } else if ctx.account == 0 {
                "AROASIMULATEDCALLER0:ptc-rollout-ci"
            } else {
                "AROASIMULATEDROLE000:sim"
            };
            Reply::ok(format!(
                "<GetCallerIdentityResponse xmlns=\"{STS_NS}\"><GetCallerIdentityResult><Arn>{arn}</Arn>\
                 <UserId>{user}</UserId><Account>{:012}</Account></GetCallerIdentityResult>\
                 <ResponseMetadata><RequestId>{{RID}}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
                ctx.account_id,
                arn = caller_arn(st, ctx),
            ))
        }
        Api::AssumeRole => assume_role(st, ctx, body, sent_at),
        _ => Reply::xml_error(
            400,
            "InvalidAction",
            format!("Unknown action {}", api.name()),
        ),
    }
}

fn assume_role(st: &State, ctx: &Ctx, body: &str, sent_at: Option<i64>) -> Reply {
    let role_arn = form_value(body, "RoleArn").unwrap_or_default();
    let session = form_value(body, "RoleSessionName").unwrap_or_default();
    // The model check (model_check.rs) has refused a duration outside 900..=43200 and a session
    // name outside 2..=64 characters; it passes a duration that is not a number.
    let duration = match form_value(body, "DurationSeconds").map(|d| d.parse::<i64>()) {
        None => 3600,
        Some(Ok(d)) => d,
        Some(Err(_)) => {
            return Reply::xml_error(
                400,
                "ValidationError",
                "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200",
            )
        }
    };
    let parsed = role_arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_at_checked(12))
        .and_then(|(acct, rest)| Some((acct.parse::<u64>().ok()?, rest.strip_prefix(":role/")?)));
    let Some((account_id, role_name)) = parsed.filter(|(_, r)| !r.is_empty()) else {
        return Reply::xml_error(400, "ValidationError", format!("{role_arn} is invalid"));
    };
    let target = st.account_index.get(&account_id).copied();
    // The management account has no OrganizationAccountAccessRole; suspended and unknown
    // accounts cannot be entered.
    if target.is_none_or(|i| i == 0 || !st.org.is_active(i as usize)) {
        return Reply::xml_error(
            403,
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                caller_arn(st, ctx)
            ),
        );
    }
    // Role chaining (the caller is itself a role session) caps the session at one hour;
    // otherwise the role's MaxSessionDuration does.
    let chained = ctx.account != 0 || st.knobs.caller_assumed_role;
    if chained && duration > 3600 {
        return Reply::xml_error(
            400,
            "ValidationError",
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        );
    }
    if duration > st.knobs.max_session_duration {
        return Reply::xml_error(
            400,
            "ValidationError",
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        );
    }
    let now = sent_at.unwrap_or(ctx.now_secs as i64);
    let expiry = DateTime::from_secs(now + duration)
        .fmt(Format::DateTime)
        .unwrap_or_default();
    Reply::ok(format!(
        "<AssumeRoleResponse xmlns=\"{STS_NS}\"><AssumeRoleResult><Credentials>\
         <AccessKeyId>ASIA{account_id:012}SIMK</AccessKeyId><SecretAccessKey>simulated-secret-key</SecretAccessKey>\
         <SessionToken>simulated-session-token</SessionToken><Expiration>{expiry}</Expiration></Credentials>\
         <AssumedRoleUser><AssumedRoleId>AROASIMULATEDROLE000:{s}</AssumedRoleId>\
         <Arn>arn:aws:sts::{account_id:012}:assumed-role/{r}/{s}</Arn></AssumedRoleUser>\
         </AssumeRoleResult><ResponseMetadata><RequestId>{{RID}}</RequestId></ResponseMetadata></AssumeRoleResponse>",
        s = Xml(&session),
        r = Xml(role_name),
    ))
}

/// The account index an access key id stands for: the caller's key is the management account;
/// AssumeRole's keys are `ASIA` + account id + `SIMK`.
pub(crate) fn account_of_key(st: &State, caller_key: &str, akid: &str) -> Option<u32> {
    if akid == caller_key {
        return Some(0);
    }
    let id: u64 = akid.strip_prefix("ASIA")?.get(..12)?.parse().ok()?;
    st.account_index.get(&id).copied()
}
