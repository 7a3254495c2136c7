//! Test support: the emulator (moto server plus the project's ECR pull through cache operations,
//! see emulator/) on a free loopback port, its control API, and the built binary pointed at it
//! through the standard AWS environment.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

use serde_json::{json, Value};

pub mod json_schema;
mod model_refusals;
mod other_secret;
pub mod upstreams;

/// The token tests declare valid: distinctive, so a leak check finds any part of it (and not
/// shaped like a real GitLab token, which repository scanners would flag).
pub const TOKEN: &str = "test-TestTokenValue0123456789";
/// The management account moto creates.
pub const MANAGEMENT: &str = "123456789012";

/// A running emulator; stopped when dropped (and when the test process dies, through stdin EOF).
pub struct Emulator {
    child: Child,
    _stdin: ChildStdin,
    pub endpoint: String,
    addr: String,
    pub dir: tempfile::TempDir,
    /// Whether the test sends values the service models refuse on purpose.
    model_refusals_expected: Cell<bool>,
    /// Model refusals of calls the log no longer holds (see [`Emulator::reset_calls`]).
    model_refusals: RefCell<Vec<String>>,
}

/// The Python with the emulator's packages and the tests' Python tools (scripts/emulator-env.sh).
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("PTC_EMULATOR_PYTHON") {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

impl Emulator {
    pub fn start() -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("emulator/server.py");
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--port", "0", "--exit-on-stdin-eof"])
            .env_remove("MOTO_ACCOUNT_ID")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect(
                "cannot start the emulator: run the tests with ./scripts/test, which installs it",
            );
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let endpoint = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the emulator did not start (moto[server] installed? see scripts/test): {line:?}"))
            .to_owned();
        let addr = endpoint.trim_start_matches("http://").to_owned();
        let stdin = child.stdin.take().unwrap();
        let dir = tempfile::tempdir().unwrap();
        // Empty AWS config files, so the developer's own profiles cannot leak into a test.
        std::fs::write(dir.path().join("aws-config"), "").unwrap();
        std::fs::write(dir.path().join("aws-credentials"), "").unwrap();
        Emulator {
            child,
            _stdin: stdin,
            endpoint,
            addr,
            dir,
            model_refusals_expected: Cell::new(false),
            model_refusals: RefCell::new(Vec::new()),
        }
    }

    /// Starts an emulator with the standard test Organization and [`TOKEN`] valid.
    pub fn with_org() -> (Self, Org) {
        let emu = Self::start();
        let org = emu.seed(standard_org());
        emu.set_valid_tokens(&[TOKEN]);
        (emu, org)
    }

    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut s = TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").expect("http response");
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
            "{method} {path}: {head}\n{body}"
        );
        serde_json::from_str(body).unwrap_or(Value::Null)
    }

    pub fn get(&self, path: &str) -> Value {
        self.request("GET", path, None)
    }

    pub fn post(&self, path: &str, body: Value) -> Value {
        self.request("POST", path, Some(&body))
    }

    pub fn seed(&self, spec: Value) -> Org {
        Org(self.post("/_ptc/seed", spec))
    }

    pub fn set_valid_tokens(&self, tokens: &[&str]) {
        self.post("/_ptc/valid_tokens", json!({ "tokens": tokens }));
    }

    pub fn deny_assume_role(&self, accounts: &[&str]) {
        self.post("/_ptc/deny_assume_role", json!({ "accounts": accounts }));
    }

    pub fn mutate(&self, op: Value) -> Value {
        self.post("/_ptc/mutate", op)
    }

    /// Every AWS call the emulator has seen: (service, action, account, region).
    pub fn calls(&self) -> Vec<Value> {
        self.get("/_ptc/calls")["calls"].as_array().unwrap().clone()
    }

    pub fn reset_calls(&self) {
        // Keep the model check's refusals for the check when the emulator is dropped.
        let refused = self.refused_calls();
        self.model_refusals.borrow_mut().extend(refused);
        self.post("/_ptc/calls/reset", json!({}));
    }

    /// Runs `plan --detailed-exitcode` on a converged Organization: exit 0 and no mutating call.
    pub fn assert_converged(&self, cfg: &Path) -> Run {
        self.reset_calls();
        let planned = run(self
            .cmd()
            .args(["plan", "--detailed-exitcode", "--config"])
            .arg(cfg));
        assert_eq!(planned.code, 0, "{}\n{}", planned.stdout, planned.stderr);
        assert!(
            self.mutating_calls().is_empty(),
            "{:?}",
            self.mutating_calls()
        );
        planned
    }

    /// Calls that change state, by action name (AWS's and GitLab's).
    pub fn mutating_calls(&self) -> Vec<String> {
        const READS: &[&str] = &[
            "DescribeSecret",
            "DescribePullThroughCacheRules",
            "ValidatePullThroughCacheRule",
            "GetCallerIdentity",
            "AssumeRole",
            "ListAccounts",
            "ListAccountsForParent",
            "ListChildren",
            "ListRoots",
            "ListOrganizationalUnitsForParent",
            "DescribeOrganizationalUnit",
            "DescribeOrganization",
            "GetRole",
            "DescribeRepositoryCreationTemplates",
            "GetRegistryPolicy",
            "GetAuthorizationToken",
            "DescribeRepositories",
            "GetLifecyclePolicy",
            // The registry endpoint (probe's pulls), not the ECR API.
            "Ping",
            "GetManifest",
            "HeadManifest",
            "GetBlob",
            "HeadBlob",
            // The S3 side of a blob download (ECR's redirect).
            "GetObject",
            "HeadObject",
        ];
        self.calls()
            .iter()
            .map(|c| c["action"].as_str().unwrap().to_owned())
            // GitLab's calls are `METHOD /path`: its reads are GETs.
            .filter(|a| !READS.contains(&a.as_str()) && !a.starts_with("GET /"))
            .collect()
    }

    /// Chooses the identity policies of roles by name (see the emulator's README); roles not
    /// named may do everything.
    pub fn identity_policies(&self, policies: Value) {
        self.post("/_ptc/identity_policies", json!({ "policies": policies }));
    }

    /// Registry policy texts by (account, region).
    pub fn registry_policy(&self, account: &str, region: &str) -> Option<String> {
        self.state()["registry_policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["account"] == account && p["region"] == region)
            .map(|p| p["policyText"].as_str().unwrap().to_owned())
    }

    /// The emulator's ECR repositories (the cache's, after pulls).
    pub fn repositories(&self) -> Vec<Value> {
        self.state()["repositories"].as_array().unwrap().clone()
    }

    /// Calls of one action, e.g. "GetManifest".
    pub fn calls_of(&self, action: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c["action"] == action)
            .collect()
    }

    pub fn state(&self) -> Value {
        self.get("/_ptc/state")
    }

    /// Live secrets and rules named `name` / with prefix "gitlab", by (account, region).
    pub fn secrets(&self) -> Vec<Value> {
        self.state()["secrets"].as_array().unwrap().clone()
    }

    /// The emulator's GitLab: groups, tokens (values included) and CI/CD variables.
    pub fn gitlab(&self) -> Value {
        self.get("/_ptc/gitlab")
    }

    /// GitLab's calls in the log, as `METHOD /path`.
    pub fn gitlab_calls(&self) -> Vec<String> {
        self.calls()
            .iter()
            .filter(|c| c["service"] == "gitlab")
            .map(|c| c["action"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The REST API's base URL, for `[gitlab] api_url`.
    pub fn gitlab_api_url(&self) -> String {
        format!("{}/_gitlab/api/v4", self.endpoint)
    }

    pub fn rules(&self) -> Vec<Value> {
        self.state()["rules"].as_array().unwrap().clone()
    }

    /// The binary, with the standard AWS environment pointed at this emulator and nothing else
    /// from the developer's environment leaking in.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ptc-rollout"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AWS_")
                || k == "GITLAB_REGISTRY_TOKEN"
                || k == "GITLAB_API_TOKEN"
            {
                c.env_remove(k);
            }
        }
        c.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", self.dir.path().join("aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("aws-credentials"),
            )
            .env("GITLAB_REGISTRY_TOKEN", TOKEN)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null());
        c
    }

    /// Runs the binary with `args`, `--config cfg` and `--report FILE`: the run and the
    /// report's rows (none when it wrote no report).
    pub fn with_report(
        &self,
        cfg: &Path,
        args: &[&str],
    ) -> (Run, Vec<std::collections::HashMap<String, String>>) {
        self.with_report_of(self.cmd(), cfg, args)
    }

    /// [`Emulator::with_report`] with a command prepared by the caller (e.g. an extra variable).
    pub fn with_report_of(
        &self,
        mut cmd: Command,
        cfg: &Path,
        args: &[&str],
    ) -> (Run, Vec<std::collections::HashMap<String, String>>) {
        let report = self.path("with-report.csv");
        let _ = std::fs::remove_file(&report);
        let out = run(cmd
            .args(args)
            .arg("--config")
            .arg(cfg)
            .arg("--report")
            .arg(&report));
        let rows = if report.exists() {
            read_report(&report)
        } else {
            Vec::new()
        };
        (out, rows)
    }

    /// Runs `report` (the compliance export) with its CSV in a file; returns the run and rows.
    pub fn compliance(&self, cfg: &Path) -> (Run, Vec<std::collections::HashMap<String, String>>) {
        let out_path = self.path("compliance.csv");
        let _ = std::fs::remove_file(&out_path);
        let out = run(self
            .cmd()
            .args(["report", "--out"])
            .arg(&out_path)
            .arg("--config")
            .arg(cfg));
        let rows = if out_path.exists() {
            read_report(&out_path)
        } else {
            Vec::new()
        };
        (out, rows)
    }

    /// Writes a rollout file into the test's directory and returns its path.
    pub fn rollout(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let refused = self.unexpected_model_refusals().map_err(|e| {
            // No test stops the emulator on purpose: one that is gone failed.
            match self.child.try_wait() {
                Ok(Some(status)) => format!("{e} (the emulator exited: {status})"),
                _ => e,
            }
        });
        let _ = self.child.kill();
        let _ = self.child.wait();
        model_refusals::report(refused);
    }
}

/// The seeded Organization's layout.
pub struct Org(pub Value);

impl Org {
    pub fn id(&self, name: &str) -> String {
        self.0["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("no account {name}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn ou(&self, name: &str) -> String {
        self.0["ous"][name].as_str().unwrap().to_owned()
    }

    /// Ids of the ACTIVE accounts, management included.
    pub fn active(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.0["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["state"] == "ACTIVE")
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    }
}

/// The rollout file used by most tests: two Regions, every account.
pub fn rollout_text(extra_targets: &str) -> String {
    format!(
        r#"[targets]
regions = ["us-east-1", "eu-west-1"]
role_name = "OrganizationAccountAccessRole"
{extra_targets}

[upstream]
registry = "gitlab-container-registry"
username = "ptc-bot"
token_env = "GITLAB_REGISTRY_TOKEN"

[rule]
ecr_repository_prefix = "gitlab"
secret_name = "ecr-pullthroughcache/gitlab"
tags = {{ team = "platform" }}
"#
    )
}

/// `YYYY-MM-DD` of the day `days` from today (UTC), e.g. for a token's expiry tag.
pub fn date_in(days: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Days to civil date (H. Hinnant's algorithm).
    let z = now.div_euclid(86_400) + days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Sends Ctrl-C (SIGINT) to the running binary once `ready` holds (failing with `never` after a
/// minute), and waits for it to end.
pub fn interrupt_when(
    child: std::process::Child,
    never: &str,
    ready: impl Fn() -> bool,
) -> std::process::Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "{never}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    child.wait_with_output().unwrap()
}

/// Output of a run, with both streams as text.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The standard test Organization's OUs and accounts, as [`Emulator::with_org`] seeds them.
pub fn standard_org() -> Value {
    json!({
        "ous": [
            {"name": "Workloads", "parent": "root"},
            {"name": "Prod", "parent": "Workloads"},
            {"name": "Sandbox", "parent": "root"}
        ],
        "accounts": [
            {"name": "dev", "parent": "Workloads"},
            {"name": "prod", "parent": "Prod"},
            {"name": "=HYPERLINK(\"http://x\")", "parent": "Sandbox"},
            {"name": "legacy", "parent": "root", "state": "SUSPENDED"}
        ]
    })
}

/// The GitLab group Owner's personal access token the `token` commands sign in with.
pub const API_TOKEN: &str = "test-ApiOwnerToken-5555555555";

/// Runs the binary with `args` and `--config cfg`, [`API_TOKEN`] in its environment.
pub fn run_with_api_token(emu: &Emulator, args: &[&str], cfg: &Path) -> Run {
    run(emu
        .cmd()
        .env("GITLAB_API_TOKEN", API_TOKEN)
        .args(args)
        .arg("--config")
        .arg(cfg))
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Reads a CSV report into header-keyed rows.
pub fn read_report(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            header
                .iter()
                .zip(rec.unwrap().iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}
