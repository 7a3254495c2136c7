//! AWS's front-end check of a request against its operation's input shape in the service
//! model, before the service sees it: required members, string and list lengths, patterns,
//! enums, integer ranges. The constraints come from [`model_table`](super::model_table),
//! generated from botocore's models by `scripts/model-table.py`; the answers are the ones
//! emulator/model_check.py gives, so both test doubles refuse alike (tests/e2e/conformance.rs):
//! "1 validation error detected: Value 'X' at 'member' failed to satisfy constraint: Member
//! must ...", several joined by "; ", with the code each service answers for invalid input
//! (STS ValidationError; Organizations InvalidInputException with a Reason; Account
//! ValidationException with a fieldList; ECR ValidationException where the operation's model
//! lists it, else and for repository prefixes its own InvalidParameterException; Secrets
//! Manager and KMS ValidationException). A sensitive member's value (SecretString) is never shown.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::LazyLock;

use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use regex::Regex;
use serde_json::{Map, Value};

mod answer;
mod query;

use super::model_table::{OPERATIONS, PATTERNS};
use super::wire::{self, Json, Reply};
use answer::answer;
use query::{form_pairs, query_value};

/// Members ECR checks as repository names, answering its own InvalidParameterException
/// (emulator/model_check.py's `ECR_REPOSITORY_PREFIX_MEMBERS`).
const ECR_PREFIX_MEMBERS: &[&str] = &[
    "ecrRepositoryPrefix",
    "prefix",
    "ecrRepositoryPrefixes",
    "prefixes",
];

/// The models' patterns, compiled once, in [`PATTERNS`]' order.
static COMPILED: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    PATTERNS
        .iter()
        .map(|(model, rust)| {
            Regex::new(rust).unwrap_or_else(|e| panic!("the model's pattern {model}: {e}"))
        })
        .collect()
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Organizations,
    Sts,
    Account,
    Secrets,
    Ecr,
    /// KMS DescribeKey only: the simulation does not serve KMS, but refuses what its model does.
    Kms,
}

/// An operation's input shape, and whether its model lists ValidationException (ECR answers
/// InvalidParameterException for the operations whose models do not).
pub(crate) struct Op {
    service: Service,
    name: &'static str,
    lists_validation: bool,
    input: &'static Shape,
}

impl Op {
    pub(crate) const fn new(
        service: Service,
        name: &'static str,
        lists_validation: bool,
        input: &'static Shape,
    ) -> Op {
        Op {
            service,
            name,
            lists_validation,
            input,
        }
    }
}

/// A shape of the model with the constraints the front end checks.
pub(crate) struct Shape {
    sensitive: bool,
    kind: Kind,
}

type Len = Option<u32>;

enum Kind {
    /// Nothing to check (a member of a list or map without constraints).
    Any,
    Str {
        min: Len,
        max: Len,
        /// Index into [`PATTERNS`].
        pattern: Option<usize>,
        values: &'static [&'static str],
    },
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    List {
        min: Len,
        max: Len,
        member: &'static Shape,
    },
    // Kept for tables whose operations take maps (none of today's do).
    #[allow(dead_code)]
    Map {
        min: Len,
        max: Len,
        key: &'static Shape,
        value: &'static Shape,
    },
    Struct {
        required: &'static [&'static str],
        members: &'static [(&'static str, &'static Shape)],
    },
}

impl Shape {
    #[allow(dead_code)] // a list member without constraints: none in today's table
    pub(crate) const ANY: Shape = Shape::of(Kind::Any);

    const fn of(kind: Kind) -> Shape {
        Shape {
            sensitive: false,
            kind,
        }
    }
    pub(crate) const fn string(
        min: Len,
        max: Len,
        pattern: Option<usize>,
        values: &'static [&'static str],
    ) -> Shape {
        Shape::of(Kind::Str {
            min,
            max,
            pattern,
            values,
        })
    }
    pub(crate) const fn int(min: Option<i64>, max: Option<i64>) -> Shape {
        Shape::of(Kind::Int { min, max })
    }
    pub(crate) const fn list(min: Len, max: Len, member: &'static Shape) -> Shape {
        Shape::of(Kind::List { min, max, member })
    }
    #[allow(dead_code)] // see Kind::Map
    pub(crate) const fn map(
        min: Len,
        max: Len,
        key: &'static Shape,
        value: &'static Shape,
    ) -> Shape {
        Shape::of(Kind::Map {
            min,
            max,
            key,
            value,
        })
    }
    pub(crate) const fn structure(
        required: &'static [&'static str],
        members: &'static [(&'static str, &'static Shape)],
    ) -> Shape {
        Shape::of(Kind::Struct { required, members })
    }
    pub(crate) const fn sensitive(self) -> Shape {
        Shape {
            sensitive: true,
            ..self
        }
    }
}

/// Which constraint a value broke (Organizations answers a Reason for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broken {
    Required,
    MinLength,
    MaxLength,
    Pattern,
    Enum,
    MinValue,
    MaxValue,
}

struct Violation {
    path: String,
    /// `None`: a required member missing ("Value null").
    value: Option<String>,
    shown: bool,
    constraint: String,
    broken: Broken,
    /// The top-level member, as the model spells it.
    member: &'static str,
}

impl Violation {
    fn new(
        path: String,
        value: Option<String>,
        shown: bool,
        constraint: String,
        broken: Broken,
    ) -> Self {
        Violation {
            path,
            value,
            shown,
            constraint,
            broken,
            member: "",
        }
    }

    fn text(&self) -> String {
        let value = match (&self.value, self.shown) {
            (None, _) => Cow::Borrowed("Value null"),
            (Some(_), false) => Cow::Borrowed("Value"),
            (Some(v), true) => Cow::Owned(format!("Value '{v}'")),
        };
        format!(
            "{value} at '{}' failed to satisfy constraint: {}",
            self.path, self.constraint
        )
    }
}

/// The refusal AWS's front end answers a request that breaks its operation's model, or `None`
/// (also for operations the table does not know, and bodies that are not the protocol's).
pub(crate) fn refusal(req: &HttpRequest) -> Option<Reply> {
    let body = req.body().bytes().unwrap_or_default();
    let (service, action) = operation(req, body)?;
    let op = OPERATIONS
        .iter()
        .find(|o| o.service == service && o.name == action)?;
    let Kind::Struct { required, members } = op.input.kind else {
        return None;
    };
    let value = match service {
        Service::Sts => query_value(op.input, &form_pairs(body), ""),
        _ if body.trim_ascii().is_empty() => Value::Object(Map::new()),
        _ => serde_json::from_slice(body).ok()?,
    };
    let input = value.as_object()?;
    let mut found = Vec::new();
    for &name in required {
        if present(input, name).is_none() {
            let mut v = Violation::new(
                lower_first(name),
                None,
                true,
                "Member must not be null".into(),
                Broken::Required,
            );
            v.member = name;
            found.push(v);
        }
    }
    for &(name, shape) in members {
        if let Some(value) = present(input, name) {
            let start = found.len();
            check(shape, value, &lower_first(name), &mut found, false);
            found[start..].iter_mut().for_each(|v| v.member = name);
        }
    }
    (!found.is_empty()).then(|| answer(op, &found))
}

/// The service and action of a request: `X-Amz-Target`, Account Management's path, or STS's
/// `Action=` field.
fn operation<'a>(req: &'a HttpRequest, body: &'a [u8]) -> Option<(Service, Cow<'a, str>)> {
    if let Some(target) = req.headers().get("x-amz-target") {
        let (prefix, action) = target.split_once('.')?;
        let service = match prefix {
            "AWSOrganizationsV20161128" => Service::Organizations,
            "secretsmanager" => Service::Secrets,
            "AmazonEC2ContainerRegistry_V20150921" => Service::Ecr,
            "TrentService" => Service::Kms,
            _ => return None,
        };
        return Some((service, Cow::Borrowed(action)));
    }
    if req.uri().ends_with("/getRegionOptStatus") {
        return Some((Service::Account, Cow::Borrowed("GetRegionOptStatus")));
    }
    let body = std::str::from_utf8(body).ok()?;
    Some((Service::Sts, wire::form_value(body, "Action")?))
}

fn present<'v>(input: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    input.get(name).filter(|v| !v.is_null())
}

fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

fn join(path: &str, member: &str) -> String {
    if path.is_empty() {
        lower_first(member)
    } else {
        format!("{path}.{}", lower_first(member))
    }
}

fn check(shape: &Shape, value: &Value, path: &str, out: &mut Vec<Violation>, hide: bool) {
    let hide = hide || shape.sensitive;
    let shown = !hide;
    match shape.kind {
        Kind::Any => {}
        Kind::Struct { required, members } => {
            let Some(obj) = value.as_object() else { return };
            for &name in required {
                if present(obj, name).is_none() {
                    let c = "Member must not be null".into();
                    out.push(Violation::new(
                        join(path, name),
                        None,
                        true,
                        c,
                        Broken::Required,
                    ));
                }
            }
            for &(name, member) in members {
                if let Some(v) = present(obj, name) {
                    check(member, v, &join(path, name), out, hide);
                }
            }
        }
        Kind::List { min, max, member } => {
            let Some(items) = value.as_array() else {
                return;
            };
            length(min, max, items.len(), path, value, shown, out);
            if matches!(
                member.kind,
                Kind::Struct { .. } | Kind::List { .. } | Kind::Map { .. }
            ) {
                for (i, item) in items.iter().enumerate() {
                    check(member, item, &format!("{path}.{}.member", i + 1), out, hide);
                }
                return;
            }
            // A list of scalars: AWS names the list and nests the members' constraints.
            let mut inner = Vec::new();
            for item in items {
                check(member, item, path, &mut inner, hide);
            }
            let Some(first) = inner.first() else { return };
            let mut seen: Vec<&str> = Vec::new();
            for v in &inner {
                if !seen.contains(&v.constraint.as_str()) {
                    seen.push(&v.constraint);
                }
            }
            let c = format!("Member must satisfy constraint: [{}]", seen.join(", "));
            let shown = shown && inner.iter().all(|v| v.shown);
            out.push(Violation::new(
                path.into(),
                Some(java_str(value)),
                shown,
                c,
                first.broken,
            ));
        }
        Kind::Map {
            min,
            max,
            key,
            value: item_shape,
        } => {
            let Some(obj) = value.as_object() else { return };
            length(min, max, obj.len(), path, value, shown, out);
            for (k, item) in obj {
                check(
                    key,
                    &Value::String(k.clone()),
                    &format!("{path}.key"),
                    out,
                    hide,
                );
                check(item_shape, item, &format!("{path}.{k}"), out, hide);
            }
        }
        Kind::Str {
            min,
            max,
            pattern,
            values,
        } => {
            let Some(s) = value.as_str() else { return };
            length(min, max, s.chars().count(), path, value, shown, out);
            if let Some(i) = pattern.filter(|&i| !COMPILED[i].is_match(s)) {
                let c = format!(
                    "Member must satisfy regular expression pattern: {}",
                    PATTERNS[i].0
                );
                out.push(Violation::new(
                    path.into(),
                    Some(s.into()),
                    shown,
                    c,
                    Broken::Pattern,
                ));
            }
            if !values.is_empty() && !values.contains(&s) {
                let c = format!(
                    "Member must satisfy enum value set: [{}]",
                    values.join(", ")
                );
                out.push(Violation::new(
                    path.into(),
                    Some(s.into()),
                    shown,
                    c,
                    Broken::Enum,
                ));
            }
        }
        Kind::Int { min, max } => {
            let Some(n) = value.as_i64() else { return };
            let shown_n = || Some(n.to_string());
            if let Some(m) = min.filter(|&m| n < m) {
                let c = format!("Member must have value greater than or equal to {m}");
                out.push(Violation::new(
                    path.into(),
                    shown_n(),
                    shown,
                    c,
                    Broken::MinValue,
                ));
            }
            if let Some(m) = max.filter(|&m| n > m) {
                let c = format!("Member must have value less than or equal to {m}");
                out.push(Violation::new(
                    path.into(),
                    shown_n(),
                    shown,
                    c,
                    Broken::MaxValue,
                ));
            }
        }
    }
}

fn length(
    min: Len,
    max: Len,
    n: usize,
    path: &str,
    value: &Value,
    shown: bool,
    out: &mut Vec<Violation>,
) {
    if let Some(m) = min.filter(|&m| n < m as usize) {
        let c = format!("Member must have length greater than or equal to {m}");
        out.push(Violation::new(
            path.into(),
            Some(java_str(value)),
            shown,
            c,
            Broken::MinLength,
        ));
    }
    if let Some(m) = max.filter(|&m| n > m as usize) {
        let c = format!("Member must have length less than or equal to {m}");
        out.push(Violation::new(
            path.into(),
            Some(java_str(value)),
            shown,
            c,
            Broken::MaxLength,
        ));
    }
}

/// A value as the emulator writes it into a message: strings bare, lists `[a, b]`.
fn java_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(java_str).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// The violations of one string against a shape of the table, as AWS words them (`Err` with
/// "1 validation error detected: ..."), for the service code's own checks.
pub(crate) fn check_str(shape: &Shape, value: &str, member: &str) -> Result<(), String> {
    let mut found = Vec::new();
    check(
        shape,
        &Value::String(value.into()),
        &lower_first(member),
        &mut found,
        false,
    );
    if found.is_empty() {
        return Ok(());
    }
    let n = found.len();
    let plural = if n > 1 { "s" } else { "" };
    let detail: Vec<String> = found.iter().map(Violation::text).collect();
    Err(format!(
        "{n} validation error{plural} detected: {}",
        detail.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(COMPILED.len(), PATTERNS.len());
    }
}
