//! `report --format html`: the compliance matrix of the demo Organization, opened in headless
//! Chromium; its cells, totals, filters and sorting checked through the DOM after the page's
//! script ran, and a screenshot kept for CI (target/artifacts/html-report.png). Account names
//! are user input: two hostile ones must show as text.

pub(crate) mod browser;
mod scale;

use std::path::Path;

use crate::support;
use serde_json::json;
use support::{date_in, run, Emulator, Org, TOKEN};

const SCRIPT_NAME: &str = "<script>alert(1)</script>";
const IMG_NAME: &str = "\"><img src=x onerror=alert(1)>";

/// The demo Organization (scripts/demo's) plus two accounts with hostile names.
fn demo_org(emu: &Emulator) -> Org {
    emu.post("/_ptc/seed", json!({"demo": true}));
    // The demo's OUs again: a seed names parents among its own OUs (existing ones are kept).
    let org = emu.seed(json!({
        "ous": [
            {"name": "Workloads", "parent": "root"},
            {"name": "Prod", "parent": "Workloads"},
            {"name": "Sandbox", "parent": "root"}
        ],
        "accounts": [
            {"name": SCRIPT_NAME, "parent": "Sandbox"},
            {"name": IMG_NAME, "parent": "Sandbox"}
        ]
    }));
    emu.set_valid_tokens(&[TOKEN]);
    org
}

/// The demo's rollout file with an opt-in Region added and the token's expiry 45 days away.
fn rollout(emu: &Emulator) -> std::path::PathBuf {
    let demo =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/demo.toml"))
            .unwrap()
            .replace(
                "regions = [\"us-east-1\", \"eu-west-1\", \"ap-southeast-2\"]",
                "regions = [\"us-east-1\", \"eu-west-1\", \"af-south-1\", \"ap-southeast-2\"]",
            )
            .replace(
                "token_env = \"GITLAB_REGISTRY_TOKEN\"",
                &format!(
                    "token_env = \"GITLAB_REGISTRY_TOKEN\"\ntoken_expires_on = \"{}\"",
                    date_in(45)
                ),
            );
    assert!(demo.contains("af-south-1") && demo.contains("token_expires_on"));
    emu.rollout("demo.toml", &demo)
}

#[test]
fn the_matrix_shows_every_state_and_filters_in_a_real_browser() {
    let emu = Emulator::start();
    let org = demo_org(&emu);
    let cfg = rollout(&emu);
    let (dev_a, prod_a, prod_b) = (org.id("dev-a"), org.id("prod-a"), org.id("prod-b"));
    // af-south-1 is an opt-in Region: only prod-a has enabled it; the others' are skipped.
    emu.post(
        "/_ptc/region_opt",
        json!({"account": prod_a, "region": "af-south-1", "status": "ENABLED"}),
    );
    let applied = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    emu.mutate(
        json!({"op": "delete_rule", "account": dev_a, "region": "us-east-1", "prefix": "gitlab"}),
    );
    emu.deny_assume_role(&[prod_b.as_str()]);
    let page = emu.path("page.html");
    let report = run(emu
        .cmd()
        .args(["report", "--format", "html", "--out"])
        .arg(&page)
        .args(["--regions", "us-east-1,eu-west-1,af-south-1", "--config"])
        .arg(&cfg));
    assert_eq!(
        report.code, 1,
        "not every target is compliant: {}",
        report.stderr
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains(TOKEN), "no secret in the page");
    let (head, rest) = html.split_once("id=\"data\">").unwrap();
    let code = format!("{head}{}", rest.split_once("</script>").unwrap().1);
    for loads in ["src=", "href=", "url(", "@import", "http:", "https:"] {
        assert!(!code.contains(loads), "self-contained: {loads} in the page");
    }

    let (dom, _) = browser::dom(&page, "");
    let active = org.active();
    assert_eq!(dom.shown().len(), active.len(), "one row per account");
    // Totals: 8 accounts; us-east-1, eu-west-1 and af-south-1 everywhere: af-south-1 enabled in
    // prod-a, not entered in prod-b (AssumeRole refused), skipped in the others;
    // ap-southeast-2 left out by --regions.
    for (id, n) in [
        ("total-targets", 24),
        ("total-compliant", 14),
        ("total-warning", 0),
        ("total-non-compliant", 1),
        ("total-not-inspected", 3),
        ("total-skipped", 6),
        ("total-not-targeted", 8),
        ("token-days", 45),
    ] {
        assert_eq!(dom.text(&format!("#{id}")), n.to_string(), "#{id}");
    }
    // The page counts as the exit code and the summary on stderr do: one classification.
    assert_eq!(
        page_totals(&dom),
        summary_totals(&report.stderr),
        "{}",
        report.stderr
    );
    let states = |id: &str| {
        dom.cells(id)
            .into_iter()
            .map(|(region, state, _)| format!("{region}={state}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        states(&dev_a),
        "us-east-1=non-compliant eu-west-1=compliant af-south-1=skipped ap-southeast-2=not-targeted"
    );
    assert_eq!(
        states(&prod_a),
        "us-east-1=compliant eu-west-1=compliant af-south-1=compliant ap-southeast-2=not-targeted"
    );
    assert_eq!(
        states(&prod_b),
        "us-east-1=not-inspected eu-west-1=not-inspected af-south-1=not-inspected ap-southeast-2=not-targeted"
    );
    let dev_cells = dom.cells(&dev_a);
    assert!(
        dev_cells[0].2.contains("no pull through cache rule"),
        "the reason on hover: {}",
        dev_cells[0].2
    );
    assert!(
        dev_cells[2].2.contains("opt-in Region"),
        "{}",
        dev_cells[2].2
    );
    assert!(dev_cells[3].2.contains("--regions"), "{}", dev_cells[3].2);
    assert!(dom.cells(&prod_b)[0].2.contains("AccessDenied"));
    let ou_of = |id: &str| {
        dom.all(&format!("#rows tr[data-account=\"{id}\"] td.ou"))[0]
            .text()
            .collect::<String>()
    };
    assert_eq!(ou_of(&prod_a), "Prod");

    // Hostile names are text: shown as they are, and nothing of them became markup.
    let names: Vec<String> = dom.shown().into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&SCRIPT_NAME.to_owned()), "{names:?}");
    assert!(names.contains(&IMG_NAME.to_owned()), "{names:?}");
    assert!(dom.all("img").is_empty(), "no image element");
    assert_eq!(dom.all("script").len(), 2, "only the page's data and code");

    // The view from the URL fragment: filters and sorting, as a shared link shows them.
    let shown = |fragment: &str| {
        let (dom, _) = browser::dom(&page, fragment);
        let names: Vec<String> = dom.shown().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            dom.all("#shown")[0].value().attr("data-shown"),
            Some(names.len().to_string().as_str())
        );
        names
    };
    assert_eq!(shown("state=non-compliant"), ["dev-a"]);
    assert_eq!(shown("state=not-inspected"), ["prod-b"]);
    assert_eq!(shown("q=DEV&sort=-name"), ["dev-b", "dev-a"]);
    assert_eq!(
        shown(&format!("ou={}&sort=-name", org.ou("Prod"))),
        ["prod-b", "prod-a"]
    );
    assert_eq!(shown("sort=noncompliant")[..2], ["dev-a", "prod-b"]);
    let compliant = shown("state=compliant&sort=id");
    assert_eq!(compliant.len(), active.len() - 2, "{compliant:?}");

    // A cell's reasons by keyboard or touch: the cell is a button; selected (here by a link to
    // it, which focuses it as Tab would), its reasons are in the detail panel as text.
    let (focused, _) = browser::dom(&page, &format!("cell={dev_a}/us-east-1"));
    let button = format!("#rows tr[data-account=\"{dev_a}\"] td[data-region=\"us-east-1\"] button");
    assert_eq!(
        focused.all(&button)[0].value().attr("aria-expanded"),
        Some("true")
    );
    let detail = focused.text("#detail");
    assert!(
        detail.contains("dev-a")
            && detail.contains("us-east-1")
            && detail.contains("no pull through cache rule"),
        "{detail}"
    );

    // Without script: the totals and every target to fix, as text.
    let plain = browser::dom_without_script(&page);
    assert!(plain.all("#rows tr").is_empty(), "the script did not run");
    assert_eq!(page_totals(&plain), page_totals(&dom));
    let todo: Vec<String> = plain
        .all("#todo tbody tr")
        .iter()
        .map(|tr| tr.text().collect::<Vec<_>>().join("|").trim().to_owned())
        .collect();
    assert_eq!(todo.len(), 4, "{todo:#?}");
    let (dev, prod): (Vec<&String>, Vec<&String>) =
        todo.iter().partition(|line| line.starts_with("dev-a|"));
    assert!(
        dev.len() == 1
            && dev[0].starts_with(&format!("dev-a|{dev_a}|us-east-1|non-compliant|"))
            && dev[0].contains("no pull through cache rule"),
        "{todo:#?}"
    );
    let mut prod_b_regions: Vec<&str> = prod
        .iter()
        .map(|line| {
            let cells: Vec<&str> = line.split('|').collect();
            assert_eq!(cells[..2], ["prod-b", prod_b.as_str()], "{todo:#?}");
            assert_eq!(cells[3], "not inspected", "{todo:#?}");
            assert!(cells[4].contains("AccessDenied"), "{todo:#?}");
            cells[2]
        })
        .collect();
    prod_b_regions.sort();
    assert_eq!(prod_b_regions, ["af-south-1", "eu-west-1", "us-east-1"]);

    // axe-core (npm) in the same browser: no violation, with a cell selected too.
    for fragment in ["", &format!("cell={dev_a}/us-east-1")] {
        let violations = browser::axe_violations(&page, fragment);
        assert!(violations.is_empty(), "#{fragment}: {violations:#?}");
    }

    let png = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/artifacts/html-report.png");
    browser::screenshot(&page, &png);
}

/// The page's totals by state, as text: `(state, count)`.
fn page_totals(dom: &browser::Dom) -> Vec<(String, String)> {
    dom.all(".totals .total:not(.token)")
        .iter()
        .map(|t| {
            let text = |css: &str| {
                t.select(&scraper::Selector::parse(css).unwrap())
                    .next()
                    .unwrap()
                    .text()
                    .collect::<String>()
            };
            let label = text(".l");
            let state = label.split(" (").next().unwrap().to_owned();
            (state, text(".n"))
        })
        .filter(|(state, _)| state != "not targeted")
        .collect()
}

/// The stderr summary's counts: `Compliance: N targets, a compliant, b warning, ...`.
fn summary_totals(stderr: &str) -> Vec<(String, String)> {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("Compliance: "))
        .unwrap_or_else(|| panic!("a summary: {stderr}"));
    line.split(", ")
        .map(|part| {
            let (n, state) = part.split_once(' ').unwrap();
            (state.to_owned(), n.to_owned())
        })
        .collect()
}

#[test]
fn a_warning_looks_unlike_a_failure() {
    let emu = Emulator::start();
    let org = demo_org(&emu);
    let cfg = rollout(&emu);
    let applied = run(emu.cmd().args(["apply", "--yes", "--config"]).arg(&cfg));
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let dev_a = org.id("dev-a");
    emu.mutate(
        json!({"op": "delete_rule", "account": dev_a, "region": "us-east-1", "prefix": "gitlab"}),
    );
    // The token expires in 45 days: with 60 warning days, every working target is due.
    let page = emu.path("warn.html");
    let report = run(emu
        .cmd()
        .args([
            "report",
            "--format",
            "html",
            "--expiry-warning-days",
            "60",
            "--out",
        ])
        .arg(&page)
        .args(["--regions", "us-east-1", "--config"])
        .arg(&cfg));
    assert_eq!(report.code, 1, "{}", report.stderr);
    let (dom, _) = browser::dom(&page, "");
    assert_eq!(page_totals(&dom), summary_totals(&report.stderr));
    let cell = |region_of: &str| {
        let css = format!("#rows tr[data-account=\"{region_of}\"] td[data-region=\"us-east-1\"]");
        let td = dom.all(&css)[0];
        (
            td.value().attr("data-state").unwrap().to_owned(),
            td.value().attr("class").unwrap().to_owned(),
            td.text().collect::<String>(),
        )
    };
    let failure = cell(&dev_a);
    let warning = cell(&org.id("dev-b"));
    assert_eq!(failure.0, "non-compliant");
    assert_eq!(warning.0, "warning");
    assert_ne!(failure.1, warning.1, "its own colour");
    assert_ne!(failure.2, warning.2, "its own symbol");
    assert_eq!(failure.2, "\u{2717}");
}

#[test]
fn an_html_page_needs_a_file() {
    let emu = Emulator::start();
    let cfg = rollout(&emu);
    for out in [&[][..], &["--out", "-"]] {
        let r = run(emu
            .cmd()
            .args(["report", "--format", "html"])
            .args(out)
            .arg("--config")
            .arg(&cfg));
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(
            r.stderr.contains("--out") && r.stderr.contains("--out compliance.html"),
            "{}",
            r.stderr
        );
    }
    assert!(emu.calls().is_empty(), "refused before any AWS call");
}

/// The page's embedded data, as the page's script reads it.
fn embedded(page: &Path) -> serde_json::Value {
    let html = std::fs::read_to_string(page).unwrap();
    let data = html.split_once("id=\"data\">").unwrap().1;
    serde_json::from_str(data.split_once("</script>").unwrap().0).unwrap()
}

#[test]
fn accounts_are_named_with_their_ou_under_an_ou_filter_too() {
    let emu = Emulator::start();
    let org = demo_org(&emu);
    let root = org.0["root_id"].as_str().unwrap().to_owned();
    for (filter, expected) in [
        (
            org.ou("Workloads"),
            vec![("dev-a", "Workloads"), ("prod-a", "Prod")],
        ),
        (root, vec![("master", "Root"), ("sandbox-1", "Sandbox")]),
    ] {
        let cfg = emu.rollout(
            "ou.toml",
            &support::rollout_text(&format!("organizational_units = [\"{filter}\"]")),
        );
        let page = emu.path("ou.html");
        let r = run(emu
            .cmd()
            .args(["report", "--format", "html", "--out"])
            .arg(&page)
            .arg("--config")
            .arg(&cfg));
        assert_eq!(r.code, 1, "nothing applied yet: {}", r.stderr);
        let data = embedded(&page);
        let ou_of = |name: &str| {
            let a = data["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a[1] == name)
                .unwrap_or_else(|| panic!("{name} listed under {filter}"));
            data["ous"][a[2].as_u64().unwrap() as usize][1].clone()
        };
        for (account, ou) in expected {
            assert_eq!(ou_of(account), ou, "{account} under {filter}");
        }
    }
}
