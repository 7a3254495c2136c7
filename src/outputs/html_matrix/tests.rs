use std::sync::Arc;

use super::*;
use crate::data::target::Ou;
use crate::outputs::compliance::{Inspection, State};

fn row(account: &str, region: &str, inspection: Inspection, reasons: &str) -> Row {
    Row {
        account_id: account.into(),
        account_name: format!("name-{account}"),
        region: region.into(),
        upstream: "gitlab".into(),
        state: match inspection {
            Inspection::Skipped => State::Skipped,
            Inspection::Failed => State::NotInspected,
            _ if reasons.is_empty() => State::Compliant,
            _ => State::NonCompliant,
        },
        compliant: inspection == Inspection::Inspected && reasons.is_empty(),
        reasons: reasons.into(),
        rule: "",
        upstream_registry_url: String::new(),
        credential_arn: String::new(),
        secret: "",
        secret_managed: None,
        secret_last_changed: String::new(),
        secret_age_days: None,
        token_expires_on: String::new(),
        token_days_left: None,
        expiry_source: "",
        is_valid: None,
        failure: String::new(),
        pull_access: "",
        checked_at: "2025-01-01T00:00:00Z".into(),
        ou: None,
        inspection,
    }
}

fn regions(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| r.to_string()).collect()
}

/// The page's embedded data, read back as the browser reads it.
fn embedded(page: &str) -> serde_json::Value {
    let start = page
        .find(r#"<script type="application/json" id="data">"#)
        .unwrap();
    let json = &page[start..];
    let json = &json[json.find('>').unwrap() + 1..json.find("</script>").unwrap()];
    serde_json::from_str(json).unwrap()
}

fn matrix<'a>(rows: &'a [Row], all: &'a [String], run: &'a [String]) -> Matrix<'a> {
    Matrix {
        rows,
        regions: all,
        run_regions: run,
        ecr_repository_prefix: "gitlab",
        upstreams: &[],
        warning_days: 30,
    }
}

#[test]
fn cells_carry_their_state_and_reason_and_the_totals_count_them() {
    let all = regions(&["us-east-1", "eu-west-1", "af-south-1", "ap-south-1"]);
    let run = regions(&["us-east-1", "eu-west-1", "af-south-1"]);
    let rows = [
        row("111111111111", "us-east-1", Inspection::Inspected, ""),
        row(
            "111111111111",
            "eu-west-1",
            Inspection::Inspected,
            "no secret",
        ),
        row(
            "111111111111",
            "af-south-1",
            Inspection::Skipped,
            "not inspected: skipped: af-south-1 is an opt-in Region",
        ),
        row(
            "222222222222",
            "us-east-1",
            Inspection::Failed,
            "not inspected: AccessDenied",
        ),
        row(
            "222222222222",
            "eu-west-1",
            Inspection::Inspected,
            "no secret",
        ),
    ];
    let data = embedded(&page(&matrix(&rows, &all, &run)));
    let reasons = data["reasons"].as_array().unwrap();
    let cell = |account: usize, region: usize| {
        let code = data["accounts"][account][3][region].as_u64().unwrap();
        let reason = (code >> 3) as usize;
        let why = (reason > 0).then(|| reasons[reason - 1].as_str().unwrap());
        (code & 7, why)
    };
    assert_eq!(cell(0, 0), (1, None));
    assert_eq!(cell(0, 1), (3, Some("no secret")));
    assert_eq!(
        cell(0, 2),
        (5, Some("skipped: af-south-1 is an opt-in Region"))
    );
    assert_eq!(cell(0, 3), (0, Some(NARROWED)));
    assert_eq!(cell(1, 0), (4, Some("AccessDenied")));
    assert_eq!(cell(1, 1), (3, Some("no secret")));
    assert_eq!(cell(1, 2), (0, Some(NO_ROW)));
    assert_eq!(reasons.iter().filter(|r| *r == "no secret").count(), 1);
    assert_eq!(
        data["totals"],
        serde_json::json!({"targets": 5, "compliant": 1, "warning": 0, "non_compliant": 2,
            "not_inspected": 1, "skipped": 1, "not_targeted": 3})
    );
    assert_eq!(data["accounts"][0][2], -1, "no OU named");
}

#[test]
fn ous_are_listed_once_and_the_soonest_token_expiry_is_shown() {
    let ou = Arc::new(Ou {
        id: "ou-ab12-11111111".into(),
        name: "Workloads".into(),
    });
    let all = regions(&["us-east-1"]);
    let mut rows = [
        row("111111111111", "us-east-1", Inspection::Inspected, ""),
        row("222222222222", "us-east-1", Inspection::Inspected, ""),
    ];
    for (r, days) in rows.iter_mut().zip([40, 12]) {
        r.ou = Some(ou.clone());
        r.token_days_left = Some(days);
        r.token_expires_on = format!("day+{days}");
    }
    let data = embedded(&page(&matrix(&rows, &all, &all)));
    assert_eq!(
        data["ous"],
        serde_json::json!([["ou-ab12-11111111", "Workloads"]])
    );
    assert_eq!(data["accounts"][1][2], 0);
    assert_eq!(
        data["token"],
        serde_json::json!({"days_left": 12, "expires_on": "day+12"})
    );
}

#[test]
fn user_text_cannot_end_the_data_or_become_markup() {
    let all = regions(&["us-east-1"]);
    let mut rows = [row("111111111111", "us-east-1", Inspection::Inspected, "")];
    let name = "</script><script>alert(1)</script><!--";
    rows[0].account_name = name.into();
    let page = page(&matrix(&rows, &all, &all));
    assert_eq!(page.matches("</script").count(), 2, "only the template's");
    assert!(!page.contains("<!--\""), "no comment opened in the data");
    assert_eq!(embedded(&page)["accounts"][0][1], name);
}

#[test]
fn the_policy_lets_exactly_the_pages_script_run() {
    let page = page(&matrix(&[], &[], &[]));
    let script = script_text(&page);
    let digest = aws_smithy_types::base64::encode(Sha256::digest(script.as_bytes()));
    assert!(
        page.contains(&format!("script-src 'sha256-{digest}'")),
        "the CSP hash is the script's"
    );
    assert_eq!(TEMPLATE.matches(DATA).count(), 1);
    assert!(script.contains("textContent") && !script.contains("innerHTML"));
}

#[test]
fn totals_and_the_targets_to_fix_are_plain_html() {
    let all = regions(&["us-east-1", "eu-west-1", "af-south-1"]);
    let mut rows = [
        row("111111111111", "us-east-1", Inspection::Inspected, ""),
        row(
            "111111111111",
            "eu-west-1",
            Inspection::Inspected,
            "no <secret>",
        ),
        row(
            "111111111111",
            "af-south-1",
            Inspection::Skipped,
            "not inspected: skipped: opt-in",
        ),
        row(
            "222222222222",
            "us-east-1",
            Inspection::Failed,
            "not inspected: AccessDenied",
        ),
        row(
            "222222222222",
            "eu-west-1",
            Inspection::Inspected,
            "token expires within 30 days",
        ),
    ];
    rows[4].state = State::Warning;
    rows[3].account_name = "<b>x</b>".into();
    let page = page(&matrix(&rows, &all, &all));
    let (html, _) = page.split_once("<script").unwrap();
    for (id, n) in [
        ("targets", 5),
        ("compliant", 1),
        ("warning", 1),
        ("non-compliant", 1),
        ("not-inspected", 1),
        ("skipped", 1),
        ("not-targeted", 1),
    ] {
        assert!(html.contains(&format!("id=\"total-{id}\">{n}<")), "{id}");
    }
    let todo = html.split_once("id=\"todo\"").unwrap().1;
    assert_eq!(
        todo.matches("<tr class=").count(),
        3,
        "warning, non-compliant, not inspected"
    );
    assert!(todo.contains("<td>eu-west-1</td><td>non-compliant</td><td>no &lt;secret&gt;</td>"));
    assert!(todo.contains("<td>&lt;b&gt;x&lt;/b&gt;</td><td>222222222222</td><td>us-east-1</td><td>not inspected</td><td>AccessDenied</td>"));
    assert!(todo.contains("<td>warning</td><td>token expires within 30 days</td>"));
    assert!(!todo.contains("skipped: opt-in"), "skipped is not to fix");
    assert!(!html.contains("<b>"), "user text is text");
}

#[test]
fn several_upstreams_share_a_regions_cell_and_are_listed_without_script() {
    let all = regions(&["us-east-1", "eu-west-1"]);
    let ups = regions(&["gitlab", "ecr-public"]);
    let mut public = row(
        "111111111111",
        "us-east-1",
        Inspection::Inspected,
        "no pull through cache rule",
    );
    public.upstream = "ecr-public".into();
    let rows = [
        row("111111111111", "us-east-1", Inspection::Inspected, ""),
        public,
    ];
    let mut m = matrix(&rows, &all, &all);
    m.upstreams = &ups;
    let html = page(&m);
    let data = embedded(&html);
    assert_eq!(
        data["upstreams"],
        serde_json::json!(["gitlab", "ecr-public"])
    );
    // Region-major: us-east-1 gitlab, us-east-1 ecr-public, eu-west-1 gitlab, eu-west-1 ecr-public.
    let cells: Vec<u64> = data["accounts"][0][3]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap() & 7)
        .collect();
    assert_eq!(cells, [1, 3, 0, 0]);
    assert_eq!(data["totals"]["targets"], 2);
    assert_eq!(data["totals"]["not_targeted"], 2);
    assert!(html.contains("<h1>ECR pull through cache: compliance</h1>"));
    let todo = html.split_once("id=\"todo\"").unwrap().1;
    assert!(todo.contains("<th scope=\"col\">State</th><th scope=\"col\">Upstream</th>"));
    assert!(todo.contains(
        "<td>us-east-1</td><td>non-compliant</td><td>ecr-public</td><td>no pull through cache rule</td>"
    ));
    // One upstream: the page as it was.
    let single = page(&matrix(&rows[..1], &all, &all));
    assert!(embedded(&single).get("upstreams").is_none());
    assert!(single.contains("<h1>ECR pull through cache for GitLab: compliance</h1>"));
    assert!(!single.contains("Upstream</th>"));
}
