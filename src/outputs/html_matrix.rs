//! The compliance matrix (`report --format html`): the compliance rows as one self-contained
//! HTML page, accounts by Regions, each cell coloured by state. Plain conversion: rows in, a
//! page out.
//!
//! The page is `html_matrix/page.html` with the data embedded once as JSON, which its script turns
//! into the table with DOM calls (text, never markup). The JSON is compact because a page of
//! 5,000 accounts by 20 Regions must stay small: OUs and reasons are tables indexed by number,
//! and each cell is one number, `state + 8 * (reason index + 1)` (`state` alone without a
//! reason), the states numbered as [`Cell`].
//!
//! The totals by state and the targets to fix are also written as plain HTML, so a mail preview
//! or a viewer that runs no script shows them; the script adds the matrix.
//!
//! With several upstreams each account x Region cell holds one small cell per upstream, in the
//! rollout file's order (the cells are Region-major: `region * upstreams + upstream`), numbered
//! and named in the legend; the totals count (target, upstream) cells, and the plain list of
//! targets to fix gains an Upstream column. With one upstream the page is as it always was.

use std::collections::HashMap;
use std::io::{self, Write};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::outputs::compliance::{Row, State};

const TEMPLATE: &str = include_str!("html_matrix/page.html");
const DATA: &str = "__DATA__";
const SCRIPT_HASH: &str = "__SCRIPT_HASH__";
const TOTALS: &str = "__TOTALS__";
const TODO: &str = "__TODO__";
const TODO_HEAD: &str = "__TODO_HEAD__";
const TITLE: &str = "__TITLE__";
/// The targets to fix listed as plain HTML at most: the page stays small; the CSV lists all.
const TODO_LIMIT: usize = 1_000;

/// What the page is made of.
pub struct Matrix<'a> {
    /// Sorted by account, as the report writes them.
    pub rows: &'a [Row],
    /// The rollout file's Regions, in its order: the columns.
    pub regions: &'a [String],
    /// The Regions this run inspected (`--regions` narrows them): the other columns' cells are
    /// not targeted.
    pub run_regions: &'a [String],
    pub ecr_repository_prefix: &'a str,
    /// The rollout file's upstreams, in its order: with more than one, each cell holds one
    /// small cell per upstream.
    pub upstreams: &'a [String],
    /// `--expiry-warning-days`: the token's days to expiry are flagged from there.
    pub warning_days: i64,
}

/// A cell's state, numbered as the page's script reads it: a row's [`State`], or no row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    NotTargeted = 0,
    Compliant = 1,
    Warning = 2,
    NonCompliant = 3,
    NotInspected = 4,
    Skipped = 5,
}

impl From<State> for Cell {
    fn from(s: State) -> Self {
        match s {
            State::Compliant => Cell::Compliant,
            State::Warning => Cell::Warning,
            State::NonCompliant => Cell::NonCompliant,
            State::NotInspected => Cell::NotInspected,
            State::Skipped => Cell::Skipped,
        }
    }
}

/// Why a cell of a Region the run did not inspect is empty.
const NARROWED: &str = "not in this run's Regions (--regions)";
/// Why a cell of an inspected Region has no row (the run stopped before listing it there).
const NO_ROW: &str = "not in this run";

#[derive(Serialize)]
struct Data<'a> {
    checked_at: &'a str,
    prefix: &'a str,
    regions: &'a [String],
    /// With several upstreams, their names: each Region's cells, one per upstream, in order.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    upstreams: &'a [String],
    /// `[id, name]`.
    ous: Vec<[&'a str; 2]>,
    reasons: Vec<&'a str>,
    /// `[id, name, OU index or -1, cells]`, one cell per Region (and upstream).
    accounts: Vec<(&'a str, &'a str, i64, Vec<u64>)>,
    totals: Totals,
    token: Option<Token<'a>>,
    warning_days: i64,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
struct Totals {
    /// Cells with a row, in any state (as `report`'s summary counts them): one per target and
    /// upstream.
    targets: usize,
    compliant: usize,
    warning: usize,
    non_compliant: usize,
    not_inspected: usize,
    skipped: usize,
    /// Cells without a row: Regions outside `--regions`, or not reached.
    not_targeted: usize,
}

/// The soonest expiry among the rows' tokens (with `[gitlab]`, GitLab's date).
#[derive(Serialize)]
struct Token<'a> {
    days_left: i64,
    expires_on: &'a str,
}

/// Items kept once each, found by key: the page refers to them by index.
struct Table<'a, T> {
    items: Vec<T>,
    index: HashMap<&'a str, usize>,
}

impl<'a, T> Table<'a, T> {
    fn new() -> Self {
        Self {
            items: Vec::new(),
            index: HashMap::new(),
        }
    }

    fn index(&mut self, key: &'a str, item: impl FnOnce() -> T) -> usize {
        *self.index.entry(key).or_insert_with(|| {
            self.items.push(item());
            self.items.len() - 1
        })
    }
}

/// Writes the page.
pub(crate) fn write_page<W: Write + ?Sized>(out: &mut W, m: &Matrix) -> io::Result<()> {
    let data = data(m);
    let json = serde_json::to_string(&data).map_err(io::Error::other)?;
    // In a script element only `</script` (or `<!--`) could end the data early: JSON text can
    // hold `<` only inside strings, where `\u003c` reads back as the same character.
    let json = json.replace('<', "\\u003c");
    let (head, tail) = TEMPLATE
        .split_once(DATA)
        .expect("the template holds the data mark");
    let head = head
        .replace(SCRIPT_HASH, &script_hash())
        .replace(TITLE, title(m))
        .replace(TOTALS, &totals_html(&data.totals))
        .replace(TODO_HEAD, todo_head(m))
        .replace(TODO, &todo_html(m));
    out.write_all(head.as_bytes())?;
    out.write_all(json.as_bytes())?;
    out.write_all(tail.as_bytes())
}

/// The page as a string (for tests and benchmarks).
pub fn page(m: &Matrix) -> String {
    let mut out = Vec::new();
    write_page(&mut out, m).expect("writing to memory");
    String::from_utf8(out).expect("the page is UTF-8")
}

/// The Content-Security-Policy source that lets the page's own script run, and nothing else.
fn script_hash() -> String {
    let script = script_text(TEMPLATE);
    let digest = Sha256::digest(script.as_bytes());
    format!("sha256-{}", aws_smithy_types::base64::encode(digest))
}

/// The text of the template's last script element: the page's code.
fn script_text(template: &str) -> &str {
    let start = template.rfind("<script>").expect("a script") + "<script>".len();
    let end = template[start..]
        .find("</script>")
        .expect("a closed script")
        + start;
    &template[start..end]
}

/// Whether the page shows several upstreams.
fn several(m: &Matrix) -> bool {
    m.upstreams.len() > 1
}

fn title(m: &Matrix) -> &'static str {
    match several(m) {
        true => "ECR pull through cache: compliance",
        false => "ECR pull through cache for GitLab: compliance",
    }
}

fn data<'a>(m: &Matrix<'a>) -> Data<'a> {
    // One upstream: one cell per Region, as before there were several.
    let per_region = if several(m) { m.upstreams.len() } else { 1 };
    let slot: HashMap<&str, usize> = m
        .upstreams
        .iter()
        .enumerate()
        .map(|(i, u)| (u.as_str(), i))
        .collect();
    let column: HashMap<&str, usize> = m
        .regions
        .iter()
        .enumerate()
        .map(|(i, r)| (r.as_str(), i))
        .collect();
    let mut ous = Table::new();
    let mut reasons = Table::new();
    // Reason index + 1; 0 is "no reason".
    let mut reason = |s: &'a str| match s {
        "" => 0,
        s => reasons.index(s, || s) as u64 + 1,
    };
    let empty: Vec<u64> = m
        .regions
        .iter()
        .map(|r| match m.run_regions.contains(r) {
            true => code(Cell::NotTargeted, reason(NO_ROW)),
            false => code(Cell::NotTargeted, reason(NARROWED)),
        })
        .flat_map(|c| std::iter::repeat_n(c, per_region))
        .collect();
    let mut accounts: Vec<(&str, &str, i64, Vec<u64>)> = Vec::new();
    let mut totals = Totals::default();
    for row in m.rows {
        if accounts.last().is_none_or(|a| a.0 != row.account_id) {
            let ou = row.ou.as_deref().map_or(-1, |o| {
                ous.index(&o.id, || [o.id.as_str(), o.name.as_str()]) as i64
            });
            accounts.push((&row.account_id, &row.account_name, ou, empty.clone()));
        }
        let Some(&i) = column.get(row.region.as_str()) else {
            continue;
        };
        let j = match per_region {
            1 => 0,
            _ => match slot.get(row.upstream.as_str()) {
                Some(&j) => j,
                None => continue,
            },
        };
        *match row.state {
            State::Compliant => &mut totals.compliant,
            State::Warning => &mut totals.warning,
            State::NonCompliant => &mut totals.non_compliant,
            State::NotInspected => &mut totals.not_inspected,
            State::Skipped => &mut totals.skipped,
        } += 1;
        totals.targets += 1;
        let account = accounts.last_mut().expect("pushed above");
        account.3[i * per_region + j] = code(row.state.into(), reason(why(row)));
    }
    totals.not_targeted = accounts.len() * m.regions.len() * per_region - totals.targets;
    Data {
        checked_at: m
            .rows
            .iter()
            .map(|r| r.checked_at.as_str())
            .max()
            .unwrap_or(""),
        prefix: m.ecr_repository_prefix,
        regions: m.regions,
        upstreams: if per_region > 1 { m.upstreams } else { &[] },
        ous: ous.items,
        reasons: reasons.items,
        accounts,
        totals,
        token: m
            .rows
            .iter()
            .filter_map(|r| r.token_days_left.map(|d| (d, r.token_expires_on.as_str())))
            .min()
            .map(|(days_left, expires_on)| Token {
                days_left,
                expires_on,
            }),
        warning_days: m.warning_days,
    }
}

fn code(state: Cell, reason: u64) -> u64 {
    state as u64 + 8 * reason
}

/// The reasons a row's cell shows (its state says "not inspected" already).
fn why(row: &Row) -> &str {
    match row.state {
        State::Compliant => "",
        _ => row
            .reasons
            .strip_prefix("not inspected: ")
            .unwrap_or(&row.reasons),
    }
}

/// The totals by state, as plain HTML (`class` and `id` as the style sheet and tests read).
fn totals_html(t: &Totals) -> String {
    [
        ("targets", "targets", t.targets),
        ("compliant", "compliant", t.compliant),
        ("warning", "warning (token expiry due)", t.warning),
        ("non-compliant", "non-compliant", t.non_compliant),
        ("not-inspected", "not inspected", t.not_inspected),
        ("skipped", "skipped (Region not enabled)", t.skipped),
        ("not-targeted", "not targeted", t.not_targeted),
    ]
    .iter()
    .map(|(class, label, n)| {
        format!("<div class=\"total {class}\"><span class=\"n\" id=\"total-{class}\">{n}</span> <span class=\"l\">{label}</span></div>\n")
    })
    .collect()
}

/// Every target that fails the exit code (up to [`TODO_LIMIT`]), as table rows of text.
fn todo_html(m: &Matrix) -> String {
    let todo: Vec<&Row> = m
        .rows
        .iter()
        .filter(|r| r.state.fails() && m.regions.contains(&r.region))
        .collect();
    let several = several(m);
    let span = if several { 6 } else { 5 };
    let mut s = String::new();
    for r in todo.iter().take(TODO_LIMIT) {
        // The state stays the 4th cell (the style sheet colours it so), the upstream after it.
        let upstream = match several {
            true => format!("<td>{}</td>", escape(&r.upstream)),
            false => String::new(),
        };
        s.push_str(&format!(
            "<tr class=\"s-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{upstream}<td>{}</td></tr>\n",
            r.state.as_str().replace(' ', "-"),
            escape(&r.account_name),
            escape(&r.account_id),
            escape(&r.region),
            r.state.as_str(),
            escape(why(r)),
        ));
    }
    match todo.len() {
        0 => s.push_str(&format!("<tr><td colspan=\"{span}\">None: every target is compliant or skipped.</td></tr>\n")),
        n if n > TODO_LIMIT => s.push_str(&format!(
            "<tr><td colspan=\"{span}\">And {} more: report --format csv lists every target.</td></tr>\n",
            n - TODO_LIMIT
        )),
        _ => {}
    }
    s
}

/// The head of the list of targets to fix.
fn todo_head(m: &Matrix) -> &'static str {
    match several(m) {
        true => "<th scope=\"col\">Account</th><th scope=\"col\">Id</th><th scope=\"col\">Region</th><th scope=\"col\">State</th><th scope=\"col\">Upstream</th><th scope=\"col\">Reasons</th>",
        false => "<th scope=\"col\">Account</th><th scope=\"col\">Id</th><th scope=\"col\">Region</th><th scope=\"col\">State</th><th scope=\"col\">Reasons</th>",
    }
}

/// User text (account names, reasons) as HTML text, never markup.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
