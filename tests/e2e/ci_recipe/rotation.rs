//! The scheduled token rotation job, as written: it runs from the schedule alone, in apply's
//! protected environment and resource group (a rotation and an apply never overlap), after the
//! weekly checks; its steps are status, mint, rotate, revoke-old, each its own script line with
//! no failure swallowed, and mint, rotate and revoke-old work on one token file. (Its script runs
//! against the emulator in rotation_run.rs.)

use super::*;

/// The job that mints the registry token (there is exactly one), resolved.
pub(crate) fn rotation_job(doc: &Value) -> (String, Mapping) {
    let mints = jobs_running(doc, "token mint");
    let names: BTreeSet<&str> = mints.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names.len(),
        1,
        "one job of {RECIPE} mints the registry token: {names:?}"
    );
    let name = mints[0].0.clone();
    let job = resolved(&jobs(doc), &name);
    (name, job)
}

fn environment_name(job: &Mapping) -> Option<String> {
    match job.get("environment")? {
        Value::String(s) => Some(s.clone()),
        Value::Mapping(m) => m.get("name")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// One `ptc-rollout` step of a script: the entry it is in and the command.
struct Step {
    entry: usize,
    inv: Invocation,
}

fn steps(entries: &[String]) -> Vec<Step> {
    let mut out = Vec::new();
    for (entry, text) in entries.iter().enumerate() {
        for args in ptc_invocations(text) {
            let inv = parse_invocation(&args).unwrap_or_else(|e| panic!("{e}: {text}"));
            out.push(Step { entry, inv });
        }
    }
    out
}

#[test]
fn the_token_rotation_runs_from_the_schedule_alone_and_never_beside_an_apply() {
    let doc = recipe();
    let all = jobs(&doc);
    let (name, job) = rotation_job(&doc);
    assert!(
        job.get("only").is_none() && job.get("except").is_none(),
        "{name}: use rules"
    );
    let running: Vec<Mapping> = rules(&job)
        .into_iter()
        .filter(|r| when(r) != Some("never"))
        .collect();
    assert!(!running.is_empty(), "{name}: needs a schedule rule");
    for r in &running {
        let c = condition(r);
        assert!(
            c.contains("$CI_PIPELINE_SOURCE==\"schedule\"") && !c.contains("||"),
            "{name}: the rule {c:?} runs it outside the schedule"
        );
        assert_ne!(when(r), Some("manual"), "{name}: the schedule runs it");
    }

    // Apply's protected environment and resource group: the same people, one at a time.
    let (apply_name, _) = jobs_running(&doc, "apply").into_iter().next().unwrap();
    let apply = resolved(&all, &apply_name);
    let group = |j: &Mapping| {
        j.get("resource_group")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    assert!(group(&apply).is_some(), "{apply_name}: resource_group");
    assert_eq!(
        group(&job),
        group(&apply),
        "{name}: shares {apply_name}'s resource_group"
    );
    assert!(
        environment_name(&apply).is_some(),
        "{apply_name}: environment"
    );
    assert_eq!(
        environment_name(&job),
        environment_name(&apply),
        "{name}: {apply_name}'s protected environment"
    );
    assert_ne!(
        job.get("interruptible").and_then(Value::as_bool),
        Some(true),
        "{name}: a newer pipeline must never cancel a rotation half way"
    );
    assert!(
        needs(&job)
            .iter()
            .any(|(n, artifacts)| n == "build:ptc-rollout" && *artifacts),
        "{name}: needs the binary"
    );

    // After the scheduled jobs that read the secrets, which would otherwise see them half
    // rotated; and the compliance report warns later than the rotation renews, by more than the
    // week between two runs, so it fails only when a rotation did not happen.
    let due: i64 = steps(&scripts(&job, "script"))
        .iter()
        .find(|s| s.inv.subcommand.as_deref() == Some("token status"))
        .and_then(|s| s.inv.value("--due-within-days")?.parse().ok())
        .unwrap_or_else(|| panic!("{name}: token status --due-within-days N"));
    let readers = jobs_running(&doc, "report")
        .into_iter()
        .chain(jobs_running(&doc, "validate"));
    for (reader, inv) in readers {
        let reader_job = resolved(&all, &reader);
        let scheduled = rules(&reader_job).iter().any(|r| {
            condition(r).contains("$CI_PIPELINE_SOURCE==\"schedule\"") && when(r) != Some("never")
        });
        if !scheduled {
            continue;
        }
        assert!(
            needs(&job).iter().any(|(n, _)| *n == reader),
            "{name}: runs after {reader} (needs it)"
        );
        if let Some(warning) = inv.value("--expiry-warning-days") {
            let warning: i64 = warning.parse().unwrap();
            assert!(
                warning + 7 < due,
                "{reader}: --expiry-warning-days {warning} must be more than a week below the \
                 rotation's --due-within-days {due}"
            );
        }
    }
}

#[test]
fn the_rotation_steps_come_in_order_on_one_token_file() {
    let doc = recipe();
    let (name, job) = rotation_job(&doc);
    let entries = scripts(&job, "script");
    let steps = steps(&entries);
    let order = ["token status", "token mint", "rotate", "token revoke-old"];
    let found: Vec<&str> = steps
        .iter()
        .filter_map(|s| s.inv.subcommand.as_deref())
        .collect();
    assert_eq!(found, order, "{name}: its ptc-rollout steps, in order");
    let at: Vec<usize> = steps.iter().map(|s| s.entry).collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "{name}: each step its own script line (a failure stops the job before the next): {at:?}"
    );
    let [status, mint, rotate, revoke] = [&steps[0], &steps[1], &steps[2], &steps[3]];
    assert!(status.inv.has("--due-within-days"), "{name}: status");
    // The status's exit code decides: 0 ends the job, 3 goes on, anything else fails it.
    let decision = entries[status.entry + 1..mint.entry].join("\n");
    assert!(
        decision.contains("exit 0") && (decision.contains("3)") || decision.contains("-eq 3")),
        "{name}: after status, exit 0 when nothing is due and go on at 3:\n{decision}"
    );

    // One token file: minted into, rotated from, proven and revoked against.
    let file = mint
        .inv
        .value("--out")
        .unwrap_or_else(|| panic!("{name}: token mint --out FILE"));
    for (step, what) in [(rotate, "rotate"), (revoke, "token revoke-old")] {
        assert_eq!(
            step.inv.value("--token-file"),
            Some(file),
            "{name}: {what} reads the token mint wrote"
        );
        assert!(
            step.inv.has("--yes") || step.inv.has("-y"),
            "{name}: {what} needs --yes"
        );
    }
    // A fresh temporary file, outside the artifacts.
    let var = file
        .strip_prefix('$')
        .map(|v| v.trim_matches(|c| c == '{' || c == '}'))
        .unwrap_or_else(|| {
            panic!("{name}: the token file is a variable set from mktemp, not {file}")
        });
    assert!(
        entries[..mint.entry]
            .iter()
            .any(|e| e.contains(&format!("{var}=")) && e.contains("mktemp")),
        "{name}: {var} is set from mktemp before the mint"
    );
    let paths = artifact_paths(&job);
    assert!(!paths.iter().any(|p| p.contains(var)), "{name}: {paths:?}");

    // No failure swallowed on the way to the revocation.
    let script = entries.join("\n");
    assert!(
        !script.contains("set +e"),
        "{name}: a failure must stop the job"
    );
    for step in [mint, rotate, revoke] {
        let text = &entries[step.entry];
        assert!(
            !text.contains("||") && !text.contains('&') && !text.contains('|'),
            "{name}: nothing may swallow or hide this step's exit status:\n{text}"
        );
    }
    // The reports are kept, failure or not.
    for step in [rotate, revoke] {
        let report = step.inv.value("--report").expect("--report FILE");
        assert!(
            paths.iter().any(|p| p == report),
            "{name}: {report} must be an artifact"
        );
    }
    assert_eq!(
        job.get("artifacts")
            .and_then(|a| a.get("when"))
            .and_then(Value::as_str),
        Some("always"),
        "{name}: artifacts:when: always"
    );
}
