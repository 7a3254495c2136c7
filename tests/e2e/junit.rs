//! `--junit FILE` against the emulator: every command that reports per target writes one test
//! suite per account and one case per target, read back here with an XML parser of its own
//! (roxmltree) and the rules GitLab's parser applies (lib/gitlab/ci/parsers/test/junit.rb:
//! `testsuites` > `testsuite` > `testcase`; a `failure` or `skipped` child's text is what the
//! merge request shows). Every file is also validated against the Jenkins xUnit plugin's
//! `junit-10.xsd` (tests/data) with xmllint. Failures, errors and skips follow the CSV report's
//! rows; account names are escaped; the file is written when the run is interrupted, and never
//! holds the token.

mod more;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support;
use serde_json::json;
use support::{read_report, rollout_text, run, Emulator, Org, Run, TOKEN};

/// An account name that is markup: it must come back as text.
const MARKUP: &str = "<script>&\"";
const NEW_TOKEN: &str = "test-new-token-9876543210";

/// How GitLab reads a case: its status and the text it shows.
#[derive(Debug, Clone, PartialEq)]
enum Status {
    Passed,
    Failed {
        kind: String,
        message: String,
        text: String,
    },
    /// An error stopped the target's check (`<error>`).
    Errored {
        kind: String,
        message: String,
        text: String,
    },
    Skipped {
        message: String,
        text: String,
    },
}

#[derive(Debug, Clone)]
struct Case {
    suite: String,
    classname: String,
    time: Option<f64>,
    status: Status,
}

/// Validates the file against Jenkins' `junit-10.xsd` with xmllint (Debian's libxml2-utils).
fn assert_valid_for_jenkins(path: &Path) {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit-10.xsd");
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("xmllint: {e}: install Debian's libxml2-utils (scripts/test does)")
        });
    assert!(
        out.status.success(),
        "{} is not valid against junit-10.xsd: {}\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(path).unwrap_or_default()
    );
}

/// Reads a JUnit file into cases by name (`ACCOUNT_ID/REGION`), checking it against
/// junit-10.xsd, its structure and every count on the way.
fn read_junit(path: &Path) -> HashMap<String, Case> {
    assert_valid_for_jenkins(path);
    let text = std::fs::read_to_string(path).unwrap();
    assert!(!text.contains(TOKEN) && !text.contains(NEW_TOKEN), "{text}");
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let mut cases = HashMap::new();
    // junit-10.xsd allows no `skipped` on <testsuites>; the suites carry it.
    assert_eq!(root.attribute("skipped"), None);
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    for suite in root.children().filter(|n| n.is_element()) {
        assert_eq!(suite.tag_name().name(), "testsuite");
        let name = suite.attribute("name").unwrap().to_owned();
        let count = |a: &str| suite.attribute(a).unwrap().parse::<usize>().unwrap();
        let mut found = (0, 0, 0, 0);
        for case in suite.children().filter(|n| n.is_element()) {
            assert_eq!(case.tag_name().name(), "testcase");
            let status = status(case);
            found.0 += 1;
            match status {
                Status::Failed { .. } => found.1 += 1,
                Status::Errored { .. } => found.2 += 1,
                Status::Skipped { .. } => found.3 += 1,
                Status::Passed => {}
            }
            let case_name = case.attribute("name").unwrap().to_owned();
            let parsed = Case {
                suite: name.clone(),
                classname: case.attribute("classname").unwrap().to_owned(),
                time: case.attribute("time").map(|t| t.parse().unwrap()),
                status,
            };
            assert!(
                cases.insert(case_name, parsed).is_none(),
                "one case a target"
            );
        }
        assert_eq!(
            (
                count("tests"),
                count("failures"),
                count("errors"),
                count("skipped")
            ),
            found,
            "{name}"
        );
        tests += found.0;
        failures += found.1;
        errors += found.2;
    }
    let total = |a: &str| root.attribute(a).unwrap().parse::<usize>().unwrap();
    assert_eq!(
        (total("tests"), total("failures"), total("errors")),
        (tests, failures, errors)
    );
    cases
}

fn status(case: roxmltree::Node) -> Status {
    let child = case.children().find(|n| n.is_element());
    let Some(child) = child else {
        return Status::Passed;
    };
    let attr = |a: &str| child.attribute(a).unwrap_or_default().to_owned();
    let text = child.text().unwrap_or_default().to_owned();
    match child.tag_name().name() {
        "failure" => Status::Failed {
            kind: attr("type"),
            message: attr("message"),
            text,
        },
        "error" => Status::Errored {
            kind: attr("type"),
            message: attr("message"),
            text,
        },
        "skipped" => Status::Skipped {
            message: attr("message"),
            text,
        },
        other => panic!("unexpected <{other}> in a case"),
    }
}

/// The standard Organization plus an account named like markup.
fn organization() -> (Emulator, Org) {
    let (emu, _) = Emulator::with_org();
    let org = emu.seed(json!({"accounts": [{"name": MARKUP, "parent": "root"}]}));
    (emu, org)
}

fn config(emu: &Emulator, extra: &str) -> PathBuf {
    emu.rollout("r.toml", &format!("{}\n{extra}", rollout_text("")))
}

/// The account's name as the Organization has it.
fn name_of(org: &Org, id: &str) -> String {
    org.0["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// CSV rows by case name (`ACCOUNT_ID/REGION`).
type Rows = HashMap<String, HashMap<String, String>>;

/// Runs `args --config cfg --junit FILE --report CSV` (`--out` for `report`) and returns the
/// run, the cases and the CSV rows by case name.
fn with_junit(emu: &Emulator, cfg: &Path, args: &[&str]) -> (Run, HashMap<String, Case>, Rows) {
    let (junit, csv) = (emu.path("j.xml"), emu.path("r.csv"));
    let _ = std::fs::remove_file(&junit);
    let _ = std::fs::remove_file(&csv);
    let csv_flag = match args[0] {
        "report" => Some("--out"),
        "plan" => None,
        _ => Some("--report"),
    };
    let mut cmd = emu.cmd();
    cmd.args(args)
        .arg("--config")
        .arg(cfg)
        .arg("--junit")
        .arg(&junit);
    if let Some(flag) = csv_flag {
        cmd.arg(flag).arg(&csv);
    }
    let out = run(&mut cmd);
    let rows = if csv_flag.is_some() {
        read_report(&csv)
            .into_iter()
            .map(|r| (format!("{}/{}", r["account_id"], r["region"]), r))
            .collect()
    } else {
        HashMap::new()
    };
    (out, read_junit(&junit), rows)
}

/// Every case is its row's: failed or an error exactly when the row failed (the exit status's
/// rule), with the row's reason, an error when an error stopped the target; the account is the
/// suite and the classname.
fn assert_cases_follow_rows(org: &Org, cases: &HashMap<String, Case>, rows: &Rows) {
    assert_eq!(cases.len(), rows.len());
    for (name, row) in rows {
        let case = &cases[name];
        let account = format!(
            "{} ({})",
            row["account_id"],
            name_of(org, &row["account_id"])
        );
        assert_eq!((&case.suite, &case.classname), (&account, &account));
        let failed = !row["failure"].is_empty() && row["outcome"] != "skipped";
        let stopped = ["failed", "not attempted", "interrupted"].contains(&row["outcome"].as_str());
        match &case.status {
            Status::Failed { message, text, .. } | Status::Errored { message, text, .. } => {
                assert!(failed, "{name}: {row:?}");
                assert_eq!(
                    matches!(case.status, Status::Errored { .. }),
                    stopped,
                    "{name}: {row:?}"
                );
                assert_eq!(message, &row["failure"]);
                assert!(text.contains(&row["failure"]), "{text}");
            }
            other => assert!(!failed, "{name}: {other:?} for {row:?}"),
        }
    }
}

#[test]
fn plan_apply_and_validate_write_a_case_per_target() {
    let (emu, org) = organization();
    let cfg = config(&emu, "");
    let (dev, markup) = (org.id("dev"), org.id(MARKUP));
    // The prefix held by another upstream: a conflict, in plan and apply alike.
    emu.mutate(
        json!({"op": "create_rule", "account": dev, "region": "us-east-1", "prefix": "gitlab",
        "upstream_registry": "ecr-public", "upstream_url": "public.ecr.aws"}),
    );
    let targets = org.active().len() * 2;

    let (out, cases, _) = with_junit(&emu, &cfg, &["plan"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(cases.len(), targets);
    for (name, case) in &cases {
        if *name == format!("{dev}/us-east-1") {
            let Status::Failed { kind, message, .. } = &case.status else {
                panic!("{case:?}")
            };
            assert_eq!(kind, "conflict");
            assert!(message.contains("public.ecr.aws"), "{message}");
        } else {
            // Pending: skipped, with what apply would do, in the text GitLab shows.
            assert_eq!(
                case.status,
                Status::Skipped {
                    message: "create secret, create rule".into(),
                    text: "apply would: create secret, create rule".into()
                },
                "{name}"
            );
        }
    }
    // The account named like markup comes back as its name, and is never markup in the file.
    let markup_case = &cases[&format!("{markup}/eu-west-1")];
    assert_eq!(markup_case.suite, format!("{markup} ({MARKUP})"));
    let raw = std::fs::read_to_string(emu.path("j.xml")).unwrap();
    assert!(!raw.contains("<script>"), "{raw}");
    let hyperlink = org.id("=HYPERLINK(\"http://x\")");
    assert_eq!(
        cases[&format!("{hyperlink}/us-east-1")].suite,
        format!("{hyperlink} (=HYPERLINK(\"http://x\"))")
    );

    let (out, cases, rows) = with_junit(&emu, &cfg, &["apply", "--yes"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_cases_follow_rows(&org, &cases, &rows);
    assert!(matches!(
        &cases[&format!("{dev}/us-east-1")].status,
        Status::Failed { kind, .. } if kind == "conflict"
    ));
    for (name, case) in &cases {
        assert!(case.time.is_some_and(|t| t > 0.0), "{name}: {case:?}");
    }

    // Converged targets pass a plan; the conflict still fails it.
    let (out, cases, _) = with_junit(&emu, &cfg, &["plan"]);
    assert_eq!(out.code, 1);
    let passed = cases.values().filter(|c| c.status == Status::Passed);
    assert_eq!(passed.count(), targets - 1);

    // An invalid rule is a failure of validate.
    emu.set_valid_tokens(&[]);
    let (out, cases, rows) = with_junit(&emu, &cfg, &["validate"]);
    assert_eq!(out.code, 1);
    assert_cases_follow_rows(&org, &cases, &rows);
    for (name, case) in &cases {
        assert!(
            matches!(&case.status, Status::Failed { kind, .. } if kind == "invalid"),
            "{name}: {case:?}"
        );
    }
    emu.set_valid_tokens(&[TOKEN]);
    let (out, cases, rows) = with_junit(&emu, &cfg, &["validate", "--accounts", &markup]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_cases_follow_rows(&org, &cases, &rows);
    assert_eq!(cases.len(), 2);
}

#[test]
fn probe_rotate_and_report_write_a_case_per_target() {
    let (emu, org) = organization();
    let cfg = config(&emu, "");
    let out = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (dev, prod) = (org.id("dev"), org.id("prod"));
    emu.mutate(
        json!({"op": "delete_rule", "account": dev, "region": "eu-west-1", "prefix": "gitlab"}),
    );

    // A failed pull is a failed case.
    let image = "demo-group/demo-project/app:1.0";
    let (out, cases, rows) = with_junit(&emu, &cfg, &["probe", "--image", image]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_cases_follow_rows(&org, &cases, &rows);
    let Status::Failed { message, .. } = &cases[&format!("{dev}/eu-west-1")].status else {
        panic!("{cases:?}")
    };
    assert!(
        message.starts_with("no pull through cache rule"),
        "{message}"
    );
    let failed = cases
        .values()
        .filter(|c| matches!(c.status, Status::Failed { .. }));
    assert_eq!(failed.count(), 1);

    // Rotate: the new token is nowhere in the file (read_junit checks).
    emu.set_valid_tokens(&[TOKEN, NEW_TOKEN]);
    let mut rotate = emu.cmd();
    rotate.env("GITLAB_REGISTRY_TOKEN", NEW_TOKEN);
    let junit = emu.path("rotate.xml");
    let out = run(rotate
        .args(["rotate", "--yes", "--accounts", &prod, "--config"])
        .arg(&cfg)
        .arg("--junit")
        .arg(&junit));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let cases = read_junit(&junit);
    assert_eq!(cases.len(), 2);
    assert!(cases.values().all(|c| c.status == Status::Passed));

    // Report: a non-compliant row is a failure with its reasons.
    let (out, cases, rows) = with_junit(&emu, &cfg, &["report"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(cases.len(), rows.len());
    for (name, row) in &rows {
        match &cases[name].status {
            Status::Failed {
                kind,
                message,
                text,
            } => {
                assert_eq!(row["compliant"], "false", "{name}");
                assert_eq!(kind, "non-compliant");
                assert_eq!(message, &row["reasons"]);
                for reason in row["reasons"].split("; ") {
                    assert!(text.lines().any(|l| l == reason), "{text}");
                }
            }
            Status::Passed => assert_eq!(row["compliant"], "true", "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(matches!(
        &cases[&format!("{dev}/eu-west-1")].status,
        Status::Failed { message, .. } if message.contains("no pull through cache rule")
    ));
}

#[test]
fn an_interrupted_apply_still_writes_every_case() {
    let (emu, org) = organization();
    emu.post(
        "/_ptc/faults",
        json!({"rules": [{"service": "ecr", "kind": "latency", "latency_ms": 300},
                         {"service": "secretsmanager", "kind": "latency", "latency_ms": 300}]}),
    );
    let cfg = config(&emu, "");
    let (junit, csv) = (emu.path("j.xml"), emu.path("r.csv"));
    let child = emu
        .cmd()
        .args(["apply", "--yes", "--concurrency", "2", "--config"])
        .arg(&cfg)
        .arg("--junit")
        .arg(&junit)
        .arg("--report")
        .arg(&csv)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = support::interrupt_when(child, "the rollout never got going", || {
        emu.rules().len() >= 3
    });
    assert_eq!(out.status.code(), Some(130));
    let cases = read_junit(&junit);
    let rows: Rows = read_report(&csv)
        .into_iter()
        .map(|r| (format!("{}/{}", r["account_id"], r["region"]), r))
        .collect();
    assert_eq!(cases.len(), org.active().len() * 2);
    assert_cases_follow_rows(&org, &cases, &rows);
    let stopped = rows
        .values()
        .filter(|r| ["interrupted", "not attempted"].contains(&r["outcome"].as_str()));
    assert!(stopped.count() > 0, "{rows:?}");
}

#[test]
fn a_junit_file_nowhere_is_refused_before_any_call() {
    let (emu, _) = Emulator::with_org();
    let cfg = config(&emu, "");
    let commands: [&[&str]; 6] = [
        &["plan"],
        &["apply", "--yes"],
        &["validate"],
        &["probe", "--image", "demo-group/demo-project/app:1.0"],
        &["rotate", "--yes"],
        &["report"],
    ];
    for args in commands {
        for junit in ["/nonexistent/dir/j.xml", "-"] {
            let out = run(emu
                .cmd()
                .args(args)
                .arg("--config")
                .arg(&cfg)
                .args(["--junit", junit]));
            assert_eq!(out.code, 2, "{args:?} {junit}: {}", out.stderr);
            assert!(out.stderr.contains("--junit"), "{}", out.stderr);
            assert!(emu.calls().is_empty(), "{args:?} called AWS");
        }
    }
}
