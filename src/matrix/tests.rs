use std::sync::Arc;

use super::*;
use crate::compliance::State;
use crate::target::Ou;

fn row(account: &str, region: &str, inspection: Inspection, reasons: &str) -> Row {
    Row {
        account_id: account.into(),
        account_name: format!("name-{account}"),
        region: region.into(),
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
        let reason = (code >> 2) as usize;
        let why = (reason > 0).then(|| reasons[reason - 1].as_str().unwrap());
        (code & 3, why)
    };
    assert_eq!(cell(0, 0), (1, None));
    assert_eq!(cell(0, 1), (2, Some("no secret")));
    assert_eq!(
        cell(0, 2),
        (0, Some("skipped: af-south-1 is an opt-in Region"))
    );
    assert_eq!(cell(0, 3), (0, Some(NARROWED)));
    assert_eq!(cell(1, 0), (3, Some("AccessDenied")));
    assert_eq!(cell(1, 1), (2, Some("no secret")));
    assert_eq!(cell(1, 2), (0, Some(NO_ROW)));
    assert_eq!(reasons.iter().filter(|r| *r == "no secret").count(), 1);
    assert_eq!(
        data["totals"],
        serde_json::json!({"targets": 4, "compliant": 1, "non_compliant": 2, "failed": 1, "not_targeted": 4})
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
