//! ptc-rollout's statement in the registry permissions policy (`[pull_access]`): it lets the
//! named principals of the target's account make first pulls through the cache
//! (`ecr:CreateRepository`, `ecr:BatchImportUpstreamImage`), which read-only ECR policies lack.
//!
//! The registry policy is one document per registry and Region that other teams use too
//! (replication, other caches), so only the statement with [`SID`] is ever changed: every other
//! statement is written back byte for byte.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use aws_sdk_ecr::operation::delete_registry_policy::DeleteRegistryPolicyError;
use aws_sdk_ecr::operation::get_registry_policy::GetRegistryPolicyError;

use crate::aws::clients::Regional;
use crate::aws::error::ApiError;
use crate::config::PullAccess;
use crate::data::regions;
use crate::data::target::{PullAccessState, Target};
use crate::engine::resources::unless_absent;

/// The Sid of the one statement ptc-rollout owns in each registry policy.
pub(crate) const SID: &str = "PtcRolloutPullThroughCache";
/// What a first pull through the cache needs beyond the usual pull permissions.
pub(crate) const ACTIONS: [&str; 2] = ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"];

/// The statement the rollout file asks for in this target. Principals are matched by condition
/// (`aws:PrincipalArn`) rather than named as principals: IAM refuses a policy naming a role that
/// does not exist, and a role may exist in only some accounts; conditions also allow wildcards.
pub(crate) fn statement(t: &Target, access: &PullAccess) -> Value {
    let partition = regions::partition(&t.region);
    let mut resources: Vec<Value> = access
        .prefixes
        .iter()
        .map(|prefix| {
            let prefix = prefix.trim_end_matches('/');
            let repositories = if prefix == "ROOT" {
                "*".to_owned()
            } else {
                format!("{prefix}/*")
            };
            Value::from(format!(
                "arn:{partition}:ecr:{}:{}:repository/{repositories}",
                t.region, t.account_id
            ))
        })
        .collect();
    // One prefix stays a string, as the statement was before there were several.
    let resource = match resources.len() {
        1 => resources.remove(0),
        _ => Value::from(resources),
    };
    json!({
        "Sid": SID,
        "Effect": "Allow",
        "Principal": { "AWS": "*" },
        "Action": ACTIONS,
        "Resource": resource,
        "Condition": {
            "StringEquals": { "aws:PrincipalAccount": t.account_id },
            "ArnLike": { "aws:PrincipalArn": access.principals(partition, &t.account_id) }
        }
    })
}

/// A policy document as its top-level members and statements, each kept as the exact text it
/// was read as.
#[derive(Debug)]
pub(crate) struct Document {
    members: Vec<(String, Box<RawValue>)>,
    /// Where the statements stand among the members.
    statement_at: usize,
    statements: Vec<Box<RawValue>>,
}

impl Document {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let Members(members) = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut statements = Vec::new();
        let mut rest = Vec::new();
        let mut statement_at = None;
        for (key, value) in members {
            if key != "Statement" {
                rest.push((key, value));
            } else if statement_at.replace(rest.len()).is_some() {
                return Err("two Statement members".to_owned());
            } else if value.get().trim_start().starts_with('[') {
                statements = serde_json::from_str(value.get()).map_err(|e| e.to_string())?;
            } else {
                // IAM accepts a single statement object in place of a list.
                statements.push(value);
            }
        }
        Ok(Document {
            statement_at: statement_at.unwrap_or(rest.len()),
            members: rest,
            statements,
        })
    }

    /// Where ptc-rollout's statements stand (one, unless someone copied it).
    fn positions(&self) -> Vec<usize> {
        (0..self.statements.len())
            .filter(|&i| {
                serde_json::from_str::<Value>(self.statements[i].get())
                    .is_ok_and(|v| v["Sid"] == SID)
            })
            .collect()
    }

    /// ptc-rollout's statement, parsed.
    pub(crate) fn ours(&self) -> Option<Value> {
        self.positions()
            .first()
            .and_then(|&i| serde_json::from_str(self.statements[i].get()).ok())
    }

    /// Whether ptc-rollout's statement is there, once, and says what `want` says.
    pub(crate) fn holds(&self, want: &Value) -> bool {
        self.positions().len() == 1 && self.ours().is_some_and(|have| same(&have, want))
    }

    /// Replaces (in place) or adds ptc-rollout's statement; a copy of it is dropped.
    pub(crate) fn put(&mut self, statement: &Value) {
        let raw = RawValue::from_string(statement.to_string()).expect("valid JSON");
        let mut at = self.positions();
        match at.first().copied() {
            Some(first) => {
                for i in at.drain(1..).rev() {
                    self.statements.remove(i);
                }
                self.statements[first] = raw;
            }
            None => self.statements.push(raw),
        }
    }

    /// Takes ptc-rollout's statements out; whether there were any.
    pub(crate) fn remove(&mut self) -> bool {
        let at = self.positions();
        for &i in at.iter().rev() {
            self.statements.remove(i);
        }
        !at.is_empty()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// The document's text: members in their order, every statement as it was read.
    pub(crate) fn text(&self) -> String {
        let mut members: Vec<String> = self
            .members
            .iter()
            .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), v.get()))
            .collect();
        let statements: Vec<&str> = self.statements.iter().map(|s| s.get()).collect();
        let list = format!("\"Statement\":[{}]", statements.join(","));
        members.insert(self.statement_at.min(members.len()), list);
        format!("{{{}}}", members.join(","))
    }

    /// A new document holding only `statement`.
    fn new_with(statement: &Value) -> Self {
        let mut d = Document {
            members: vec![(
                "Version".to_owned(),
                RawValue::from_string("\"2012-10-17\"".to_owned()).expect("valid JSON"),
            )],
            statement_at: 1,
            statements: Vec::new(),
        };
        d.put(statement);
        d
    }
}

/// Whether two statements say the same, in the ways IAM does not tell apart: a one-element list
/// and its element, the order of a list of values, `"*"` and `{"AWS": "*"}` as the principal,
/// and the case of condition operators and keys. ECR may hand a policy back so rewritten; a
/// plain comparison would then rewrite it on every run.
fn same(a: &Value, b: &Value) -> bool {
    canonical(a, false) == canonical(b, false)
}

fn canonical(v: &Value, in_condition: bool) -> Value {
    match v {
        Value::Array(items) if items.len() == 1 => canonical(&items[0], in_condition),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(|i| canonical(i, in_condition)).collect();
            items.sort_by_key(|i| i.to_string());
            Value::Array(items)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = if in_condition {
                        k.to_ascii_lowercase()
                    } else {
                        k.clone()
                    };
                    let value = match (k.as_str(), v) {
                        ("Principal", Value::String(p)) if p == "*" => json!({ "AWS": "*" }),
                        _ => v.clone(),
                    };
                    (key, canonical(&value, in_condition || k == "Condition"))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The top-level members of a JSON object, in order, values unparsed.
struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON policy document (an object)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    out.push(entry);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The Region's registry policy text; `None` when the registry has none.
async fn read_policy(c: &Regional, t: &Target) -> Result<Option<String>, ApiError> {
    let sent = c.ecr.get_registry_policy().send().await;
    let none = |e: &GetRegistryPolicyError| e.is_registry_policy_not_found_exception();
    let out = unless_absent(sent, none, t, "ecr:GetRegistryPolicy")?;
    Ok(out.and_then(|o| o.policy_text().map(str::to_owned)))
}

fn parse(t: &Target, text: &str) -> Result<Document, ApiError> {
    Document::parse(text).map_err(|e| {
        ApiError::new(
            &t.account_id,
            &t.region,
            "ecr:GetRegistryPolicy",
            format!("the registry policy is not a JSON policy document ({e}); fix it by hand"),
        )
    })
}

/// Whether the registry policy holds the statement the rollout file asks for; `TooLong` when
/// it does not and the policy with it would be over ECR's limit, so that `plan` says what
/// `apply` would refuse (see [`write()`]) from the same read.
pub(crate) async fn read_state(
    c: &Regional,
    t: &Target,
    access: &PullAccess,
) -> Result<PullAccessState, ApiError> {
    let want = statement(t, access);
    let (state, mut doc) = match read_policy(c, t).await? {
        None => (PullAccessState::Absent, Document::new_with(&want)),
        Some(text) => {
            let doc = parse(t, &text)?;
            match compared(&doc, &want) {
                PullAccessState::Matches => return Ok(PullAccessState::Matches),
                state => (state, doc),
            }
        }
    };
    doc.put(&want);
    let chars = doc.text().chars().count();
    Ok(if chars > POLICY_TEXT_MAX {
        PullAccessState::TooLong { chars }
    } else {
        state
    })
}

/// [`read_state`] without the limit: what the registry policy holds now (the compliance
/// report, which writes nothing).
pub(crate) async fn read_held(
    c: &Regional,
    t: &Target,
    access: &PullAccess,
) -> Result<PullAccessState, ApiError> {
    Ok(match read_policy(c, t).await? {
        None => PullAccessState::Absent,
        Some(text) => compared(&parse(t, &text)?, &statement(t, access)),
    })
}

fn compared(doc: &Document, want: &Value) -> PullAccessState {
    if doc.ours().is_none() {
        PullAccessState::Absent
    } else if doc.holds(want) {
        PullAccessState::Matches
    } else {
        PullAccessState::Differs
    }
}

/// Whether the registry policy holds a statement of ptc-rollout's, whatever it says (`destroy`
/// finds it even after `[pull_access]` left the rollout file): `Differs` when there is one.
pub(crate) async fn find_ours(
    c: &Regional,
    t: &Target,
) -> Result<Option<PullAccessState>, ApiError> {
    let Some(text) = read_policy(c, t).await? else {
        return Ok(None);
    };
    Ok(parse(t, &text)?.ours().map(|_| PullAccessState::Differs))
}

/// Writes to the registry policy that one target's run makes at most (the first, and one more
/// when another party's write undid it).
const WRITES: usize = 2;

/// Writes ptc-rollout's statement into the registry policy, read again just before, so that a
/// change another team made since the plan is kept. ECR has no conditional write, so the policy
/// is read once more after the write: another party that read before our write and wrote after
/// it has dropped our statement, which is then merged into the policy as it now stands
/// (theirs included) and written once more. A statement another party writes between our read
/// and our write is beyond reach: our write replaces it unseen.
pub(crate) async fn put(c: &Regional, t: &Target, access: &PullAccess) -> Result<(), ApiError> {
    let want = statement(t, access);
    let mut text = read_policy(c, t).await?;
    for writes in 0..=WRITES {
        let doc = match text.as_deref().map(|text| parse(t, text)).transpose()? {
            // What another party changed besides ours stays theirs: nothing more to write.
            Some(doc) if doc.holds(&want) => return Ok(()),
            Some(mut doc) => {
                doc.put(&want);
                doc
            }
            None => Document::new_with(&want),
        };
        if writes == WRITES {
            break;
        }
        if writes > 0 {
            tracing::info!(account = %t.account_id, region = %t.region, "the registry policy was rewritten without ptc-rollout's statement right after its write; writing it once more");
        }
        write(c, t, &doc.text()).await?;
        text = read_policy(c, t).await?;
    }
    Err(raced(
        t,
        "ecr:PutRegistryPolicy",
        "without ptc-rollout's statement",
    ))
}

/// Takes ptc-rollout's statement out of the registry policy. The policy is deleted only when a
/// read right before the delete still holds that statement alone (a statement another team
/// added since would go with it); otherwise it is written without ours. Then it is read again:
/// another party's write from a read before ours can bring our statement back, and it is taken
/// out once more.
pub(crate) async fn remove(c: &Regional, t: &Target) -> Result<(), ApiError> {
    let mut text = read_policy(c, t).await?;
    let mut writes = 0;
    loop {
        let Some(now) = text else {
            return Ok(());
        };
        let mut doc = parse(t, &now)?;
        if !doc.remove() {
            return Ok(());
        }
        if writes == WRITES {
            return Err(raced(
                t,
                "ecr:DeleteRegistryPolicy",
                "with ptc-rollout's statement back in it",
            ));
        }
        if doc.is_empty() {
            let last = read_policy(c, t).await?;
            let only_ours = match last.as_deref() {
                Some(last) => {
                    let mut doc = parse(t, last)?;
                    doc.remove() && doc.is_empty()
                }
                None => false,
            };
            if !only_ours {
                // Changed since: decided again from what is there now (written, not deleted,
                // when it holds other statements).
                text = last;
                continue;
            }
            let sent = c.ecr.delete_registry_policy().send().await;
            let none = |e: &DeleteRegistryPolicyError| e.is_registry_policy_not_found_exception();
            unless_absent(sent, none, t, "ecr:DeleteRegistryPolicy")?;
        } else {
            write(c, t, &doc.text()).await?;
        }
        writes += 1;
        text = read_policy(c, t).await?;
    }
}

/// The target's failure when another party kept rewriting the policy around our writes.
fn raced(t: &Target, call: &'static str, how: &str) -> ApiError {
    ApiError::new(
        &t.account_id,
        &t.region,
        call,
        format!("another party rewrote the registry policy right after each of ptc-rollout's {WRITES} writes, {how} (ECR has no conditional write); run again once the other writer is done"),
    )
}

/// ECR's limit on the registry policy text (the model's `RegistryPolicyText`, max 10,240).
const POLICY_TEXT_MAX: usize = 10_240;

/// Why a registry policy of `chars` characters is not written, and the fix: `plan`'s conflict
/// and `apply`'s error alike.
pub(crate) fn over_limit(chars: usize) -> String {
    format!(
        "the registry policy with ptc-rollout's statement would be {chars} characters, over \
         ECR's limit of {POLICY_TEXT_MAX} (ecr:PutRegistryPolicy refuses it); not written: \
         shorten or remove other statements of the registry policy, or name fewer principals in \
         [pull_access]"
    )
}

async fn write(c: &Regional, t: &Target, text: &str) -> Result<(), ApiError> {
    // ECR would refuse it with a ValidationException: say so with the count, and make no call.
    // `plan` found it already unless the policy grew since.
    let chars = text.chars().count();
    if chars > POLICY_TEXT_MAX {
        return Err(ApiError::new(
            &t.account_id,
            &t.region,
            "ecr:PutRegistryPolicy",
            over_limit(chars),
        ));
    }
    c.ecr
        .put_registry_policy()
        .policy_text(text)
        .send()
        .await
        .map_err(|e| ApiError::from_sdk(&t.account_id, &t.region, "ecr:PutRegistryPolicy", e))?;
    Ok(())
}

#[cfg(test)]
mod tests;
