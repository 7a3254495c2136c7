//! Headless Chromium from Debian's packages, as a person's browser would open the page: the DOM
//! after the page's script ran (`--dump-dom`), and screenshots. scripts/test installs it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use scraper::{ElementRef, Html, Selector};

/// The browser binary: `PTC_CHROMIUM`, else Debian's.
fn binary() -> PathBuf {
    let path: PathBuf = std::env::var_os("PTC_CHROMIUM")
        .map(Into::into)
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    assert!(
        path.exists(),
        "{} not found: the HTML report's browser test needs headless Chromium; run the tests with ./scripts/test, which installs it (Debian: apt-get install chromium)",
        path.display()
    );
    path
}

/// Runs Chromium headless on `page` (with `fragment` after `#`) with `args`; returns stdout
/// and how long the browser ran.
fn chromium(page: &Path, fragment: &str, args: &[&str]) -> (String, Duration) {
    let profile = tempfile::tempdir().unwrap();
    let url = format!(
        "file://{}#{fragment}",
        page.canonicalize().unwrap().display()
    );
    let started = Instant::now();
    let out = Command::new(binary())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(&url)
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8(out.stdout).unwrap(), took)
}

/// The page's DOM after its script ran, and how long the browser took.
pub fn dom(page: &Path, fragment: &str) -> (Dom, Duration) {
    let (html, took) = chromium(page, fragment, &["--dump-dom"]);
    (Dom(Html::parse_document(&html)), took)
}

/// The page's DOM as a viewer that runs no script shows it (a mail preview, a locked-down
/// artifact viewer): a copy of the page whose policy lets no script run (`script-src 'none'`,
/// as such viewers serve it). Not `--blink-settings=scriptEnabled=false`: with it, Chromium's
/// `--dump-dom` (itself script) prints nothing.
pub fn dom_without_script(page: &Path) -> Dom {
    let html = std::fs::read_to_string(page).unwrap();
    let (head, rest) = html.split_once("script-src '").unwrap();
    let locked = format!(
        "{head}script-src 'none'{}",
        &rest[rest.find('\'').unwrap() + 1..]
    );
    assert!(
        locked.contains("script-src 'none'\""),
        "the policy replaced"
    );
    let copy = page.with_extension("noscript.html");
    std::fs::write(&copy, locked).unwrap();
    let (html, _) = chromium(&copy, "", &["--dump-dom"]);
    Dom(Html::parse_document(&html))
}

/// A screenshot of the page's first screen, written to `png`.
pub fn screenshot(page: &Path, png: &Path) {
    std::fs::create_dir_all(png.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(png);
    chromium(
        page,
        "",
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1400,900",
            "--hide-scrollbars",
        ],
    );
    assert!(png.exists(), "no screenshot at {}", png.display());
}

/// A parsed DOM.
pub struct Dom(pub Html);

impl Dom {
    pub fn all(&self, css: &str) -> Vec<ElementRef<'_>> {
        self.0.select(&Selector::parse(css).unwrap()).collect()
    }

    pub fn text(&self, css: &str) -> String {
        let found = self.all(css);
        assert_eq!(found.len(), 1, "one {css}");
        found[0].text().collect()
    }

    /// The account rows shown, in order: (account name, id).
    pub fn shown(&self) -> Vec<(String, String)> {
        self.all("#rows tr[data-account]")
            .iter()
            .map(|tr| {
                let name = Selector::parse("td.name").unwrap();
                (
                    tr.select(&name).next().unwrap().text().collect(),
                    tr.value().attr("data-account").unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The cells of the account `id`'s row: (Region, state, title).
    pub fn cells(&self, id: &str) -> Vec<(String, String, String)> {
        let rows = self.all(&format!("#rows tr[data-account=\"{id}\"]"));
        assert_eq!(rows.len(), 1, "one row for {id}");
        let cell = Selector::parse("td.cell").unwrap();
        rows[0]
            .select(&cell)
            .map(|td| {
                let attr = |k| td.value().attr(k).unwrap_or_default().to_owned();
                (attr("data-region"), attr("data-state"), attr("title"))
            })
            .collect()
    }
}

/// axe-core's script: `PTC_AXE_CORE`, else npm's package installed under target/axe (pinned).
fn axe_core() -> String {
    if let Some(path) = std::env::var_os("PTC_AXE_CORE") {
        return std::fs::read_to_string(path).unwrap();
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/axe");
    let script = dir.join("node_modules/axe-core/axe.min.js");
    if !script.exists() {
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg("axe-core@4.14.1")
            .output()
            .expect("npm, to install axe-core (or set PTC_AXE_CORE to axe.min.js)");
        assert!(
            out.status.success(),
            "npm install axe-core: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::read_to_string(script).unwrap()
}

/// axe-core's violations on the page, run in the same headless Chromium after the page's
/// script: a copy of the page whose policy also lets axe's scripts run. `[id: target, ...]`.
pub fn axe_violations(page: &Path, fragment: &str) -> Vec<String> {
    let html = std::fs::read_to_string(page).unwrap();
    let (head, rest) = html.split_once("script-src '").unwrap();
    let open = format!(
        "{head}script-src 'unsafe-inline'{}",
        &rest[rest.find('\'').unwrap() + 1..]
    );
    let run = r#"axe.run(document, { resultTypes: ["violations"] }).then(function (r) {
  document.documentElement.dataset.axe = JSON.stringify(r.violations.map(function (v) {
    return v.id + " (" + v.impact + "): " + v.nodes.map(function (n) { return n.target.join(" "); }).slice(0, 5).join(", ");
  }));
}, function (e) { document.documentElement.dataset.axe = JSON.stringify(["axe failed: " + e]); });"#;
    let (body, end) = open.rsplit_once("</body>").unwrap();
    let with_axe = format!(
        "{body}<script>{}</script><script>{run}</script></body>{end}",
        axe_core()
    );
    let copy = page.with_extension("axe.html");
    std::fs::write(&copy, with_axe).unwrap();
    let (html, _) = chromium(
        &copy,
        fragment,
        &["--virtual-time-budget=30000", "--dump-dom"],
    );
    let dom = Html::parse_document(&html);
    let root = dom.root_element();
    let found = root
        .value()
        .attr("data-axe")
        .expect("axe-core ran and reported");
    serde_json::from_str(found).unwrap()
}
