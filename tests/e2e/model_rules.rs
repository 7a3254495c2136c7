//! The rollout file's checks against AWS's own service models: every entry of
//! `config::model_rules::MODEL_RULES` is held to the botocore model of each member its value is
//! sent in (tests/model_rules.py reads the models with the emulator's Python): the tool's bounds
//! are the model's, and the tool and the model judge alike the values at and beyond the bounds and
//! the entry's samples. Then the tags' limits through the binary.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support;
use ptc_rollout::model_rules::{
    session_name, Kind, Member, ModelRule, MODEL_RULES, SESSION_NAME_MEMBER,
};
use serde_json::{json, Value};
use support::{rollout_text, run, Emulator};

/// The model's constraints of one member and its verdict on each value sent.
struct Judged {
    shape: Value,
    takes: Vec<bool>,
}

/// Asks tests/model_rules.py about each (member, values); a missing Python fails, never skips.
fn judge(questions: &[(Member, Vec<String>)]) -> Vec<Judged> {
    let python = support::python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/model_rules.py");
    let input: Vec<Value> = questions
        .iter()
        .map(|(m, values)| {
            json!({"service": m.service, "operation": m.operation, "member": m.member,
                   "values": values})
        })
        .collect();
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}: the model check needs the emulator's Python with botocore \
                 and regex (source scripts/emulator-env.sh, or set PTC_EMULATOR_PYTHON)",
                python.display()
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::from(input).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "tests/model_rules.py failed with {} (botocore and regex installed? source \
         scripts/emulator-env.sh):\n{}",
        python.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    answers
        .into_iter()
        .map(|a| Judged {
            takes: a["takes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_bool().unwrap())
                .collect(),
            shape: a,
        })
        .collect()
}

/// The values tried for an entry: at and beyond its bounds, then its samples.
fn values(rule: &ModelRule) -> Vec<String> {
    let mut out = Vec::new();
    match rule.kind {
        Kind::Text {
            min, max, of_len, ..
        } => {
            if min > 0 {
                out.push(of_len(min - 1));
            }
            out.extend([of_len(min), of_len(max), of_len(max + 1)]);
        }
        Kind::Integer { min, max } => {
            out.extend([min - 1, min, max, max + 1].map(|n| n.to_string()));
        }
        Kind::Enum(values) => out.extend(values.iter().map(|v| v.to_string())),
        Kind::List { .. } => {}
    }
    out.extend(rule.samples.iter().map(|s| s.to_string()));
    out
}

fn tool_takes(rule: &ModelRule, value: &str) -> bool {
    match rule.kind {
        Kind::Text { check, .. } => check(value),
        Kind::Integer { min, max } => value.parse::<i64>().is_ok_and(|v| (min..=max).contains(&v)),
        Kind::Enum(values) => values.contains(&value),
        Kind::List { .. } => unreachable!("lists have no values to judge"),
    }
}

fn bounds(rule: &ModelRule) -> (Option<i64>, Option<i64>) {
    match rule.kind {
        Kind::Text { min, max, .. } => (Some(min as i64), Some(max as i64)),
        Kind::Integer { min, max } => (Some(min), Some(max)),
        Kind::List { min, max } => (Some(min as i64), Some(max as i64)),
        Kind::Enum(_) => (None, None),
    }
}

#[test]
fn the_rollout_files_checks_follow_the_service_models() {
    let mut questions = Vec::new();
    for rule in MODEL_RULES {
        let values = values(rule);
        for m in rule.sent_to {
            let wrapped = values.iter().map(|v| m.wrap.replace("{}", v)).collect();
            questions.push((*m, wrapped));
        }
    }
    let session = session_name(u64::MAX);
    questions.push((SESSION_NAME_MEMBER, vec![session_name(0), session.clone()]));
    let answers = judge(&questions);
    let mut answers = answers.iter();
    let mut problems = Vec::new();
    for rule in MODEL_RULES {
        let values = values(rule);
        let judged: Vec<&Judged> = rule
            .sent_to
            .iter()
            .map(|_| answers.next().unwrap())
            .collect();
        let first = &judged[0].shape;
        let member = |m: &Member| format!("{} {}.{}", m.service, m.operation, m.member);
        let head = format!("{} ({})", rule.field, member(&rule.sent_to[0]));
        // The bounds: the model's, or the documentation's where the model states none.
        let (mut min, mut max) = (first["min"].as_i64(), first["max"].as_i64());
        if let Some(d) = rule.documented {
            for (model, doc, which) in [(&mut min, d.min, "min"), (&mut max, d.max, "max")] {
                match (*model, doc) {
                    (Some(m), Some(doc)) if m != doc => problems.push(format!(
                        "{head}: the model's {which} {m} differs from the documented {doc} ({})",
                        d.source
                    )),
                    (None, doc) => *model = doc,
                    _ => {}
                }
            }
        }
        let min = min.or(match rule.kind {
            Kind::Text { .. } | Kind::List { .. } => Some(0),
            _ => None,
        });
        if bounds(rule) != (min, max) {
            problems.push(format!(
                "{head}: the tool's bounds {:?} are not the model's {:?}",
                bounds(rule),
                (min, max)
            ));
        }
        if let Kind::Enum(tool) = rule.kind {
            let model: Vec<&str> = first["enum"]
                .as_array()
                .map(|e| e.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if model != tool {
                problems.push(format!(
                    "{head}: the tool takes {tool:?}, the model {model:?}"
                ));
            }
        }
        if matches!(rule.kind, Kind::List { .. }) {
            continue;
        }
        for (i, value) in values.iter().enumerate() {
            let documented_len = rule.documented.is_none_or(|d| {
                let n = value.chars().count() as i64;
                d.min.is_none_or(|m| n >= m) && d.max.is_none_or(|m| n <= m)
            });
            let model = documented_len && judged.iter().all(|j| j.takes[i]);
            let tool = tool_takes(rule, value);
            if model != tool {
                let shown: String = value.chars().take(40).collect();
                problems.push(format!(
                    "{}: {:?}{} ({} characters): the tool {}, the model {}",
                    rule.field,
                    shown,
                    if shown.len() < value.len() { "..." } else { "" },
                    value.chars().count(),
                    if tool { "takes it" } else { "refuses it" },
                    if model { "takes it" } else { "refuses it" },
                ));
            }
        }
        // The entry tries something both take, not only what both refuse.
        if !values.iter().any(|v| tool_takes(rule, v)) {
            problems.push(format!("{head}: no value tried is taken"));
        }
    }
    let session_answer = answers.next().unwrap();
    assert!(
        session_answer.takes.iter().all(|t| *t),
        "STS refuses the session name ptc-rollout makes, e.g. {session}: {}",
        session_answer.shape
    );
    assert!(
        answers.next().is_none(),
        "every answer is read by one entry"
    );
    assert!(
        problems.is_empty(),
        "the rollout file's checks disagree with AWS's models:\n  {}",
        problems.join("\n  ")
    );
}

/// The secret's tags through the binary: characters, not bytes, count; two tags are the tool's.
#[test]
fn secret_tags_are_checked_as_secrets_manager_counts_them() {
    let emu = Emulator::start();
    let tags = |t: &str| rollout_text("").replace("tags = { team = \"platform\" }", t);
    let long_key = "é".repeat(128);
    // 128 two-byte characters: taken (the plan goes on to AWS).
    let cfg = emu.rollout(
        "ok.toml",
        &tags(&format!("tags = {{ \"{long_key}\" = \"v\" }}")),
    );
    let out = run(emu.cmd().args(["plan", "--config"]).arg(&cfg));
    assert!(!out.stderr.contains("rule.tags"), "{}", out.stderr);
    emu.reset_calls();
    let many: Vec<String> = (0..49).map(|i| format!("t{i} = \"v\"")).collect();
    for (name, text, expect) in [
        (
            "long.toml",
            tags(&format!("tags = {{ \"{long_key}é\" = \"v\" }}")),
            "rule.tags.",
        ),
        (
            "many.toml",
            tags(&format!("tags = {{ {} }}", many.join(", "))),
            "more than 48",
        ),
    ] {
        let cfg = emu.rollout(name, &text);
        let out = run(emu.cmd().args(["plan", "--config"]).arg(&cfg));
        assert_eq!(out.code, 2, "{name}: {}", out.stderr);
        assert!(out.stderr.contains(expect), "{name}: {}", out.stderr);
        assert!(out.stderr.contains("fix:"), "{}", out.stderr);
        assert!(emu.calls().is_empty(), "{name} called AWS");
    }
}
