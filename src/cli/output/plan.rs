//! How a plan reads on the terminal: one line per target, grouped by wave when the rollout
//! has `[[waves]]`, and the totals by action and by kind of target.

use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::context::{Listed, Ran};
use crate::cli::error::CommandError;
use crate::cli::exit;
use crate::cli::output::printer::Printer;
use crate::cli::output::reporter;
use crate::cli::output::results::{exit_code, print_stop, write_junit};
use crate::config::Rollout;
use crate::data::target::{Action, Outcome, TargetResult};
use crate::data::waves::Waves;
use crate::engine::runner::Stop;
use crate::outputs::junit;
use crate::outputs::plan_file::PlanFile;

/// A plan as read: what `plan` returns.
pub(crate) struct Planned {
    pub rollout: Arc<Rollout>,
    pub ran: Ran,
    pub listed: Listed,
    /// The rollout file's waves (empty without `[[waves]]`): the plan is shown wave by wave.
    pub waves: Waves,
    pub junit: Option<PathBuf>,
    /// `--out`, and the rollout file the command to apply it names.
    pub save: Option<(PathBuf, PathBuf)>,
    pub detailed_exitcode: bool,
}

/// The plan on stdout, failures and why it stopped on stderr, the JUnit XML and the saved
/// plan, then the exit status.
pub(crate) fn render(printer: Printer, p: Planned) -> Result<i32, CommandError> {
    let (results, stop) = p.ran;
    if p.waves.is_empty() {
        let several = reporter::several(&results);
        printer.data(plan_table(results.iter().map(|r| &**r), several));
    } else {
        printer.data(by_wave(&p.waves, &results));
    }
    printer.data_line(format_args!("\n{}", totals(&results)));
    for line in reporter::failure_lines(&results) {
        printer.error(line);
    }
    print_stop(printer, stop.as_ref());
    // Written whatever the run's end, like a report: an interrupted plan's rows say so.
    write_junit(p.junit.as_deref(), || {
        junit::from_results("ptc-rollout plan", &results, junit::Results::Plan)
    })?;
    if stop == Some(Stop::Interrupted) {
        // An incomplete plan is not saved: applying it would skip the targets never read.
        return Ok(exit::INTERRUPTED);
    }
    let code = exit_code(&results, stop.as_ref());
    let changes = has_changes(&results);
    if let Some((path, config)) = &p.save {
        let created_at = results
            .first()
            .map(|r| r.checked_at.to_string())
            .unwrap_or_default();
        PlanFile::new(&p.rollout, created_at, p.waves, results).save(path)?;
        printer.status_line(format_args!(
            "Plan saved to {}; apply it with: ptc-rollout apply --config {} --plan {}",
            path.display(),
            config.display(),
            path.display()
        ));
    }
    if p.listed == Listed::Cut {
        return Ok(exit::TARGET_FAILED);
    }
    if code == exit::SUCCESS && p.detailed_exitcode && changes {
        return Ok(exit::CHANGES_PENDING);
    }
    Ok(code)
}

/// Whether applying would change anything.
fn has_changes(results: &[Box<TargetResult>]) -> bool {
    results.iter().any(|r| r.outcome == Outcome::Pending)
}

/// The plan's totals, before `apply` asks to carry it out.
pub(crate) fn tell_totals(printer: Printer, planned: &[Box<TargetResult>]) {
    printer.status_line(totals(planned));
}

/// One line per target: what `apply` would do there (and for which upstream, when `several`).
pub(crate) fn plan_table<'a>(
    results: impl IntoIterator<Item = &'a TargetResult>,
    several: bool,
) -> String {
    let rows: Vec<Vec<String>> = results
        .into_iter()
        .map(|r| {
            let what = match r.outcome {
                Outcome::Unchanged => "nothing".to_owned(),
                Outcome::Pending => reporter::actions(r, true),
                _ => {
                    let why = r.failure().unwrap_or_default();
                    // Skip reasons say "skipped: ..." themselves.
                    match why.starts_with(&format!("{}: ", r.outcome)) {
                        true => why,
                        false => format!("{}: {why}", r.outcome),
                    }
                }
            };
            let secret = if r.observed.as_ref().is_some_and(|o| o.secret.is_unmanaged()) {
                "unmanaged secret"
            } else {
                ""
            };
            let mut row = reporter::place(r, several);
            row.extend([what, secret.to_owned()]);
            row
        })
        .collect();
    let mut header = reporter::place_header(several);
    header.extend(["PLAN", "NOTE"]);
    reporter::table(&header, &rows)
}

/// The plan wave by wave: a header line, the wave's targets, the wave's totals. A wave with no
/// target planned (`--wave`, or narrowed to nothing) is left out.
pub(crate) fn by_wave(waves: &Waves, results: &[Box<TargetResult>]) -> String {
    let several = reporter::several(results);
    let (split, _) = waves.split(results.iter().map(|r| &**r), |r| {
        r.target.account_id.as_str()
    });
    let mut s = String::new();
    for (i, rows) in split.into_iter().enumerate() {
        if rows.is_empty() {
            continue;
        }
        let of = |o: Outcome| rows.iter().filter(|r| r.outcome == o).count();
        s.push_str(&format!(
            "{}Wave {} of {}: {} ({} targets)\n",
            if s.is_empty() { "" } else { "\n" },
            i + 1,
            waves.len(),
            waves.name(i),
            rows.len()
        ));
        s.push_str(&plan_table(rows.iter().copied(), several));
        s.push_str(&format!(
            "Wave {}: {} to change, {} unchanged, {} conflicts, {} failed to read.\n",
            waves.name(i),
            of(Outcome::Pending),
            of(Outcome::Unchanged),
            of(Outcome::Conflict),
            of(Outcome::Failed),
        ));
    }
    s
}

/// The plan's totals, by action and by kind of target.
fn totals(results: &[Box<TargetResult>]) -> String {
    let count = |a: Action| {
        results
            .iter()
            .filter(|r| {
                r.decision
                    .as_ref()
                    .is_some_and(|d| d.actions().contains(&a))
            })
            .count()
    };
    let of = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
    format!(
        "Plan: {} targets to change, {} unchanged, {} conflicts, {} failed to read.\n  \
         {} secrets to create, {} secrets to restore, {} rules to create, {} rule credentials to update{}{}{}.",
        of(Outcome::Pending),
        of(Outcome::Unchanged),
        of(Outcome::Conflict),
        of(Outcome::Failed),
        count(Action::CreateSecret),
        count(Action::RestoreSecret),
        count(Action::CreateRule),
        count(Action::UpdateRuleCredential),
        match count(Action::AdoptRule) {
            0 => String::new(),
            n => format!(", {n} rules of other secrets to adopt"),
        },
        match count(Action::UpdateToken) {
            0 => String::new(),
            n => format!(", {n} secrets to get the token"),
        },
        match count(Action::AddPullAccess) + count(Action::UpdatePullAccess) {
            0 => String::new(),
            n => format!(", {n} pull access statements to write"),
        }
    )
}
