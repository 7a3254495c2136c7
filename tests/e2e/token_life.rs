//! The registry token's life on GitLab (`[gitlab]`, `token status|mint|revoke-old`) against the
//! emulator's GitLab, whose registry and ECR validation accept exactly its active tokens: the
//! whole mint, rotate, revoke-old cycle with every rule valid at every step, and GitLab's
//! refusals. One topic per file in token_life/.

mod ambiguous;
mod cycle;
mod gitlab_rules;
mod refusals;
mod revocation;
mod token_input;

use std::path::{Path, PathBuf};

use crate::support;
use serde_json::{json, Value};
use support::{
    read_report, rollout_text, run, run_with_api_token, Emulator, Org, Run, API_TOKEN, TOKEN,
};

/// The standard test Organization, with [`API_TOKEN`] an Owner of the emulator's group.
fn setup() -> (Emulator, Org) {
    let (emu, org) = Emulator::with_org();
    emu.post("/_ptc/gitlab", json!({ "owner_tokens": [API_TOKEN] }));
    (emu, org)
}

/// The standard rollout file with a `[gitlab]` table; `extra` goes into that table.
fn config(emu: &Emulator, extra: &str) -> PathBuf {
    let text = format!(
        "{}\n[gitlab]\ngroup = \"demo-group\"\napi_url = \"{}\"\nci_variable = \"GITLAB_REGISTRY_TOKEN\"\n{extra}",
        rollout_text(""),
        emu.gitlab_api_url()
    );
    emu.rollout("gitlab.toml", &text)
}

/// The binary with the API token in its environment.
fn ptc(emu: &Emulator, args: &[&str], cfg: &Path) -> Run {
    run_with_api_token(emu, args, cfg)
}

/// `token status --format json --due-within-days due`.
fn json_status(emu: &Emulator, cfg: &Path, due: &str) -> Run {
    let args = [
        "token",
        "status",
        "--format",
        "json",
        "--due-within-days",
        due,
    ];
    ptc(emu, &args, cfg)
}

/// `rotate --yes` with the token in `file`; `extra` are more arguments. It must succeed.
fn rotate(emu: &Emulator, cfg: &Path, file: &Path, extra: &[&str]) {
    let mut args = vec!["rotate", "--yes", "--token-file", file.to_str().unwrap()];
    args.extend(extra);
    let out = ptc(emu, &args, cfg);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// `token revoke-old --yes` with the current token in `file`; `extra` are more arguments.
fn revoke_old(emu: &Emulator, cfg: &Path, file: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "token",
        "revoke-old",
        "--yes",
        "--token-file",
        file.to_str().unwrap(),
    ];
    args.extend(extra);
    ptc(emu, &args, cfg)
}

/// `validate` as the workloads see it: every rule valid with what its secret holds.
fn assert_all_valid(emu: &Emulator, cfg: &Path, step: &str) {
    let (out, rows) = emu.with_report(cfg, &["validate"]);
    assert_eq!(out.code, 0, "{step}: {}", out.stderr);
    assert_eq!(rows.len(), 8, "{step}");
    let invalid: Vec<_> = rows.iter().filter(|r| r["is_valid"] != "true").collect();
    assert!(invalid.is_empty(), "{step}: invalid rules {invalid:?}");
}

/// The emulator GitLab's tokens of the group, by name.
fn tokens(emu: &Emulator) -> Vec<Value> {
    emu.gitlab()["tokens"].as_array().unwrap().clone()
}

/// The value of the only token minted with this id (the emulator is a test double: it tells).
fn value_of(emu: &Emulator, id: u64) -> String {
    tokens(emu).iter().find(|t| t["id"] == id).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn active(emu: &Emulator, value: &str) -> bool {
    tokens(emu)
        .iter()
        .any(|t| t["token"] == value && t["active"] == true)
}
