//! The rotation job's script, run as GitLab's shell would run it, against the emulator and its
//! GitLab, with the shipped rollout file (plans/gitlab.toml) pointed at them: nothing happens
//! while the token has time left; a token that is due is replaced in the CI/CD variable and in
//! every target, and the tokens ptc-rollout minted before are revoked only then.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::json;

use super::rotation::rotation_job;
use super::scripts_run::run_job_script;
use super::*;

/// A group Owner's personal access token (api scope): the job's GITLAB_API_TOKEN.
const API_TOKEN: &str = "test-CiApiOwnerToken-7777777777";
const ROLLOUT: &str = "plans/gitlab.toml";

/// plans/gitlab.toml, its [gitlab] pointed at the emulator's GitLab and group.
fn shipped_rollout(emu: &Emulator) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(ROLLOUT);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = text.clone();
    for (from, to) in [
        (
            "group = \"my-group\"".to_owned(),
            "group = \"demo-group\"".to_owned(),
        ),
        (
            "api_url = \"https://gitlab.com/api/v4\"".to_owned(),
            format!("api_url = \"{}\"", emu.gitlab_api_url()),
        ),
    ] {
        assert_eq!(
            out.matches(&from).count(),
            1,
            "{ROLLOUT}: this test points `{from}` at the emulator"
        );
        out = out.replace(&from, &to);
    }
    emu.rollout("gitlab.toml", &out)
}

/// The emulator GitLab's tokens, values included.
fn tokens(emu: &Emulator) -> Vec<serde_json::Value> {
    emu.gitlab()["tokens"].as_array().unwrap().clone()
}

fn token(emu: &Emulator, value: &str) -> serde_json::Value {
    tokens(emu)
        .into_iter()
        .find(|t| t["token"] == value)
        .unwrap_or_else(|| panic!("no such token"))
}

/// The group CI/CD variable's value (the job's next GITLAB_REGISTRY_TOKEN).
fn variable(emu: &Emulator) -> Option<String> {
    emu.gitlab()["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == TOKEN_VARIABLE)
        .map(|v| v["value"].as_str().unwrap().to_owned())
}

/// The standard test Organization, with [`API_TOKEN`] an Owner of the emulator's group.
fn setup() -> (Emulator, support::Org) {
    let (emu, org) = Emulator::with_org();
    emu.post("/_ptc/gitlab", json!({ "owner_tokens": [API_TOKEN] }));
    (emu, org)
}

/// `apply`, which must succeed.
fn apply(emu: &Emulator, cfg: &Path) {
    let apply = support::run(
        emu.cmd()
            .args(["apply", "--yes", "--no-progress", "--config"])
            .arg(cfg),
    );
    assert_eq!(apply.code, 0, "{}", apply.stderr);
}

/// A token ptc-rollout mints with 20 days left (due), rolled out by hand: its value.
fn minted_and_rolled_out_by_hand(emu: &Emulator, cfg: &Path) -> String {
    let short = emu.path("short-lived");
    let mint = support::run(
        emu.cmd()
            .env(API_TOKEN_VARIABLE, API_TOKEN)
            .args(["token", "mint", "--expires-in-days", "20", "--out"])
            .arg(&short)
            .arg("--config")
            .arg(cfg),
    );
    assert_eq!(mint.code, 0, "{}", mint.stderr);
    let hand = support::run(
        emu.cmd()
            .args(["rotate", "--yes", "--token-file"])
            .arg(&short)
            .arg("--config")
            .arg(cfg),
    );
    assert_eq!(hand.code, 0, "{}", hand.stderr);
    std::fs::read_to_string(&short).unwrap().trim().to_owned()
}

/// The active tokens ptc-rollout minted.
fn minted_active(emu: &Emulator) -> Vec<serde_json::Value> {
    tokens(emu)
        .into_iter()
        .filter(|t| t["active"] == true && t["name"].as_str().unwrap().starts_with("ptc-rollout "))
        .collect()
}

type Rows = Vec<HashMap<String, String>>;

/// Every target's rule validates with what its secret holds.
fn assert_all_valid(emu: &Emulator, cfg: &Path, step: &str) {
    let (out, rows) = emu.with_report(cfg, &["validate"]);
    assert_eq!(out.code, 0, "{step}: {}", out.stderr);
    assert_eq!(rows.len(), 8, "{step}");
    assert!(
        rows.iter().all(|r| r["is_valid"] == "true"),
        "{step}: {rows:?}"
    );
}

struct Job<'a> {
    emu: &'a Emulator,
    job: Mapping,
    cfg: PathBuf,
    /// Values that must never appear in a job's log.
    secrets: Vec<String>,
}

impl<'a> Job<'a> {
    /// The job, with the test's tokens among the values its log must never show.
    fn new(emu: &'a Emulator, job: Mapping, cfg: &Path) -> Self {
        Job {
            emu,
            job,
            cfg: cfg.to_owned(),
            secrets: vec![support::TOKEN.to_owned(), API_TOKEN.to_owned()],
        }
    }

    /// A run with `registry_token` that has nothing to do: it passes, rotates nothing and
    /// makes no mutating call.
    fn assert_nothing_to_do(&mut self, registry_token: &str) {
        self.emu.reset_calls();
        let (code, log, rotated) = self.run(registry_token, API_TOKEN);
        assert_eq!(code, 0, "{log}");
        assert!(rotated.is_none(), "nothing to rotate:\n{log}");
        assert!(
            self.emu.mutating_calls().is_empty(),
            "{:?}",
            self.emu.mutating_calls()
        );
    }

    /// Runs the job's script as a schedule would, the group variable's current value in the
    /// environment (GitLab hands a job the variable as it is when the job starts); its exit
    /// code, log, and the reports it wrote (removed before the run).
    fn run(&mut self, registry_token: &str, api_token: &str) -> (i32, String, Option<Rows>) {
        let reports = ["rotate.csv", "revoke-check.csv"].map(|f| self.emu.path(f));
        for r in &reports {
            let _ = std::fs::remove_file(r);
        }
        let env = [
            (TOKEN_VARIABLE, registry_token),
            (API_TOKEN_VARIABLE, api_token),
            // mktemp's file inside the test's directory, to see that the job removes it.
            ("TMPDIR", self.emu.dir.path().to_str().unwrap()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let (code, log) = run_job_script(self.emu, &self.job, &self.cfg, &env, true);
        self.secrets.push(registry_token.to_owned());
        if let Some(v) = variable(self.emu) {
            self.secrets.push(v);
        }
        for s in &self.secrets {
            assert!(
                !log.contains(s.as_str()),
                "a token leaked into the log:\n{log}"
            );
        }
        let leftovers: Vec<_> = std::fs::read_dir(self.emu.dir.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("tmp."))
            .collect();
        assert!(
            leftovers.is_empty() || code != 0,
            "the token file is left behind: {leftovers:?}\n{log}"
        );
        let rotated = reports[0].exists().then(|| read_report(&reports[0]));
        if rotated.is_some() {
            assert!(reports[1].exists(), "revoke-old's check report:\n{log}");
        }
        (code, log, rotated)
    }
}

#[test]
fn the_rotation_job_renews_a_due_token_everywhere_and_only_then_revokes() {
    let doc = recipe();
    let (_, rotation) = rotation_job(&doc);
    let (emu, _org) = setup();
    let cfg = shipped_rollout(&emu);
    apply(&emu, &cfg);
    let mut job = Job::new(&emu, rotation, &cfg);

    // A year left: the job stops after status, and nothing changes anywhere.
    job.assert_nothing_to_do(support::TOKEN);
    assert_eq!(variable(&emu), None, "no token minted");

    // GitLab refuses the API token: the job fails with status's exit code, before any mint.
    emu.reset_calls();
    let (code, log, _) = job.run(support::TOKEN, "test-UnknownApiToken-0000");
    assert_eq!(code, 5, "{log}");
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );

    // The token expired: the job mints, rotates every target and passes. The expired token was
    // not minted by ptc-rollout (it was made by hand): it is not revoked.
    emu.post("/_ptc/gitlab", json!({ "expire": [support::TOKEN] }));
    emu.reset_calls();
    let (code, log, rotated) = job.run(support::TOKEN, API_TOKEN);
    assert_eq!(code, 0, "{log}");
    let rows = rotated.unwrap_or_else(|| panic!("no rotate.csv:\n{log}"));
    assert_eq!(rows.len(), 8, "{rows:?}");
    assert!(rows.iter().all(|r| r["is_valid"] == "true"), "{rows:?}");
    let first = variable(&emu).expect("the CI/CD variable holds the new token");
    assert!(token(&emu, &first)["name"]
        .as_str()
        .unwrap()
        .starts_with("ptc-rollout "));
    assert_eq!(token(&emu, support::TOKEN)["revoked"], false);
    assert!(
        !emu.gitlab_calls().iter().any(|c| c.starts_with("DELETE ")),
        "{:?}",
        emu.gitlab_calls()
    );
    assert_all_valid(&emu, &cfg, "after the first rotation");

    // A token ptc-rollout minted with 20 days left, and rolled out by hand: the job replaces it
    // and, every target holding the new one, revokes it and the one minted before.
    let second = minted_and_rolled_out_by_hand(&emu, &cfg);
    job.secrets.push(second.clone());
    emu.reset_calls();
    let (code, log, rotated) = job.run(&second, API_TOKEN);
    assert_eq!(code, 0, "{log}");
    let rows = rotated.unwrap_or_else(|| panic!("no rotate.csv:\n{log}"));
    assert!(rows.iter().all(|r| r["is_valid"] == "true"), "{rows:?}");
    let newest = variable(&emu).unwrap();
    assert!(newest != first && newest != second, "a new token");
    let newest_token = token(&emu, &newest);
    assert_eq!(newest_token["active"], true);
    let minted_last = tokens(&emu).iter().map(|t| t["id"].as_u64().unwrap()).max();
    assert_eq!(
        newest_token["id"].as_u64(),
        minted_last,
        "the variable holds the newest token"
    );
    for old in [&first, &second] {
        assert_eq!(token(&emu, old)["revoked"], true, "{log}");
    }
    assert_eq!(token(&emu, support::TOKEN)["revoked"], false);
    assert_all_valid(&emu, &cfg, "after the second rotation");

    // The next week: a year left again, nothing to do.
    job.assert_nothing_to_do(&newest);

    // The weekly compliance report asks GitLab the expiry with the registry token.
    let (report_name, _) = jobs_running(&doc, "report").into_iter().next().unwrap();
    let report = resolved(&jobs(&doc), &report_name);
    let env = [(TOKEN_VARIABLE.to_owned(), newest.clone())];
    let (code, log) = run_job_script(&emu, &report, &cfg, &env, true);
    assert_eq!(code, 0, "{report_name}:\n{log}");
    let out = artifact_paths(&report)
        .into_iter()
        .find(|p| p.ends_with(".csv"))
        .expect("the report's CSV is an artifact");
    let rows = read_report(&emu.path(&out));
    let expires = newest_token["expires_at"].as_str().unwrap();
    assert!(
        rows.iter().all(|r| r["token_expires_on"] == expires),
        "{rows:?}"
    );
    // Without the token it cannot say, and fails.
    let (code, log) = run_job_script(&emu, &report, &cfg, &[], false);
    assert_ne!(code, 0, "{report_name} without {TOKEN_VARIABLE}:\n{log}");
}

/// The rotation job with an opt-in Region that one account (prod) has not enabled: apply,
/// rotate and revoke-old's check all skip that target, and the job converges all the same:
/// the token it replaced is revoked, one minted token is active, every other target is valid.
#[test]
fn the_rotation_job_converges_with_an_opt_in_region_one_account_has_not_enabled() {
    let doc = recipe();
    let (_, rotation) = rotation_job(&doc);
    let (emu, org) = setup();
    let prod = org.id("prod");
    for account in org.active().iter().filter(|a| **a != prod) {
        emu.post(
            "/_ptc/region_opt",
            json!({"account": account, "region": "af-south-1", "status": "ENABLED"}),
        );
    }
    let shipped = std::fs::read_to_string(shipped_rollout(&emu)).unwrap();
    let regions = "regions = [\"us-east-1\", \"eu-west-1\"]";
    assert_eq!(shipped.matches(regions).count(), 1, "{ROLLOUT}: {regions}");
    let cfg = emu.rollout(
        "opt-in.toml",
        &shipped.replace(regions, &regions.replace(']', ", \"af-south-1\"]")),
    );
    // prod's af-south-1 row is skipped; every other is valid.
    let in_reach_valid = |rows: &Rows| {
        for r in rows {
            if r["account_id"] == prod && r["region"] == "af-south-1" {
                assert_eq!(r["outcome"], "skipped", "{r:?}");
            } else {
                assert_eq!(r["is_valid"], "true", "{r:?}");
            }
        }
    };
    apply(&emu, &cfg);

    // A token ptc-rollout minted with 20 days left, rolled out by hand: due.
    let old = minted_and_rolled_out_by_hand(&emu, &cfg);
    let mut job = Job::new(&emu, rotation, &cfg);
    job.secrets.push(old.clone());
    let (code, log, rotated) = job.run(&old, API_TOKEN);
    assert_eq!(code, 0, "{log}");
    let rows = rotated.unwrap_or_else(|| panic!("no rotate.csv:\n{log}"));
    assert_eq!(rows.len(), 12, "{rows:?}");
    in_reach_valid(&rows);
    assert!(log.contains("skipped, needs no token"), "{log}");
    let newest = variable(&emu).expect("the CI/CD variable holds the new token");
    assert_eq!(token(&emu, &old)["revoked"], true, "{log}");
    let minted_active = minted_active(&emu);
    assert_eq!(minted_active.len(), 1, "{minted_active:?}");
    assert_eq!(minted_active[0]["token"], newest.as_str());

    let (out, rows) = emu.with_report(&cfg, &["validate"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    in_reach_valid(&rows);

    // The next week: nothing to do.
    job.assert_nothing_to_do(&newest);
}

/// The rotation job when GitLab applies the mint's write to the CI/CD variable but its answer
/// is lost (502 on every attempt): mint reads the variable back, finds the new token there
/// and goes on, so the job converges: one active minted token, every target valid, the older
/// one revoked, and the variable never holds a revoked token.
#[test]
fn the_rotation_job_converges_when_the_answer_to_its_variable_store_is_lost() {
    let doc = recipe();
    let (_, rotation) = rotation_job(&doc);
    let (emu, _org) = setup();
    let cfg = shipped_rollout(&emu);
    apply(&emu, &cfg);
    // A token ptc-rollout minted with 20 days left (the variable now exists), rolled out.
    let old = minted_and_rolled_out_by_hand(&emu, &cfg);
    let mut job = Job::new(&emu, rotation, &cfg);
    job.secrets.push(old.clone());

    let put = format!("PUT /groups/demo-group/variables/{TOKEN_VARIABLE}");
    emu.post(
        "/_ptc/faults",
        json!({"rules": [{"service": "gitlab", "action": put, "kind": "apply_then_http502"}]}),
    );
    emu.reset_calls();
    let (code, log, rotated) = job.run(&old, API_TOKEN);
    emu.post("/_ptc/faults", json!({ "rules": [] }));
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("read back, the variable holds the new token"),
        "{log}"
    );
    assert!(
        emu.calls()
            .iter()
            .any(|c| c["fault"] == "apply_then_http502"),
        "the store's answer was lost"
    );
    let rows = rotated.unwrap_or_else(|| panic!("no rotate.csv:\n{log}"));
    assert!(rows.iter().all(|r| r["is_valid"] == "true"), "{rows:?}");
    let newest = variable(&emu).expect("the CI/CD variable holds the new token");
    assert_ne!(newest, old);
    assert_eq!(
        token(&emu, &newest)["active"],
        true,
        "never a revoked token"
    );
    assert_eq!(token(&emu, &old)["revoked"], true, "{log}");
    let minted_active = minted_active(&emu);
    assert_eq!(minted_active.len(), 1, "{minted_active:?}");
    assert_all_valid(&emu, &cfg, "after the rotation with a lost answer");

    // The next week, with the variable's value: nothing to do.
    job.assert_nothing_to_do(&newest);
}
