//! The pipeline the recipe builds, beyond what GitLab's schema knows: the apply is manual and
//! carries out the plan job's saved plan, the compliance report and the pull check run from the
//! schedule and keep their CSVs, the GitLab tokens stay off command lines, and the AWS jobs get
//! their credentials from GitLab's OIDC ID token. (The token rotation: rotation.rs.)

use super::*;

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
    assert!(
        reports
            .iter()
            .any(|(_, inv)| inv.value("--format") == Some("html")),
        "the weekly report also keeps the HTML matrix (report --format html --out FILE)"
    );
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
fn junit_results_reach_the_merge_request_and_the_tests_tab() {
    let doc = recipe();
    let all = jobs(&doc);
    let mut publishing = BTreeSet::new();
    for (name, inv) in invocations(&doc) {
        let Some(file) = inv.value("--junit") else {
            continue;
        };
        let job = resolved(&all, &name);
        assert!(
            junit_reports(&job).iter().any(|p| p == file),
            "{name}: publish {file} as artifacts:reports:junit"
        );
        let when = job.get("artifacts").and_then(|a| a.get("when"));
        assert_eq!(
            when.and_then(Value::as_str),
            Some("always"),
            "{name}: a failed run's JUnit is the one that matters: artifacts:when: always"
        );
        publishing.extend(inv.subcommand);
    }
    // The merge request's plan, and the weekly compliance report.
    for sub in ["plan", "report"] {
        assert!(
            publishing.contains(sub),
            "a job should run `{sub} --junit FILE` and publish it"
        );
    }
}

#[test]
fn the_tokens_never_reach_a_command_line() {
    let doc = recipe();
    for var in [TOKEN_VARIABLE, API_TOKEN_VARIABLE] {
        for (name, job) in jobs(&doc) {
            for entry in all_scripts(&job) {
                assert!(
                    !entry.contains(var),
                    "{name}: {var} in a script line (ptc-rollout reads it from the environment):\n{entry}"
                );
            }
        }
        // Nor is it copied anywhere else (variables, rules): GitLab's environment is the only
        // way in. (Comments are not values, so the setup notes may name it.)
        let mut all = Vec::new();
        strings(&doc, &mut all);
        for s in all {
            assert!(!s.contains(var), "{RECIPE}: {var} appears in a value: {s}");
        }
        assert!(
            recipe_text().contains(var),
            "{RECIPE} should say where {var} comes from"
        );
    }
    // --token-file only for the file `token mint --out` wrote earlier in the same job (the new
    // token, which this job's environment does not hold yet): writing a file from a variable
    // would put the token on a command line.
    let mut minted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, inv) in invocations(&doc) {
        if let Some(file) = inv.value("--token-file") {
            assert!(
                minted
                    .get(&name)
                    .is_some_and(|outs| outs.iter().any(|o| o == file)),
                "{name}: --token-file {file} is not the file `token mint --out` wrote before it \
                 in this job; read the token from the environment instead"
            );
        }
        if inv.subcommand.as_deref() == Some("token mint") {
            if let Some(out) = inv.value("--out") {
                minted.entry(name).or_default().push(out.to_owned());
            }
        }
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
