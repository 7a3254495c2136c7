//! What the main commands print, byte for byte: each snapshot holds the exit code, stdout and
//! stderr of one run of the binary against the emulator, with what varies from run to run
//! (ports, temporary paths, dates, times, durations, random ARN suffixes) replaced by names. A
//! missing or changed snapshot fails the run (`INSTA_UPDATE=no`, set by scripts/test and in CI):
//! review a change with `cargo insta review`, or accept it with `INSTA_UPDATE=always`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use regex::Regex;
use serde_json::json;

use crate::support;
use support::{rollout_text, run_with_api_token, standard_org, Emulator, Run, API_TOKEN};

/// The run as the snapshot holds it, with what varies replaced.
fn shown(emu: &Emulator, out: &Run) -> String {
    let text = format!(
        "exit code: {}\n----- stdout -----\n{}----- stderr -----\n{}",
        out.code, out.stdout, out.stderr
    );
    normalize(emu, &text)
}

fn normalize(emu: &Emulator, text: &str) -> String {
    let dir = emu.path("");
    let dir = dir.to_string_lossy();
    let mut s = text
        .replace(dir.trim_end_matches('/'), "[TMP]")
        .replace(&emu.gitlab_api_url(), "[GITLAB]");
    let filters: &[(&str, &str)] = &[
        // Random suffixes: a secret's ARN ends in six random characters; ids AWS makes up.
        (r"(secret:[A-Za-z0-9/_+=.@-]+)-[A-Za-z0-9]{6}\b", "$1-[SFX]"),
        (r"https?://(127\.0\.0\.1|localhost):[0-9]+", "http://[HOST]"),
        (
            r"\b[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)?",
            "[TIME]",
        ),
        (r"\b[0-9]{4}-[0-9]{2}-[0-9]{2}\b", "[DATE]"),
        (r"\b[0-9]+(\.[0-9]+)? ?(ms|s)\b", "[DURATION]"),
        (r"ptc-rollout-[0-9]{6,}", "ptc-rollout-[SESSION]"),
    ];
    for (re, by) in filters {
        s = Regex::new(re).unwrap().replace_all(&s, *by).into_owned();
    }
    s
}

/// Runs the binary with `args` and `--config cfg`, without progress bars.
fn ptc(emu: &Emulator, cfg: &Path, args: &[&str]) -> Run {
    run_with_api_token(emu, args, cfg)
}

/// The standard test Organization (as [`Emulator::with_org`]), its account ids the same in
/// every run: moto draws them from its own random generator, seeded here first.
fn with_org() -> Emulator {
    let emu = Emulator::start();
    emu.post("/moto-api/seed?a=21", json!({}));
    emu.seed(standard_org());
    emu.set_valid_tokens(&[support::TOKEN]);
    emu
}

fn check(name: &str, emu: &Emulator, out: &Run) {
    insta::assert_snapshot!(name, shown(emu, out));
}

#[test]
fn plan_apply_apply_again_validate_report() {
    let emu = with_org();
    let cfg = emu.rollout("r.toml", &rollout_text(""));
    check("plan", &emu, &ptc(&emu, &cfg, &["plan"]));
    check("apply", &emu, &ptc(&emu, &cfg, &["apply", "--yes"]));
    check("apply_again", &emu, &ptc(&emu, &cfg, &["apply", "--yes"]));
    check("validate", &emu, &ptc(&emu, &cfg, &["validate"]));
    check("report", &emu, &ptc(&emu, &cfg, &["report"]));
    check("accounts", &emu, &ptc(&emu, &cfg, &["accounts"]));
    // The plan `destroy` shows before it asks, answered "no" on a terminal (`script` gives it
    // one; the terminal merges both streams).
    check(
        "destroy_plan",
        &emu,
        &on_terminal(&emu, &cfg, "destroy", "no"),
    );
}

/// Runs `ptc-rollout COMMAND --no-progress --config cfg` on a pseudo-terminal that answers
/// `answer`; stdout and stderr both go to that terminal.
fn on_terminal(emu: &Emulator, cfg: &Path, command: &str, answer: &str) -> Run {
    let line = format!(
        "{} {command} --no-progress --config {}",
        env!("CARGO_BIN_EXE_ptc-rollout"),
        cfg.display()
    );
    let template = emu.cmd();
    let mut c = Command::new("script");
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let c = c
        .args(["-qefc", &line, "/dev/null"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    // Answer once asked, so that the terminal's echo of the answer comes after the question.
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let mut answered = false;
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        if !answered && String::from_utf8_lossy(&seen).contains("will be accepted: ") {
            writeln!(stdin, "{answer}").unwrap();
            answered = true;
        }
    }
    drop(stdin);
    let mut out = child.wait_with_output().unwrap();
    out.stdout = seen;
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn iam_policy() {
    let emu = with_org();
    let cfg = emu.rollout("r.toml", &rollout_text(""));
    check("iam_policy", &emu, &ptc(&emu, &cfg, &["iam-policy"]));
}

#[test]
fn token_status() {
    let emu = with_org();
    emu.post("/_ptc/gitlab", json!({ "owner_tokens": [API_TOKEN] }));
    let text = format!(
        "{}\n[gitlab]\ngroup = \"demo-group\"\napi_url = \"{}\"\nci_variable = \"GITLAB_REGISTRY_TOKEN\"\n",
        rollout_text(""),
        emu.gitlab_api_url()
    );
    let cfg = emu.rollout("gitlab.toml", &text);
    check("token_status", &emu, &ptc(&emu, &cfg, &["token", "status"]));
}

#[test]
fn bad_input_is_refused() {
    let emu = with_org();
    let text = rollout_text("").replace("\"eu-west-1\"", "\"xx-nowhere-1\"");
    let cfg = emu.rollout("r.toml", &text);
    check(
        "refused",
        &emu,
        &ptc(&emu, &cfg, &["apply", "--junit", "/nonexistent/dir/j.xml"]),
    );
    // Every problem of the flags at once (no --yes, and no terminal to ask on).
    let cfg = emu.rollout("good.toml", &rollout_text(""));
    check(
        "refused_flags",
        &emu,
        &ptc(&emu, &cfg, &["apply", "--junit", "/nonexistent/dir/j.xml"]),
    );
}
