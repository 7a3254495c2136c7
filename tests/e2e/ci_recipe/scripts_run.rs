//! The plan, apply and report jobs' scripts, run as GitLab's shell would run them, against the
//! emulator.

use super::*;

/// Runs a job's `script` (not its before_script, which sets up GitLab's OIDC) with bash as the
/// GitLab runner does (one shell, -e, -o pipefail), ptc-rollout on PATH and the emulator's AWS
/// environment; `token` says whether the protected token variable is present.
pub(crate) fn run_job_script(
    emu: &Emulator,
    job: &Mapping,
    config: &Path,
    extra_env: &[(String, String)],
    token: bool,
) -> (i32, String) {
    let script = scripts(job, "script").join("\n");
    let template = emu.cmd();
    let mut bash = Command::new("bash");
    bash.args(["-e", "-o", "pipefail", "-c", &script]);
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => bash.env(k, v),
            None => bash.env_remove(k),
        };
    }
    if !token {
        bash.env_remove(TOKEN_VARIABLE);
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_ptc-rollout"))
        .parent()
        .unwrap();
    let path = std::env::join_paths(std::iter::once(bin_dir.to_owned()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    bash.env("PATH", path)
        .env("PTC_CONFIG", config)
        .envs(extra_env.iter().cloned())
        .current_dir(emu.dir.path())
        .stdin(Stdio::null());
    let out = bash.output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), log)
}

fn dotenv(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn the_plan_apply_and_report_jobs_work_as_written() {
    let doc = recipe();
    let all = jobs(&doc);
    let (plan_name, _) = jobs_running(&doc, "plan").into_iter().next().unwrap();
    // The single apply job (the wave jobs need a rollout file with waves).
    let (apply_name, _) = jobs_running(&doc, "apply")
        .into_iter()
        .find(|(_, inv)| !inv.has("--wave"))
        .unwrap();
    let plan_job = resolved(&all, &plan_name);
    let apply_job = resolved(&all, &apply_name);
    let dotenv_file = plan_job
        .get("artifacts")
        .and_then(|a| a.get("reports"))
        .and_then(|r| r.get("dotenv"))
        .and_then(Value::as_str)
        .map(str::to_owned);

    let (emu, _org) = Emulator::with_org();
    let config = emu.rollout("gitlab.toml", &rollout_text(""));

    // A merge request pipeline: changes pending, and the job passes. No token there.
    let (code, log) = run_job_script(&emu, &plan_job, &config, &[], false);
    assert_eq!(code, 0, "plan job with changes pending must pass:\n{log}");
    assert!(!log.contains(support::TOKEN));
    for artifact in artifact_paths(&plan_job)
        .into_iter()
        .chain(junit_reports(&plan_job))
    {
        assert!(
            emu.path(&artifact).exists(),
            "plan job did not write its artifact {artifact}:\n{log}"
        );
    }
    let vars = dotenv_file
        .as_deref()
        .map(|f| dotenv(&emu.path(f)))
        .unwrap_or_default();
    if dotenv_file.is_some() {
        assert!(
            vars.contains(&("PTC_PLAN_CHANGES".into(), "true".into())),
            "{vars:?}"
        );
    }

    // The default branch: apply carries out that plan with the token from the environment.
    let (code, log) = run_job_script(&emu, &apply_job, &config, &vars, true);
    assert_eq!(code, 0, "apply job:\n{log}");
    assert!(
        !log.contains(support::TOKEN),
        "the token leaked into the job log:\n{log}"
    );
    for artifact in artifact_paths(&apply_job) {
        let rows = read_report(&emu.path(&artifact));
        assert!(
            !rows.is_empty() && rows.iter().all(|r| r["is_valid"] == "true"),
            "{artifact}: {rows:?}"
        );
    }

    // Converged: the next plan passes and says there is nothing to do.
    let (code, log) = run_job_script(&emu, &plan_job, &config, &[], false);
    assert_eq!(code, 0, "{log}");
    if let Some(f) = &dotenv_file {
        assert!(dotenv(&emu.path(f)).contains(&("PTC_PLAN_CHANGES".into(), "false".into())));
    }

    // The weekly compliance report and pull check on the converged Organization pass and keep
    // their CSVs (the pull check pulls one of the emulator's upstream images).
    // It pulls as the workloads' role, which the emulator lets do everything.
    let probe_image = [
        (
            "PTC_PROBE_IMAGE".to_owned(),
            "demo-group/demo-project/app:1.0".to_owned(),
        ),
        ("PTC_PROBE_ROLE".to_owned(), "workload-node".to_owned()),
    ];
    let weekly = jobs_running(&doc, "report")
        .into_iter()
        .chain(jobs_running(&doc, "validate"));
    for (name, _) in weekly {
        let job = resolved(&all, &name);
        let (code, log) = run_job_script(&emu, &job, &config, &probe_image, false);
        assert_eq!(code, 0, "{name} on a converged Organization:\n{log}");
        for artifact in artifact_paths(&job).into_iter().chain(junit_reports(&job)) {
            assert!(
                emu.path(&artifact).exists(),
                "{name} did not write {artifact}:\n{log}"
            );
        }
    }

    // A failing plan (a rollout file that is refused) fails the job.
    let bad = emu.rollout("bad.toml", "[targets]\n");
    let (code, log) = run_job_script(&emu, &plan_job, &bad, &[], false);
    assert_ne!(code, 0, "a plan that fails must fail the job:\n{log}");
}
