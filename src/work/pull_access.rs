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

use crate::clients::Regional;
use crate::error::ApiError;
use crate::regions;
use crate::rollout::{PullAccess, Rollout};
use crate::target::{PullAccessState, Target};

/// The Sid of the one statement ptc-rollout owns in each registry policy.
pub const SID: &str = "PtcRolloutPullThroughCache";
/// What a first pull through the cache needs beyond the usual pull permissions.
pub const ACTIONS: [&str; 2] = ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"];

/// The statement the rollout file asks for in this target. Principals are matched by condition
/// (`aws:PrincipalArn`) rather than named as principals: IAM refuses a policy naming a role that
/// does not exist, and a role may exist in only some accounts; conditions also allow wildcards.
pub fn statement(t: &Target, r: &Rollout, access: &PullAccess) -> Value {
    let partition = regions::partition(&t.region);
    let prefix = r.ecr_repository_prefix.trim_end_matches('/');
    let repositories = if prefix == "ROOT" {
        "*".to_owned()
    } else {
        format!("{prefix}/*")
    };
    json!({
        "Sid": SID,
        "Effect": "Allow",
        "Principal": { "AWS": "*" },
        "Action": ACTIONS,
        "Resource": format!("arn:{partition}:ecr:{}:{}:repository/{repositories}", t.region, t.account_id),
        "Condition": {
            "StringEquals": { "aws:PrincipalAccount": t.account_id },
            "ArnLike": { "aws:PrincipalArn": access.principals(partition, &t.account_id) }
        }
    })
}

/// A policy document as its top-level members and statements, each kept as the exact text it
/// was read as.
#[derive(Debug)]
pub struct Document {
    members: Vec<(String, Box<RawValue>)>,
    /// Where the statements stand among the members.
    statement_at: usize,
    statements: Vec<Box<RawValue>>,
}

impl Document {
    pub fn parse(text: &str) -> Result<Self, String> {
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

    fn position(&self) -> Option<usize> {
        self.statements
            .iter()
            .position(|s| serde_json::from_str::<Value>(s.get()).is_ok_and(|v| v["Sid"] == SID))
    }

    /// ptc-rollout's statement, parsed.
    pub fn ours(&self) -> Option<Value> {
        self.position()
            .and_then(|i| serde_json::from_str(self.statements[i].get()).ok())
    }

    /// Replaces (in place) or adds ptc-rollout's statement.
    pub fn put(&mut self, statement: &Value) {
        let raw = RawValue::from_string(statement.to_string()).expect("valid JSON");
        match self.position() {
            Some(i) => self.statements[i] = raw,
            None => self.statements.push(raw),
        }
    }

    /// Takes ptc-rollout's statement out; whether one was there.
    pub fn remove(&mut self) -> bool {
        self.position().map(|i| self.statements.remove(i)).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// The document's text: members in their order, every statement as it was read.
    pub fn text(&self) -> String {
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
    pub fn new_with(statement: &Value) -> Self {
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
pub async fn read_policy(c: &Regional, t: &Target) -> Result<Option<String>, ApiError> {
    match c.ecr.get_registry_policy().send().await {
        Ok(out) => Ok(out.policy_text().map(str::to_owned)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_registry_policy_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(ApiError::from_sdk(
            &t.account_id,
            &t.region,
            "ecr:GetRegistryPolicy",
            e,
        )),
    }
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

/// Whether the registry policy holds the statement the rollout file asks for.
pub async fn read_state(
    c: &Regional,
    t: &Target,
    r: &Rollout,
    access: &PullAccess,
) -> Result<PullAccessState, ApiError> {
    let Some(text) = read_policy(c, t).await? else {
        return Ok(PullAccessState::Absent);
    };
    Ok(match parse(t, &text)?.ours() {
        None => PullAccessState::Absent,
        Some(have) if have == statement(t, r, access) => PullAccessState::Matches,
        Some(_) => PullAccessState::Differs,
    })
}

/// Writes ptc-rollout's statement into the registry policy, read again just before, so that a
/// change another team made since the plan is kept.
pub async fn put(
    c: &Regional,
    t: &Target,
    r: &Rollout,
    access: &PullAccess,
) -> Result<(), ApiError> {
    let want = statement(t, r, access);
    let doc = match read_policy(c, t).await? {
        Some(text) => {
            let mut doc = parse(t, &text)?;
            if doc.ours().as_ref() == Some(&want) {
                return Ok(());
            }
            doc.put(&want);
            doc
        }
        None => Document::new_with(&want),
    };
    write(c, t, &doc.text()).await
}

/// Takes ptc-rollout's statement out of the registry policy, deleting the policy only when
/// that statement was its last.
pub async fn remove(c: &Regional, t: &Target) -> Result<(), ApiError> {
    let Some(text) = read_policy(c, t).await? else {
        return Ok(());
    };
    let mut doc = parse(t, &text)?;
    if !doc.remove() {
        return Ok(());
    }
    if !doc.is_empty() {
        return write(c, t, &doc.text()).await;
    }
    match c.ecr.delete_registry_policy().send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_registry_policy_not_found_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(ApiError::from_sdk(
            &t.account_id,
            &t.region,
            "ecr:DeleteRegistryPolicy",
            e,
        )),
    }
}

async fn write(c: &Regional, t: &Target, text: &str) -> Result<(), ApiError> {
    c.ecr
        .put_registry_policy()
        .policy_text(text)
        .send()
        .await
        .map_err(|e| ApiError::from_sdk(&t.account_id, &t.region, "ecr:PutRegistryPolicy", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOREIGN: &str = r#"{ "Sid" : "Replication",  "Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/*"}"#;

    #[test]
    fn other_statements_are_kept_byte_for_byte() {
        let text =
            format!("{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [ {FOREIGN} ]\n}}");
        let mut doc = Document::parse(&text).unwrap();
        assert!(doc.ours().is_none());
        let ours = json!({"Sid": SID, "Effect": "Allow"});
        doc.put(&ours);
        let written = doc.text();
        assert!(written.contains(FOREIGN), "{written}");
        let back = Document::parse(&written).unwrap();
        assert_eq!(back.ours(), Some(ours.clone()));
        // Replaced in place, then removed: the foreign statement is untouched throughout.
        let mut doc = back;
        doc.put(&json!({"Sid": SID, "Effect": "Deny"}));
        assert_eq!(doc.statements.len(), 2);
        assert!(doc.remove());
        assert!(!doc.is_empty());
        assert!(doc.text().contains(FOREIGN));
        assert_eq!(
            serde_json::from_str::<Value>(&doc.text()).unwrap(),
            serde_json::from_str::<Value>(&text).unwrap()
        );
    }

    #[test]
    fn a_single_statement_object_and_a_new_document_are_understood() {
        let doc = Document::parse(&format!(
            "{{\"Statement\": {FOREIGN}, \"Version\": \"2012-10-17\"}}"
        ))
        .unwrap();
        assert_eq!(doc.statements.len(), 1);
        assert!(doc.text().contains(FOREIGN));
        let new = Document::new_with(&json!({"Sid": SID}));
        let v: Value = serde_json::from_str(&new.text()).unwrap();
        assert_eq!(v["Version"], "2012-10-17");
        assert_eq!(v["Statement"][0]["Sid"], SID);
        assert!(Document::parse("[1]").is_err());
    }
}
