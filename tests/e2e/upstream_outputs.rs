//! Every output names the upstream each row is for: a rollout of GitLab and ECR Public (no
//! credential) through plan, apply and report, read as a user's tools read them: the CSV's
//! `upstream` column, the JSON's `upstream` key, the JUnit case names, the HTML matrix's cells
//! (with and without script), and a saved plan that records both upstreams.

use crate::html_report::browser;
use crate::support;
use serde_json::{json, Value};
use support::upstreams::{with_upstreams, ECR_PUBLIC, GITLAB, TARGETS};
use support::{read_report, run, Emulator};

#[test]
fn plan_apply_and_report_name_each_rows_upstream() {
    let (emu, org) = Emulator::with_org();
    let cfg = emu.rollout("two.toml", &with_upstreams(TARGETS, &[GITLAB, ECR_PUBLIC]));
    let dev = org.id("dev");
    let active = org.active();
    let targets = active.len() * 2 * 2;

    // plan: the table and the JUnit cases name the upstream; the saved plan records both.
    let plan_junit = emu.path("plan.xml");
    let out = run(emu
        .cmd()
        .args(["plan", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(emu.path("plan.json"))
        .arg("--junit")
        .arg(&plan_junit));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let header = out.stdout.lines().next().unwrap();
    assert!(
        header.contains("REGION") && header.contains("UPSTREAM"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("ecr-public"), "{}", out.stdout);
    let xml = std::fs::read_to_string(&plan_junit).unwrap();
    for upstream in ["gitlab", "ecr-public"] {
        let case = format!("name=\"{dev}/us-east-1/{upstream}\"");
        assert!(xml.contains(&case), "{case} in {xml}");
    }
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(emu.path("plan.json")).unwrap()).unwrap();
    let names: Vec<&str> = plan["planned_for"]["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gitlab", "ecr-public"]);

    // apply the plan: the CSV has the upstream column, each row its upstream's prefix and secret.
    let report = emu.path("apply.csv");
    let out = run(emu
        .cmd()
        .args(["apply", "--yes", "--config"])
        .arg(&cfg)
        .arg("--plan")
        .arg(emu.path("plan.json"))
        .arg("--report")
        .arg(&report));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let header = std::fs::read_to_string(&report).unwrap();
    assert!(
        header.starts_with("account_id,account_name,region,upstream,ecr_repository_prefix,"),
        "{header}"
    );
    let rows = read_report(&report);
    assert_eq!(rows.len(), targets);
    for r in &rows {
        match r["upstream"].as_str() {
            "gitlab" => {
                assert_eq!(r["ecr_repository_prefix"], "gitlab");
                assert_eq!(r["secret_name"], "ecr-pullthroughcache/gitlab");
                assert_eq!(r["upstream_registry_url"], "registry.gitlab.com");
            }
            "ecr-public" => {
                assert_eq!(r["ecr_repository_prefix"], "ecr-public");
                assert_eq!(
                    (r["secret_name"].as_str(), r["secret_state"].as_str()),
                    ("", "")
                );
                assert_eq!(r["upstream_registry_url"], "public.ecr.aws");
            }
            other => panic!("upstream {other:?}"),
        }
    }

    // A plan made for other upstreams is refused.
    let one = emu.rollout("one.toml", &with_upstreams(TARGETS, &[GITLAB]));
    let out = run(emu
        .cmd()
        .args(["apply", "--yes", "--config"])
        .arg(&one)
        .arg("--plan")
        .arg(emu.path("plan.json")));
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("upstreams gitlab, ecr-public, not gitlab"),
        "{}",
        out.stderr
    );

    // One ECR Public rule gone: the report says which upstream's row it is.
    emu.mutate(
        json!({"op": "delete_rule", "account": dev, "region": "us-east-1", "prefix": "ecr-public"}),
    );
    let out = run(emu
        .cmd()
        .args(["report", "--format", "json", "--config"])
        .arg(&cfg));
    support::json_schema::assert_valid("report.schema.json", &out.stdout);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let rows = doc["targets"].as_array().unwrap();
    assert_eq!(rows.len(), targets);
    let row = |upstream: &str| {
        rows.iter()
            .find(|t| {
                t["account_id"] == dev.as_str()
                    && t["region"] == "us-east-1"
                    && t["upstream"] == upstream
            })
            .unwrap_or_else(|| panic!("{upstream} row in {doc:#}"))
    };
    assert_eq!(
        row("ecr-public")["rule"],
        "absent",
        "{:#}",
        row("ecr-public")
    );
    assert_eq!(row("ecr-public")["secret"], Value::Null);
    assert_eq!(row("gitlab")["rule"], "present");
    assert_eq!(doc["rollout"]["upstreams"][1]["name"], "ecr-public");

    // The HTML matrix and the compliance JUnit.
    let page = emu.path("matrix.html");
    let junit = emu.path("report.xml");
    let out = run(emu
        .cmd()
        .args(["report", "--format", "html", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&page)
        .arg("--junit")
        .arg(&junit));
    assert_eq!(out.code, 1, "one row non-compliant: {}", out.stderr);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(&format!("name=\"{dev}/us-east-1/ecr-public\"")),
        "{xml}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains(&format!("id=\"total-targets\">{targets}<")),
        "totals count (target, upstream) cells"
    );

    // Without script: the targets to fix, with their upstream.
    let plain = browser::dom_without_script(&page);
    let todo: Vec<Vec<String>> = plain
        .all("#todo tbody tr")
        .iter()
        .map(|tr| {
            tr.children()
                .filter_map(scraper::ElementRef::wrap)
                .map(|td| td.text().collect())
                .collect()
        })
        .collect();
    assert_eq!(todo.len(), 1, "{todo:?}");
    assert_eq!(
        todo[0][2..5],
        ["us-east-1", "non-compliant", "ecr-public"],
        "{todo:?}"
    );

    // With script: each Region's cell holds one labelled cell per upstream.
    let (dom, _) = browser::dom(&page, "");
    let cell = format!("#rows tr[data-account=\"{dev}\"] td[data-region=\"us-east-1\"] button");
    let buttons = dom.all(&cell);
    let of = |b: &scraper::ElementRef, k: &str| b.value().attr(k).unwrap_or_default().to_owned();
    let seen: Vec<(String, String)> = buttons
        .iter()
        .map(|b| (of(b, "data-upstream"), of(b, "data-state")))
        .collect();
    assert_eq!(
        seen,
        [
            ("gitlab".into(), "compliant".into()),
            ("ecr-public".into(), "non-compliant".into())
        ]
    );
    assert!(
        of(&buttons[1], "title").contains("ecr-public"),
        "{:?}",
        of(&buttons[1], "title")
    );
    assert!(dom.text(".legend .upstreams").contains("1 gitlab"));
    // As usable by keyboard and screen reader as the single form (axe-core, as html_report).
    let violations = browser::axe_violations(&page, "");
    assert!(violations.is_empty(), "{violations:#?}");
}
