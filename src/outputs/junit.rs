//! The results as JUnit XML (`--junit`), for CI test reports such as GitLab's merge request
//! widget: one test suite per account, one test case per target (`ACCOUNT_ID/REGION`, and
//! `ACCOUNT_ID/REGION/UPSTREAM` when the rows are of several upstreams). Plain
//! data in, a [`Report`] out; the XML itself, and its escaping, is `quick-junit`'s.
//!
//! GitLab shows a case's `<failure>`, `<error>` or `<skipped>` text, not its `message`
//! attribute, so each carries the reason. A target an error kept from being checked is an
//! `<error>`; one checked and found wrong, a `<failure>`. [`write()`] keeps the file valid
//! against the Jenkins xUnit plugin's `junit-10.xsd` as well.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::data::target::{Outcome, TargetResult};
use crate::outputs::compliance::{Revocation, Row, State};
use crate::outputs::several_upstreams;

/// What the results are of: a `plan` marks a target with pending changes skipped, with the
/// planned actions (the merge request then shows what would change); a run does not plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Results {
    Plan,
    Run,
}

/// Writes the report as XML valid against Jenkins' `junit-10.xsd`, which GitLab reads too.
/// quick-junit always writes `skipped` on `<testsuites>`, an attribute that schema does not
/// allow there (the xUnit plugin then drops the whole file): it is taken out of that one tag.
pub(crate) fn write(report: &Report, mut w: impl io::Write) -> io::Result<()> {
    let xml = report.to_string().map_err(io::Error::other)?;
    w.write_all(without_suites_skipped(&xml).as_bytes())
}

/// The XML without the `skipped` attribute of its `<testsuites>` tag. Attribute values are
/// escaped (`"` and `>` never appear raw in them), so the first `>` ends the tag and
/// ` skipped="` inside it can only be that attribute.
fn without_suites_skipped(xml: &str) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml.to_owned();
    };
    let end = start + xml[start..].find('>').unwrap_or(xml.len() - start);
    let tag = &xml[start..end];
    let Some(at) = tag.find(r#" skipped=""#) else {
        return xml.to_owned();
    };
    let value_start = at + r#" skipped=""#.len();
    let Some(len) = tag[value_start..].find('"') else {
        return xml.to_owned();
    };
    let (cut_from, cut_to) = (start + at, start + value_start + len + 1);
    format!("{}{}", &xml[..cut_from], &xml[cut_to..])
}

/// One case per target: a target an error stopped (failed, interrupted, not attempted) is an
/// error; a conflicted, stale or invalid target, or a failed pull, is a failure with the row's
/// reason (together, the rule of the exit status, [`TargetResult::is_failure`]); a skipped
/// target is skipped with why; the rest pass.
pub(crate) fn from_results(name: &str, results: &[Box<TargetResult>], kind: Results) -> Report {
    let several = several_upstreams(results.iter().map(|r| &r.target));
    let cases = results.iter().map(|r| {
        let status = if r.is_failure() {
            let (kind, text) = why_failed(r);
            let message = r.failure().unwrap_or_default();
            if stopped(r) {
                error(kind, &message, &text)
            } else {
                failure(kind, &message, &text)
            }
        } else if kind == Results::Plan && r.outcome == Outcome::Pending {
            planned(r)
        } else if r.outcome == Outcome::Skipped {
            let why = r.error.clone().unwrap_or_default();
            // Some reasons say "skipped: ..." themselves.
            let text = if why.starts_with("skipped") {
                why.clone()
            } else {
                format!("skipped: {why}")
            };
            skipped(&why, &text)
        } else {
            TestCaseStatus::success()
        };
        Case::of(r, status, several)
    });
    report(name, cases)
}

/// The compliance export (`report`), by the row's state: a non-compliant or warning row is a
/// failure with its reasons, one a line; a row not inspected an error; a skipped row skipped.
/// `results` are the rows' targets, in the same order (for the time each took).
pub(crate) fn from_rows(name: &str, rows: &[Row], results: &[Box<TargetResult>]) -> Report {
    debug_assert_eq!(rows.len(), results.len(), "one row per target");
    let several = several_upstreams(results.iter().map(|r| &r.target));
    let cases = rows.iter().zip(results).map(|(row, r)| {
        let state = row.state.as_str();
        let text = format!("{state}:\n{}", row.reasons.replace("; ", "\n"));
        let status = match row.state {
            State::Compliant => TestCaseStatus::success(),
            State::Warning | State::NonCompliant => failure(state, &row.reasons, &text),
            State::NotInspected => error(state, &row.reasons, &text),
            State::Skipped => skipped(&row.reasons, &row.reasons),
        };
        Case {
            account: (&row.account_id, &row.account_name),
            region: &row.region,
            upstream: several.then_some(row.upstream.as_str()),
            status,
            time: r.elapsed,
        }
    });
    report(name, cases)
}

/// `token revoke-old`: a target proven on the current token passes; one that still needs an
/// older token (or is not proven not to) fails; one an error kept from being read is an error;
/// one out of reach for good is skipped.
pub(crate) fn from_revocation(name: &str, results: &[Box<TargetResult>]) -> Report {
    let several = several_upstreams(results.iter().map(|r| &r.target));
    let cases = results.iter().map(|r| {
        let status = match crate::outputs::compliance::revocation(r) {
            Revocation::Proven => TestCaseStatus::success(),
            Revocation::Skipped(why) => skipped(&why, &format!("needs no token: {why}")),
            Revocation::Behind(why) if r.error.is_some() => error(
                "not inspected",
                &why,
                &format!("still needs an old token: {why}"),
            ),
            Revocation::Behind(why) => {
                failure("behind", &why, &format!("still needs an old token: {why}"))
            }
        };
        Case::of(r, status, several)
    });
    report(name, cases)
}

/// Whether an error stopped the target before it was checked (or changed) to its end: JUnit's
/// `<error>`, not a finding.
fn stopped(r: &TargetResult) -> bool {
    matches!(
        r.outcome,
        Outcome::Failed | Outcome::NotAttempted | Outcome::Interrupted
    )
}

/// How a failing row failed, in a word (its outcome, else what its checks found), and the text
/// GitLab shows: that word and its reason, then the row's own note when it is another (a
/// target `rotate` skipped whose rule is invalid).
fn why_failed(r: &TargetResult) -> (&'static str, String) {
    let invalid = r.validation.as_ref().filter(|v| !v.is_valid);
    let pull = r.probe.as_ref().filter(|p| !p.ok);
    let (kind, reason) = if r.outcome.is_failure() {
        (r.outcome.as_str(), r.failure())
    } else if let Some(v) = invalid {
        let why = v.failure.as_deref().unwrap_or("rule is not valid");
        ("invalid", Some(why.to_owned()))
    } else if let Some(p) = pull {
        (
            "pull failed",
            Some(p.failure.as_deref().unwrap_or("pull failed").to_owned()),
        )
    } else {
        (r.outcome.as_str(), r.failure())
    };
    let reason = reason.unwrap_or_default();
    let text = match &r.error {
        Some(note) if *note != reason => format!("{kind}: {reason}\n{note}"),
        _ => format!("{kind}: {reason}"),
    };
    (kind, text)
}

/// A pending target of a plan: skipped, with what `apply` would do.
fn planned(r: &TargetResult) -> TestCaseStatus {
    let actions: Vec<&str> = r
        .decision
        .as_ref()
        .map(|d| d.actions().iter().map(|a| a.label()).collect())
        .unwrap_or_default();
    let actions = actions.join(", ");
    let unmanaged = r.observed.as_ref().is_some_and(|o| o.secret.is_unmanaged());
    let note = if unmanaged {
        " (the existing secret is not ptc-rollout's: it is used, never written)"
    } else {
        ""
    };
    skipped(&actions, &format!("apply would: {actions}{note}"))
}

fn failure(kind: &str, message: &str, text: &str) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
    s.set_type(kind).set_message(message).set_description(text);
    s
}

fn error(kind: &str, message: &str, text: &str) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
    s.set_type(kind).set_message(message).set_description(text);
    s
}

fn skipped(message: &str, text: &str) -> TestCaseStatus {
    let mut s = TestCaseStatus::skipped();
    s.set_message(message).set_description(text);
    s
}

/// One target's case before it is placed in its account's suite.
struct Case<'a> {
    account: (&'a str, &'a str),
    region: &'a str,
    /// The upstream, named when the rows are of several.
    upstream: Option<&'a str>,
    status: TestCaseStatus,
    time: Option<Duration>,
}

impl<'a> Case<'a> {
    /// The case of a target's result.
    fn of(r: &'a TargetResult, status: TestCaseStatus, several: bool) -> Self {
        let t = &r.target;
        Case {
            account: (&t.account_id, &t.account_name),
            region: &t.region,
            upstream: several.then_some(&*t.upstream),
            status,
            time: r.elapsed,
        }
    }
}

/// Groups the cases into one suite per account, by account id. A suite's time is the sum of
/// its cases' known times (targets run concurrently: it is work, not wall-clock time).
fn report<'a>(name: &str, cases: impl Iterator<Item = Case<'a>>) -> Report {
    let mut suites: BTreeMap<(&str, &str), (TestSuite, Option<Duration>)> = BTreeMap::new();
    for case in cases {
        let (id, account_name) = case.account;
        let suite_name = format!("{id} ({account_name})");
        let (suite, time) = suites
            .entry(case.account)
            .or_insert_with(|| (TestSuite::new(suite_name.as_str()), None));
        let case_name = match case.upstream {
            Some(upstream) => format!("{id}/{}/{upstream}", case.region),
            None => format!("{id}/{}", case.region),
        };
        let mut c = TestCase::new(case_name, case.status);
        // GitLab shows the classname as the case's suite: the account, name included.
        c.set_classname(suite_name);
        if let Some(t) = case.time {
            c.set_time(t);
            *time = Some(time.unwrap_or_default() + t);
        }
        suite.add_test_case(c);
    }
    let mut report = Report::new(name);
    report.add_test_suites(suites.into_values().map(|(mut suite, time)| {
        if let Some(t) = time {
            suite.set_time(t);
        }
        suite
    }));
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::target::{Action, CheckedAt, Decision, Target, Validation};

    fn result(account: &str, name: &str, region: &str, outcome: Outcome) -> Box<TargetResult> {
        let target = Target {
            account_id: account.into(),
            account_name: name.into(),
            region: region.into(),
            upstream: "gitlab".into(),
            ou: None,
        };
        Box::new(TargetResult::new(target, outcome, CheckedAt(0)))
    }

    #[test]
    fn cases_are_grouped_by_account_and_escaped() {
        let mut pending = result("111", "<script>&\"", "eu-west-1", Outcome::Pending);
        pending.decision = Some(Decision::Change {
            actions: vec![Action::CreateSecret, Action::CreateRule],
        });
        pending.elapsed = Some(Duration::from_millis(1500));
        let mut invalid = result("222", "prod", "us-east-1", Outcome::Unchanged);
        invalid.validation = Some(Validation::not_checked("bad <token>".into()));
        let results = vec![
            pending,
            result("111", "<script>&\"", "us-east-1", Outcome::Unchanged),
            invalid,
        ];
        let xml = from_results("plan", &results, Results::Plan)
            .to_string()
            .unwrap();
        assert!(
            xml.contains(
                r#"<testsuite name="111 (&lt;script&gt;&amp;&quot;)" tests="2" skipped="1""#
            ),
            "{xml}"
        );
        assert!(xml.contains(r#"name="111/eu-west-1""#), "{xml}");
        assert!(xml.contains(r#"time="1.500""#), "{xml}");
        assert!(
            xml.contains("apply would: create secret, create rule"),
            "{xml}"
        );
        assert!(xml.contains(r#"type="invalid""#), "{xml}");
        assert!(xml.contains("bad &lt;token&gt;"), "{xml}");
        assert!(!xml.contains("<script>"), "{xml}");
    }

    #[test]
    fn only_the_skipped_attribute_of_testsuites_is_taken_out() {
        let mut skipped = result("111", r#" skipped="1">"#, "eu-west-1", Outcome::Skipped);
        skipped.error = Some("skipped: af-south-1 is an opt-in Region".into());
        let report = from_results(r#"a" skipped="2"#, &[skipped], Results::Run);
        let mut xml = Vec::new();
        write(&report, &mut xml).unwrap();
        let xml = String::from_utf8(xml).unwrap();
        assert!(
            xml.contains(
                r#"<testsuites name="a&quot; skipped=&quot;2" tests="1" failures="0" errors="0">"#
            ),
            "{xml}"
        );
        assert!(xml.contains(r#"tests="1" skipped="1" errors="0""#), "{xml}");
    }

    #[test]
    fn a_target_rotate_skipped_fails_on_its_invalid_rule_and_says_both() {
        let mut unmanaged = result("111", "dev", "eu-west-1", Outcome::Skipped);
        unmanaged.error = Some("unmanaged secret: left untouched".into());
        unmanaged.validation = Some(Validation::not_checked("bad credentials".into()));
        let mut no_secret = result("111", "dev", "us-east-1", Outcome::Skipped);
        no_secret.error = Some("skipped: no secret to rotate (run apply first)".into());
        let xml = from_results("rotate", &[unmanaged, no_secret], Results::Run)
            .to_string()
            .unwrap();
        assert!(
            xml.contains(
                r#"<failure message="unmanaged secret: left untouched" type="invalid">invalid: bad credentials
unmanaged secret: left untouched</failure>"#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(">skipped: no secret to rotate (run apply first)</skipped>"),
            "{xml}"
        );
    }

    #[test]
    fn cases_name_their_upstream_only_when_there_are_several() {
        let gitlab = result("111", "dev", "us-east-1", Outcome::Unchanged);
        let mut public = result("111", "dev", "us-east-1", Outcome::Unchanged);
        public.target.upstream = "ecr-public".into();
        let one = from_results("run", std::slice::from_ref(&gitlab), Results::Run)
            .to_string()
            .unwrap();
        assert!(one.contains(r#"name="111/us-east-1""#), "{one}");
        let both = from_results("run", &[gitlab, public], Results::Run)
            .to_string()
            .unwrap();
        assert!(both.contains(r#"name="111/us-east-1/gitlab""#), "{both}");
        assert!(
            both.contains(r#"name="111/us-east-1/ecr-public""#),
            "{both}"
        );
    }
}
