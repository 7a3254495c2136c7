//! The reporter: the command line's one consumer of the runner's events. It owns the progress
//! bar and the counters, tells what the events say through the [`Printer`], and renders results
//! for people: failure lines, summaries and tables. Progress goes to stderr, and only to a
//! terminal.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::data::target::{Outcome, Probe, TargetResult, Validation};
use crate::data::waves::Waves;
use crate::engine::runner::Event;
use crate::outputs::csv_report::{Columns, Results};

use crate::cli::output::printer::Printer;
use crate::engine::runner::Stop;

/// Where a command's results go (a CSV file, `-` for stdout, or else a table on stdout), and
/// whether they carry the pull's columns (`probe`, `validate --probe-image`) or, run in waves
/// (`apply`, `rotate`), the `wave` column; and the JUnit XML file (`--junit`), if asked for.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Destination<'a> {
    pub path: Option<&'a Path>,
    pub probe: bool,
    pub junit: Option<&'a Path>,
    pub waves: Option<&'a Waves>,
}

impl<'a> Destination<'a> {
    /// The CSV report's optional columns.
    pub(crate) fn columns(self) -> Columns<'a> {
        Columns {
            probe: self.probe,
            waves: self.waves,
        }
    }
}

/// Running counts shown on the progress bar.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub done: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub failed: usize,
}

impl Counts {
    fn add(&mut self, r: &TargetResult) {
        self.done += 1;
        if r.is_failure() {
            self.failed += 1;
        } else if matches!(
            r.outcome,
            Outcome::Created | Outcome::Updated | Outcome::Pending
        ) {
            self.changed += 1;
        } else {
            self.unchanged += 1;
        }
    }
}

/// Consumes events until the runner is done, and returns every result sorted by account then
/// Region (the report's order).
pub async fn consume(printer: Printer, mut events: UnboundedReceiver<Event>) -> Results {
    let bar = if printer.progress() {
        ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} [{bar:20}] {pos}/{len} {wide_msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut counts = Counts::default();
    let mut current = String::new();
    let mut results = Vec::new();
    // The wave whose pass is running (its name, place, count and size), told as it ends.
    let mut wave: Option<(String, usize, usize, usize)> = None;
    while let Some(event) = events.recv().await {
        match event {
            Event::PassStarted { label } => {
                counts = Counts::default();
                bar.set_prefix(label);
                bar.set_length(0);
                bar.set_position(0);
            }
            Event::TargetFound => bar.inc_length(1),
            Event::TargetStarted { target } => current = target.account_id,
            Event::TargetFinished(r) => {
                counts.add(&r);
                bar.inc(1);
                results.push(r);
            }
            Event::WaveStarted {
                name,
                index,
                of,
                targets,
            } => {
                bar.suspend(|| {
                    printer.status_line(format_args!(
                        "wave {name:?} ({} of {of}): {targets} targets",
                        index + 1
                    ))
                });
                wave = Some((name, index, of, targets));
            }
            Event::PassFinished { failed, .. } => {
                if let Some((name, index, of, targets)) = wave.take() {
                    bar.suspend(|| {
                        printer.status_line(format_args!(
                            "wave {name:?} ({} of {of}): {targets} targets, {failed} failed",
                            index + 1,
                        ))
                    });
                }
            }
            event => bar.suspend(|| tell(printer, &event)),
        }
        bar.set_message(format!(
            "changed {} · unchanged {} · failed {} · {}",
            counts.changed, counts.unchanged, counts.failed, current
        ));
    }
    bar.finish_and_clear();
    results.sort_by(|a, b| a.target.cmp(&b.target));
    results
}

/// Tells an event that is a line of its own (not progress): a warning, a listing cut short,
/// why the run stopped, a wave not started. The command line tells what it alone knows so too.
pub(crate) fn tell(printer: Printer, event: &Event) {
    match event {
        Event::Warning(w) => printer.warning(w),
        Event::ListingCut(why) => printer.error(format_args!(
            "cannot list the Organization's accounts: {why}"
        )),
        Event::Stopped(stop) => tell_stop(printer, stop),
        Event::WaveNotStarted {
            name,
            index,
            of,
            targets,
        } => printer.status_line(format_args!(
            "wave {name:?} ({} of {of}): not started; {targets} targets not attempted",
            index + 1
        )),
        // Progress, and what the later stop line says.
        Event::PassStarted { .. }
        | Event::TargetFound
        | Event::TargetStarted { .. }
        | Event::TargetFinished(_)
        | Event::PassFinished { .. }
        | Event::WaveStarted { .. }
        | Event::WaveHalted { .. } => {}
    }
}

/// Says on stderr why a run stopped early (even when quiet: the rows it left are not done).
fn tell_stop(printer: Printer, stop: &Stop) {
    match stop {
        Stop::Interrupted => {
            printer.always("interrupted: targets never started are reported as not attempted")
        }
        Stop::TooManyFailures { failed, allowed } => printer.always(format_args!(
            "stopped: {failed} targets failed, more than --max-failures {allowed}; the rest were not attempted"
        )),
        Stop::CanaryFailed { target, reason } => printer.always(format_args!(
            "stopped: the canary target {} {} failed ({reason}); nothing else was written",
            target.account_id, target.region
        )),
        Stop::WaveFailed { wave, end } => printer.always(format_args!(
            "stopped: {}; the later waves were not started",
            end.why(wave)
        )),
    }
}

/// The leading cells of a target's line in a table: account, name, Region, and the upstream
/// when the rows are of several (`several`; rows of one upstream read as they always have).
pub(crate) fn place(r: &TargetResult, several: bool) -> Vec<String> {
    let t = &r.target;
    let mut cells = vec![
        t.account_id.clone(),
        t.account_name.clone(),
        t.region.clone(),
    ];
    if several {
        cells.push(t.upstream.to_string());
    }
    cells
}

/// The headers of [`place`]'s cells.
pub(crate) fn place_header(several: bool) -> Vec<&'static str> {
    let mut header = vec!["ACCOUNT", "NAME", "REGION"];
    if several {
        header.push("UPSTREAM");
    }
    header
}

/// Whether the rows are of several upstreams.
pub(crate) fn several(results: &[Box<TargetResult>]) -> bool {
    crate::outputs::several_upstreams(results.iter().map(|r| &r.target))
}

/// A target as a line names it: `ACCOUNT REGION`, then its upstream when there are several.
pub(crate) fn target_words(r: &TargetResult, several: bool) -> String {
    let t = &r.target;
    match several {
        true => format!("{} {} {}", t.account_id, t.region, t.upstream),
        false => format!("{} {}", t.account_id, t.region),
    }
}

/// One line per failed target, for stderr.
pub(crate) fn failure_lines(results: &[Box<TargetResult>]) -> Vec<String> {
    let several = several(results);
    results
        .iter()
        .filter(|r| r.is_failure())
        .map(|r| {
            // A row can fail by its outcome or, having converged, by an invalid rule or a
            // failed pull (JUnit's words for the same rows).
            let status = if r.outcome.is_failure() || r.error.is_some() {
                r.outcome.as_str()
            } else if r.validation.as_ref().is_some_and(|v| !v.is_valid) {
                "invalid"
            } else {
                "pull failed"
            };
            let failure = r.failure().unwrap_or_default();
            // The runner's reasons often start with the outcome already ("not attempted: …").
            let reason = failure
                .strip_prefix(status)
                .and_then(|rest| rest.strip_prefix(": "))
                .unwrap_or(&failure);
            format!(
                "{} ({}) {status}: {reason}",
                target_words(r, several),
                r.target.account_name,
            )
        })
        .collect()
}

/// Totals by outcome and validity, as a small table for stderr.
pub(crate) fn summary(title: &str, results: &[Box<TargetResult>]) -> String {
    let mut by_outcome: BTreeMap<Outcome, usize> = BTreeMap::new();
    for r in results {
        *by_outcome.entry(r.outcome).or_default() += 1;
    }
    let mut s = format!("{title}: {} targets\n", results.len());
    for (outcome, n) in &by_outcome {
        s.push_str(&format!("  {:<14}{n:>7}\n", outcome.as_str()));
    }
    let validated: Vec<_> = results
        .iter()
        .filter_map(|r| r.validation.as_ref())
        .collect();
    if !validated.is_empty() {
        let valid = validated.iter().filter(|v| v.is_valid).count();
        s.push_str(&format!(
            "  {:<14}{valid:>7} of {}\n",
            "valid rules",
            results.len()
        ));
    }
    let probes: Vec<&Probe> = results.iter().filter_map(|r| r.probe.as_deref()).collect();
    if !probes.is_empty() {
        let ok = probes.iter().filter(|p| p.ok).count();
        let cached = probes
            .iter()
            .filter(|p| p.ok && p.cached == Some(true))
            .count();
        let blobs: u32 = probes.iter().filter_map(|p| p.blobs).sum();
        let bytes: u64 = probes.iter().filter_map(|p| p.bytes).sum();
        s.push_str(&format!(
            "  {:<14}{ok:>7} of {} ({cached} from the cache; {blobs} blobs, {} checked against their digests)\n",
            "pulls ok",
            results.len(),
            size(bytes)
        ));
    }
    let failed = results.iter().filter(|r| r.is_failure()).count();
    s.push_str(&format!("  {:<14}{failed:>7}\n", "failures"));
    s
}

/// A byte count as people read it: KiB below a MiB, else MiB with one decimal.
fn size(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes < MIB {
        format!("{} KiB", bytes.div_ceil(1024))
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    }
}

/// Renders rows as an aligned text table.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  "));
            }
        }
        l.trim_end().to_owned() + "\n"
    };
    let mut s = line(header.to_vec());
    for row in rows {
        s.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    s
}

/// The human view of results, one line per target; with `probe`, what each pull found.
pub(crate) fn results_table(results: &[Box<TargetResult>], probe: bool) -> String {
    let several = several(results);
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let mut row = place(r, several);
            row.extend([
                r.outcome.to_string(),
                actions(r, false),
                r.validation
                    .as_ref()
                    .and_then(Validation::answer)
                    .map_or("-".to_owned(), |v| v.to_string()),
            ]);
            if probe {
                let p = r.probe.as_deref();
                row.push(p.map_or("-".to_owned(), |p| {
                    let how = match p.cached {
                        Some(true) => " (cached)",
                        Some(false) if p.ok => " (imported)",
                        _ => "",
                    };
                    format!("{}{how}", p.ok)
                }));
                row.push(p.and_then(|p| p.digest.clone()).unwrap_or_default());
            }
            row.push(r.failure().unwrap_or_default());
            row
        })
        .collect();
    let mut header = place_header(several);
    header.extend(["OUTCOME", "ACTIONS", "VALID"]);
    if probe {
        header.extend(["PULLED", "DIGEST"]);
    }
    header.push("FAILURE");
    table(&header, &rows)
}

/// The actions of a row: what was done (apply) or, if `planned`, what would be.
pub(crate) fn actions(r: &TargetResult, planned: bool) -> String {
    let list: Vec<&str> = if planned {
        r.decision
            .as_ref()
            .map(|d| d.actions().iter().map(|a| a.label()).collect())
            .unwrap_or_default()
    } else {
        r.taken.iter().map(|a| a.label()).collect()
    };
    if list.is_empty() {
        "-".to_owned()
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
