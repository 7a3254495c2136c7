//! How `destroy`'s plan reads, before it asks: what would be removed per target, and what
//! would be left alone.

use crate::cli::output::printer::Printer;
use crate::cli::output::reporter;
use crate::data::target::{Action, RuleState, TargetResult};

/// The removal's plan on stdout.
pub(crate) fn show(printer: Printer, planned: &[Box<TargetResult>]) {
    printer.data(plan_table(planned));
}

/// Nothing to remove, even when quiet: the plan shown is all there is.
pub(crate) fn nothing(printer: Printer) {
    printer.always("Nothing managed by ptc-rollout to remove.");
}

/// What would be removed per target, and what would be left alone.
fn plan_table(planned: &[Box<TargetResult>]) -> String {
    let several = reporter::several(planned);
    let rows: Vec<Vec<String>> = planned
        .iter()
        .map(|r| {
            let what = match &r.error {
                Some(e) => format!("{}: {e}", r.outcome),
                None => reporter::actions(r, true).replace('-', "nothing managed"),
            };
            let kept = r.observed.as_ref().map_or(String::new(), |o| {
                let actions = r
                    .decision
                    .as_ref()
                    .map(|d| d.actions().to_vec())
                    .unwrap_or_default();
                let mut kept = Vec::new();
                if o.secret.arn().is_some() && !actions.contains(&Action::DeleteSecret) {
                    kept.push("secret (not managed)");
                }
                if matches!(o.rule, RuleState::Present { .. })
                    && !actions.contains(&Action::DeleteRule)
                {
                    kept.push("rule (not using the managed secret)");
                }
                kept.join(", ")
            });
            let mut row = reporter::place(r, several);
            row.extend([what, kept]);
            row
        })
        .collect();
    let mut header = reporter::place_header(several);
    header.extend(["REMOVE", "LEFT ALONE"]);
    reporter::table(&header, &rows)
}
