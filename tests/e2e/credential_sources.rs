//! The AWS SDK's credential sources that users rely on still start a run of the real binary,
//! now that the SDK crates are built without their default features: web identity (GitLab CI's
//! OIDC ID token, as the recipe's jobs hand it over), a profile's `credential_process` (what
//! aws-vault, 1Password and similar tools plug into) and a profile that assumes a role with
//! another profile's keys, against the emulator. (Static keys in the environment are every
//! other test's start; a missing or misspelt profile is aws_gaps.rs's.)

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support;
use serde_json::Value;
use support::{rollout_text, run, Emulator, MANAGEMENT};

/// The role GitLab's ID token is exchanged for, in the management account.
const CI_ROLE: &str = "arn:aws:iam::123456789012:role/gitlab-ci";
/// The credential process's key id: the emulator maps any key it does not know to the
/// management account, as it does the other tests' static keys.
const PROCESS_KEY_ID: &str = "AKIAPROCESSKEY000001";

/// The binary with none of the static keys `Emulator::cmd` sets and no instance metadata, so
/// the credential source under test is the only one the SDK's default chain can find.
fn without_static_keys(emu: &Emulator) -> Command {
    let mut cmd = emu.cmd();
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// `accounts --format json -v` (the cheapest command that identifies the caller and lists the
/// Organization), checked to succeed; its JSON and its stderr.
fn accounts(emu: &Emulator, cmd: &mut Command) -> (Value, String) {
    let cfg = emu.rollout("r.toml", &rollout_text(""));
    let out = run(cmd
        .args(["accounts", "--format", "json", "-v", "--config"])
        .arg(cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    support::json_schema::assert_valid("accounts.schema.json", &out.stdout);
    let doc = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    (doc, out.stderr)
}

/// The management account is listed as reached with the caller's own credentials: the caller
/// was identified as that account, and the Organization was listed with those credentials.
fn assert_caller_is_management(doc: &Value, org_accounts: usize) {
    let targeted = doc["targeted"].as_array().unwrap();
    assert_eq!(targeted.len(), org_accounts, "{doc}");
    let management = targeted
        .iter()
        .find(|a| a["account_id"] == MANAGEMENT)
        .unwrap_or_else(|| panic!("management account not targeted: {doc}"));
    assert_eq!(management["access"], "caller's credentials", "{doc}");
}

#[test]
fn web_identity_from_gitlab_oidc_starts_a_run() {
    let (emu, org) = Emulator::with_org();
    // What the recipe's .ptc-rollout template does with the ID token: a file, and the role
    // and session name as CI/CD variables. The emulator's STS does not verify the JWT.
    let token = emu.path("id-token");
    std::fs::write(
        &token,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwcm9qZWN0In0.c2lnbmF0dXJl",
    )
    .unwrap();
    let mut cmd = without_static_keys(&emu);
    cmd.env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
        .env("AWS_ROLE_ARN", CI_ROLE)
        .env("AWS_ROLE_SESSION_NAME", "gitlab-42-4242");
    let (doc, stderr) = accounts(&emu, &mut cmd);
    assert_caller_is_management(&doc, org.active().len());
    let exchanges = emu.calls_of("AssumeRoleWithWebIdentity");
    assert_eq!(
        exchanges.len(),
        1,
        "the ID token was exchanged once: {exchanges:?}"
    );
    // The caller is the role's session, named as the CI job names it.
    let session = "arn:aws:sts::123456789012:assumed-role/gitlab-ci/gitlab-42-4242";
    assert!(stderr.contains(session), "caller {session} in:\n{stderr}");
}

#[test]
fn a_profiles_credential_process_starts_a_run() {
    let (emu, org) = Emulator::with_org();
    // A credential process prints the JSON credential format (Version 1) on stdout; this one
    // also leaves a mark, to show it ran.
    let mark = emu.path("process-ran");
    let script = emu.path("credential-process");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             touch '{mark}'\n\
             cat <<'EOF'\n\
             {{\"Version\": 1, \"AccessKeyId\": \"{PROCESS_KEY_ID}\", \
             \"SecretAccessKey\": \"process-secret\", \"SessionToken\": \"process-session\", \
             \"Expiration\": \"2099-01-01T00:00:00Z\"}}\n\
             EOF\n",
            mark = mark.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = write_profile(&emu, "process", &script);
    let mut cmd = without_static_keys(&emu);
    cmd.env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "process");
    let (doc, _) = accounts(&emu, &mut cmd);
    assert_caller_is_management(&doc, org.active().len());
    assert!(mark.exists(), "the credential process did not run");

    // And a credential process that fails stops the run at start, saying so.
    let failing = emu.path("failing-process");
    std::fs::write(&failing, "#!/bin/sh\necho 'not signed in' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = write_profile(&emu, "process", &failing);
    let cfg = emu.rollout("r.toml", &rollout_text(""));
    let out = run(without_static_keys(&emu)
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "process")
        .args(["accounts", "--config"])
        .arg(cfg));
    assert_eq!(out.code, 4, "cannot start: {}", out.stderr);
    assert!(
        out.stderr.contains("cannot load AWS credentials"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_profile_that_assumes_a_role_with_another_profiles_keys_starts_a_run() {
    let (emu, org) = Emulator::with_org();
    let credentials = emu.path("aws-credentials-source");
    std::fs::write(
        &credentials,
        "[source]\naws_access_key_id = AKIASOURCEPROFILE001\naws_secret_access_key = source-secret\n",
    )
    .unwrap();
    let config = emu.path("aws-config-role");
    std::fs::write(
        &config,
        "[profile rollout]\nrole_arn = arn:aws:iam::123456789012:role/rollout-admin\n\
         source_profile = source\nrole_session_name = alice\n",
    )
    .unwrap();
    let mut cmd = without_static_keys(&emu);
    cmd.env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_PROFILE", "rollout");
    let (doc, stderr) = accounts(&emu, &mut cmd);
    assert_caller_is_management(&doc, org.active().len());
    let assumed: Vec<_> = emu
        .calls_of("AssumeRole")
        .into_iter()
        .map(|c| c["role_arn"].clone())
        .collect();
    assert_eq!(
        assumed,
        ["arn:aws:iam::123456789012:role/rollout-admin"],
        "the profile's role, once"
    );
    let session = "arn:aws:sts::123456789012:assumed-role/rollout-admin/alice";
    assert!(stderr.contains(session), "caller {session} in:\n{stderr}");
}

/// An AWS config file with one profile `[profile NAME]` whose credentials come from `process`.
fn write_profile(emu: &Emulator, name: &str, process: &Path) -> std::path::PathBuf {
    let path = emu.path("aws-config-credential-process");
    std::fs::write(
        &path,
        format!(
            "[profile {name}]\nregion = us-east-1\ncredential_process = {}\n",
            process.display()
        ),
    )
    .unwrap();
    path
}
