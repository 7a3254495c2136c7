//! The GitLab CI recipe, plans/gitlab-ci.yml, against the command line it drives: it parses as
//! YAML, every `ptc-rollout` command in its scripts names a real subcommand with only that
//! subcommand's flags, the apply is gated and carries out the plan job's saved plan, the
//! compliance report runs from a schedule, and the GitLab token never reaches a command line.
//! The plan, apply and report jobs' scripts also run, as GitLab's shell would run them, against
//! the emulator.

#[path = "ci_recipe/command_line.rs"]
mod command_line;
#[path = "ci_recipe/scripts_run.rs"]
mod scripts_run;
#[path = "ci_recipe/shell.rs"]
mod shell;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use command_line::{parse_invocation, Invocation};
use serde_norway::{Mapping, Value};
use shell::ptc_invocations;
use support::{read_report, rollout_text, Emulator};

const RECIPE: &str = "plans/gitlab-ci.yml";
const TOKEN_VARIABLE: &str = "GITLAB_REGISTRY_TOKEN";

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
    assert!(
        doc.is_mapping(),
        "{RECIPE}: the top level must be a mapping"
    );
    doc
}

/// Every job, hidden templates (`.name`) included, by name.
fn jobs(doc: &Value) -> BTreeMap<String, Mapping> {
    doc.as_mapping()
        .unwrap()
        .iter()
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
    let parents: Vec<String> = match job.get("extends") {
        None => vec![],
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(seq)) => seq
            .iter()
            .map(|v| v.as_str().expect("extends: names").to_owned())
            .collect(),
        Some(other) => panic!("{name}: extends must be a name or a list, not {other:?}"),
    };
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
        other => panic!("{RECIPE}: a script entry must be a string, not {other:?}"),
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
    for (name, job) in jobs(doc) {
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

fn needs(job: &Mapping) -> Vec<(String, bool)> {
    job.get("needs")
        .and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .map(|n| match n {
                    Value::String(name) => (name.clone(), true),
                    Value::Mapping(m) => (
                        m.get("job")
                            .and_then(Value::as_str)
                            .expect("needs: job")
                            .to_owned(),
                        m.get("artifacts").and_then(Value::as_bool).unwrap_or(true),
                    ),
                    other => panic!("needs: unexpected {other:?}"),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn artifact_paths(job: &Mapping) -> Vec<String> {
    str_list(job.get("artifacts").and_then(|a| a.get("paths")))
}

// --- the checks ------------------------------------------------------------------------------------

#[test]
fn the_recipe_parses_and_names_only_real_subcommands_and_flags() {
    let doc = recipe();
    let found = invocations(&doc);
    let used: BTreeSet<&str> = found
        .iter()
        .filter_map(|(_, i)| i.subcommand.as_deref())
        .collect();
    for sub in ["plan", "apply", "report"] {
        assert!(
            used.contains(sub),
            "{RECIPE} never runs `ptc-rollout {sub}`"
        );
    }
    let stages = str_list(doc.get("stages"));
    assert_eq!(stages, ["build", "plan", "apply", "report"], "stages");
    for (job, inv) in &found {
        if inv.subcommand.is_some() {
            assert!(
                inv.has("--no-progress"),
                "{job}: ptc-rollout in CI runs with --no-progress"
            );
        }
    }
    // Each job runs in a declared stage.
    for (name, job) in jobs(&doc) {
        if name.starts_with('.') {
            continue;
        }
        let stage = job.get("stage").and_then(Value::as_str).unwrap_or("test");
        assert!(
            stages.iter().any(|s| s == stage),
            "{name}: stage {stage} is not in stages"
        );
    }
}

#[test]
fn the_shell_reader_finds_commands_as_bash_would() {
    let found = |s: &str| ptc_invocations(s);
    assert_eq!(
        found("ptc-rollout plan --config x"),
        [["plan", "--config", "x"]]
    );
    assert_eq!(
        found("status=0; X=1 ptc-rollout plan -c \"$F\" 2>&1 | tee plan.txt || status=$?"),
        [["plan", "-c", "$F"]]
    );
    assert_eq!(found("bin/ptc-rollout --version > v.txt"), [["--version"]]);
    assert_eq!(
        found("if true; then ./ptc-rollout apply \\\n  --yes >>log; fi"),
        [["apply", "--yes"]]
    );
    // Not commands: arguments, quoted text, comments.
    assert!(found("cp target/release/ptc-rollout bin/").is_empty());
    assert!(found("echo \"ptc-rollout plan: changes\" # ptc-rollout apply").is_empty());
    assert!(found("printf '%s' 'ptc-rollout apply' >&2").is_empty());
    assert_eq!(
        found("case \"$s\" in\n  3) ptc-rollout validate --config c ;;\nesac"),
        [["validate", "--config", "c"]]
    );

    let ok = |s: &[&str]| parse_invocation(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    assert!(ok(&["-q", "plan", "--config=c", "--out", "p.json", "-vv"]).is_ok());
    assert!(ok(&["report", "--config", "c", "--format", "csv", "--out", "x.csv"]).is_ok());
    for (bad, why) in [
        (&["plan", "--config", "c", "--yes"][..], "has no flag --yes"),
        (&["plan", "--out", "p.json"], "needs --config"),
        (&["deploy", "--config", "c"], "no subcommand `deploy`"),
        (&["apply", "--config", "c", "--yes=1"], "takes no value"),
        (&["apply", "--config"], "needs a value"),
        (
            &["report", "--config", "c", "--format", "table"],
            "takes one of",
        ),
        (
            &["apply", "--config", "c", "--max-failures", "ten"],
            "N or N%",
        ),
        (
            &["validate", "--config", "c", "extra"],
            "unexpected argument",
        ),
        (
            &["--out", "x", "plan", "--config", "c"],
            "not a global flag",
        ),
        (
            &["iam-policy", "--config", "c", "--regions", "x"],
            "has no flag --regions",
        ),
    ] {
        let e = ok(bad).expect_err(&format!("{bad:?} must be refused"));
        assert!(e.contains(why), "{bad:?}: {e}");
    }
}

#[test]
fn every_subcommand_and_flag_the_recipe_uses_exists() {
    // Runs `ptc-rollout <cmd> --help` for each subcommand the recipe uses: fails until the
    // binary has them all (and every flag the recipe passes them).
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, inv) in invocations(&recipe()) {
        if let Some(sub) = inv.subcommand {
            used.entry(sub)
                .or_default()
                .extend(inv.flags.into_iter().map(|(f, _)| f));
        }
    }
    let mut missing = Vec::new();
    for (sub, flags) in &used {
        let out = Command::new(env!("CARGO_BIN_EXE_ptc-rollout"))
            .args([sub.as_str(), "--help"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if !out.status.success() {
            missing.push(format!(
                "`ptc-rollout {sub} --help` exited {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            continue;
        }
        let help = String::from_utf8_lossy(&out.stdout);
        for flag in flags {
            let listed = help
                .split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == ']')
                .any(|w| w == flag);
            if !listed {
                missing.push(format!("`ptc-rollout {sub} --help` does not list {flag}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{RECIPE} uses what the binary lacks:\n{}",
        missing.join("\n")
    );
}

#[test]
fn apply_is_manual_and_carries_out_the_plan_jobs_saved_plan() {
    let doc = recipe();
    let all = jobs(&doc);
    let applies = jobs_running(&doc, "apply");
    assert!(!applies.is_empty());
    let plans = jobs_running(&doc, "plan");
    for (name, inv) in &applies {
        let job = resolved(&all, name);
        let plan_file = inv
            .value("--plan")
            .unwrap_or_else(|| panic!("{name}: apply must carry out a saved plan (--plan)"));
        assert!(
            inv.has("--yes") || inv.has("-y"),
            "{name}: CI has no terminal: apply needs --yes"
        );
        // The gate: manual on every path that runs the job.
        let rules = rules(&job);
        if rules.is_empty() {
            assert_eq!(when(&job), Some("manual"), "{name}: needs `when: manual`");
        } else {
            let running: Vec<&Mapping> =
                rules.iter().filter(|r| when(r) != Some("never")).collect();
            assert!(!running.is_empty(), "{name}: no rule runs it");
            for r in running {
                assert_eq!(
                    when(r),
                    Some("manual"),
                    "{name}: rule {:?} runs apply without `when: manual`",
                    condition(r)
                );
            }
        }
        // The plan comes from this pipeline's plan job, as its artifact.
        let (plan_job, _) = plans
            .iter()
            .find(|(_, p)| p.value("--out") == Some(plan_file))
            .unwrap_or_else(|| panic!("{name}: no job runs `plan --out {plan_file}`"));
        let plan_def = resolved(&all, plan_job);
        assert!(
            artifact_paths(&plan_def).iter().any(|p| p == plan_file),
            "{plan_job}: {plan_file} must be an artifact"
        );
        assert!(
            needs(&job)
                .iter()
                .any(|(n, artifacts)| n == plan_job && *artifacts),
            "{name}: needs the artifacts of {plan_job}"
        );
        if let Some(report) = inv.value("--report") {
            assert!(
                artifact_paths(&job).iter().any(|p| p == report),
                "{name}: {report} must be an artifact"
            );
        }
    }
    // The plan job reports pending changes without failing: --detailed-exitcode's 3 is handled.
    for (name, inv) in &plans {
        if inv.has("--detailed-exitcode") {
            let job = resolved(&all, name);
            let in_script = all_scripts(&job)
                .iter()
                .any(|s| s.contains("3)") || s.contains("-eq 3"));
            let allowed = job
                .get("allow_failure")
                .and_then(|a| a.get("exit_codes"))
                .is_some_and(|c| {
                    c.as_i64() == Some(3)
                        || c.as_sequence()
                            .is_some_and(|s| s.iter().any(|x| x.as_i64() == Some(3)))
                });
            let handled = in_script || allowed;
            assert!(
                handled,
                "{name}: plan --detailed-exitcode exits 3 when changes are pending: handle it"
            );
        }
    }
}

#[test]
fn the_compliance_report_runs_from_a_schedule_and_is_kept() {
    let doc = recipe();
    let all = jobs(&doc);
    let reports = jobs_running(&doc, "report");
    assert!(!reports.is_empty());
    for (name, inv) in &reports {
        let job = resolved(&all, name);
        let scheduled = rules(&job).iter().any(|r| {
            condition(r).contains("$CI_PIPELINE_SOURCE==\"schedule\"") && when(r) != Some("never")
        });
        assert!(
            scheduled,
            "{name}: needs a rule `if: $CI_PIPELINE_SOURCE == \"schedule\"`"
        );
        let out = inv
            .value("--out")
            .unwrap_or_else(|| panic!("{name}: report --out FILE"));
        assert!(
            artifact_paths(&job).iter().any(|p| p == out),
            "{name}: {out} must be an artifact"
        );
        assert!(
            job.get("artifacts")
                .and_then(|a| a.get("expire_in"))
                .is_some(),
            "{name}: say how long the report is kept (artifacts:expire_in)"
        );
    }
}

#[test]
fn the_weekly_pull_check_proves_pulls_from_the_schedule_and_is_kept() {
    let doc = recipe();
    let all = jobs(&doc);
    let checks: Vec<_> = jobs_running(&doc, "validate")
        .into_iter()
        .filter(|(_, inv)| inv.has("--probe-image"))
        .collect();
    assert!(
        !checks.is_empty(),
        "a scheduled job must run validate --probe-image"
    );
    for (name, inv) in &checks {
        let job = resolved(&all, name);
        assert!(
            rules(&job)
                .iter()
                .any(|r| condition(r).contains("$CI_PIPELINE_SOURCE==\"schedule\"")),
            "{name}: runs from the schedule"
        );
        let out = inv.value("--report").expect("validate --report FILE");
        assert!(
            artifact_paths(&job).iter().any(|p| p == out),
            "{name}: {out} must be an artifact"
        );
    }
}

#[test]
fn the_token_never_reaches_a_command_line() {
    let doc = recipe();
    for (name, job) in jobs(&doc) {
        for entry in all_scripts(&job) {
            assert!(
                !entry.contains(TOKEN_VARIABLE),
                "{name}: {TOKEN_VARIABLE} in a script line (ptc-rollout reads it from the environment):\n{entry}"
            );
        }
    }
    // Nor is it copied anywhere else (variables, rules): GitLab's environment is the only way in.
    // (Comments are not values, so the setup notes may name it.)
    let mut all = Vec::new();
    strings(&doc, &mut all);
    for s in all {
        assert!(
            !s.contains(TOKEN_VARIABLE),
            "{RECIPE}: {TOKEN_VARIABLE} appears in a value: {s}"
        );
    }
    assert!(
        recipe_text().contains(TOKEN_VARIABLE),
        "{RECIPE} should say where the token comes from"
    );
    // No --token-file: the token file would have to be written from the variable first.
    for (name, inv) in invocations(&doc) {
        assert!(
            !inv.has("--token-file"),
            "{name}: use the environment, not --token-file"
        );
    }
}

#[test]
fn aws_jobs_get_credentials_from_gitlab_oidc() {
    let doc = recipe();
    let all = jobs(&doc);
    let aws_jobs: BTreeSet<String> = invocations(&doc)
        .into_iter()
        .filter(|(_, i)| i.subcommand.as_deref().is_some_and(|s| s != "iam-policy"))
        .map(|(n, _)| n)
        .collect();
    for name in aws_jobs.iter().filter(|n| !n.starts_with('.')) {
        let job = resolved(&all, name);
        let tokens = job
            .get("id_tokens")
            .and_then(Value::as_mapping)
            .unwrap_or_else(|| panic!("{name}: needs id_tokens for AWS"));
        let (var, spec) = tokens.iter().next().expect("an ID token");
        let var = var.as_str().unwrap();
        assert!(
            spec.get("aud").is_some(),
            "{name}: the ID token needs an aud"
        );
        let script = all_scripts(&job).join("\n");
        assert!(
            script.contains("AWS_WEB_IDENTITY_TOKEN_FILE") && script.contains(&format!("${var}")),
            "{name}: write ${var} to AWS_WEB_IDENTITY_TOKEN_FILE for the SDK's web identity provider"
        );
    }
}
