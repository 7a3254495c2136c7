//! The GitLab CI recipe, plans/gitlab-ci.yml, against GitLab's published CI schema and the
//! command line it drives: every `ptc-rollout` command in its scripts names a real subcommand
//! (nested ones too: `token status`) with only that subcommand's flags, the apply is gated and
//! carries out the plan job's saved plan, the compliance report runs from a schedule, the token
//! rotation runs from the schedule alone, never beside an apply, status then mint then rotate
//! then revoke-old, and the GitLab tokens never reach a command line. The plan, apply, report
//! and rotation jobs' scripts also run, as GitLab's shell would run them, against the emulator.
//! This file reads the recipe; the checks are in ci_recipe/. The project's own CI,
//! .gitlab-ci.yml, is held to the same schema and to Cargo.toml's rust-version (project_ci.rs).

mod command_line;
mod commands;
mod jobs;
mod project_ci;
mod rotation;
mod rotation_run;
mod schema;
mod scripts_run;
mod shell;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support;
use command_line::{parse_invocation, Invocation};
use serde_norway::{Mapping, Value};
use shell::ptc_invocations;
use support::{read_report, rollout_text, Emulator};

const RECIPE: &str = "plans/gitlab-ci.yml";
const TOKEN_VARIABLE: &str = "GITLAB_REGISTRY_TOKEN";
/// The GitLab API token's variable ([gitlab] api_token_env): never on a command line either.
const API_TOKEN_VARIABLE: &str = "GITLAB_API_TOKEN";

// --- the recipe as data --------------------------------------------------------------------

/// Top-level keys of .gitlab-ci.yml that are not jobs.
const GLOBAL_KEYWORDS: &[&str] = &[
    "stages",
    "workflow",
    "variables",
    "default",
    "include",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
    "spec",
];
const SCRIPT_KEYS: &[&str] = &["before_script", "script", "after_script"];

fn recipe_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(RECIPE);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn recipe() -> Value {
    let mut doc: Value = serde_norway::from_str(&recipe_text())
        .unwrap_or_else(|e| panic!("{RECIPE} is not valid YAML: {e}"));
    doc.apply_merge()
        .unwrap_or_else(|e| panic!("{RECIPE}: bad YAML merge key: {e}"));
    doc
}

/// Every job, hidden templates (`.name`) included, by name. (That the top level is a mapping
/// is the schema test's to check.)
fn jobs(doc: &Value) -> BTreeMap<String, Mapping> {
    doc.as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let name = k.as_str()?;
            let job = v.as_mapping()?;
            (!GLOBAL_KEYWORDS.contains(&name)).then(|| (name.to_owned(), job.clone()))
        })
        .collect()
}

/// A job with what it `extends` filled in (shallow: the job's own keys win), as GitLab does for
/// the keys these checks read.
fn resolved(jobs: &BTreeMap<String, Mapping>, name: &str) -> Mapping {
    let job = &jobs[name];
    // Its shape is the schema test's; that the parents exist is not in the schema.
    let parents = str_list(job.get("extends"));
    let mut out = Mapping::new();
    for parent in parents {
        assert!(
            jobs.contains_key(&parent),
            "{name} extends unknown {parent}"
        );
        for (k, v) in resolved(jobs, &parent) {
            out.insert(k, v);
        }
    }
    for (k, v) in job {
        if k.as_str() != Some("extends") {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// The script entries of one script key: a string or a (possibly nested) list of strings.
fn script_entries(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Sequence(seq) => seq.iter().for_each(|x| script_entries(x, out)),
        Value::Null => {}
        // Not a shape check (the schema test has those): GitLab allows a `!reference` here, and
        // the commands it brings in would go unchecked.
        other => panic!("{RECIPE}: this test cannot read the script entry {other:?}"),
    }
}

fn scripts(job: &Mapping, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = job.get(key) {
        script_entries(v, &mut out);
    }
    out
}

fn all_scripts(job: &Mapping) -> Vec<String> {
    SCRIPT_KEYS.iter().flat_map(|k| scripts(job, k)).collect()
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Sequence(seq) => seq.iter().for_each(|x| strings(x, out)),
        Value::Mapping(m) => m.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out)
        }),
        Value::Tagged(t) => strings(&t.value, out),
        _ => {}
    }
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = v {
        strings(v, &mut out);
    }
    out
}

/// Every `ptc-rollout` command of every job, checked; panics with the job and the line on the
/// first that is not a valid command line.
fn invocations(doc: &Value) -> Vec<(String, Invocation)> {
    let mut out = Vec::new();
    let all = jobs(doc);
    // The jobs GitLab runs, with what they extend: a hidden template (`.name`) runs only
    // through them.
    for name in all.keys().filter(|n| !n.starts_with('.')) {
        let job = resolved(&all, name);
        for entry in all_scripts(&job) {
            for args in ptc_invocations(&entry) {
                match parse_invocation(&args) {
                    Ok(inv) => out.push((name.clone(), inv)),
                    Err(e) => panic!("{RECIPE}, job {name}: {e}\n  in: {entry}"),
                }
            }
        }
    }
    out
}

fn jobs_running(doc: &Value, sub: &str) -> Vec<(String, Invocation)> {
    invocations(doc)
        .into_iter()
        .filter(|(_, inv)| inv.subcommand.as_deref() == Some(sub))
        .collect()
}

fn rules(job: &Mapping) -> Vec<Mapping> {
    job.get("rules")
        .and_then(Value::as_sequence)
        .map(|s| s.iter().filter_map(|r| r.as_mapping().cloned()).collect())
        .unwrap_or_default()
}

fn when(m: &Mapping) -> Option<&str> {
    m.get("when").and_then(Value::as_str)
}

/// `if:` text without spaces and with one kind of quote, for comparing conditions.
fn condition(rule: &Mapping) -> String {
    rule.get("if")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == '\'' { '"' } else { c })
        .collect()
}

/// The jobs a job needs, and whether it takes their artifacts. Entries without `job` (another
/// project's or pipeline's) are not this pipeline's jobs; the schema test checks the shapes.
fn needs(job: &Mapping) -> Vec<(String, bool)> {
    let entries = job.get("needs").and_then(Value::as_sequence);
    entries
        .into_iter()
        .flatten()
        .filter_map(|n| match n {
            Value::String(name) => Some((name.clone(), true)),
            Value::Mapping(m) => Some((
                m.get("job")?.as_str()?.to_owned(),
                m.get("artifacts").and_then(Value::as_bool).unwrap_or(true),
            )),
            _ => None,
        })
        .collect()
}

fn artifact_paths(job: &Mapping) -> Vec<String> {
    str_list(job.get("artifacts").and_then(|a| a.get("paths")))
}

/// The files a job publishes as `artifacts:reports:junit`.
fn junit_reports(job: &Mapping) -> Vec<String> {
    str_list(
        job.get("artifacts")
            .and_then(|a| a.get("reports"))
            .and_then(|r| r.get("junit")),
    )
}
