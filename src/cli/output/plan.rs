//! How a plan reads on the terminal: one line per target, grouped by wave when the rollout
//! has `[[waves]]`, and the totals by action and by kind of target.

use crate::cli::output::reporter;
use crate::data::target::{Action, Outcome, TargetResult};
use crate::data::waves::Waves;

/// One line per target: what `apply` would do there.
pub(crate) fn plan_table<'a>(results: impl IntoIterator<Item = &'a TargetResult>) -> String {
    let rows: Vec<Vec<String>> = results
        .into_iter()
        .map(|r| {
            let what = match r.outcome {
                Outcome::Unchanged => "nothing".to_owned(),
                Outcome::Pending => reporter::actions(r, true),
                _ => format!("{}: {}", r.outcome, r.failure().unwrap_or_default()),
            };
            let secret = if r.observed.as_ref().is_some_and(|o| o.secret.is_unmanaged()) {
                "unmanaged secret"
            } else {
                ""
            };
            vec![
                r.target.account_id.clone(),
                r.target.account_name.clone(),
                r.target.region.clone(),
                what,
                secret.to_owned(),
            ]
        })
        .collect();
    reporter::table(&["ACCOUNT", "NAME", "REGION", "PLAN", "NOTE"], &rows)
}

/// The plan wave by wave: a header line, the wave's targets, the wave's totals. A wave with no
/// target planned (`--wave`, or narrowed to nothing) is left out.
pub(crate) fn by_wave(waves: &Waves, results: &[Box<TargetResult>]) -> String {
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
        s.push_str(&plan_table(rows.iter().copied()));
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
pub(crate) fn totals(results: &[Box<TargetResult>]) -> String {
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
