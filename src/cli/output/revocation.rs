//! How `token revoke-old` reads: the check of every target (skipped ones listed, those still
//! needing an old token named), the proof, and each token revoked or not.

use crate::cli::context::Listed;
use crate::cli::exit;
use crate::cli::output::printer::Printer;
use crate::cli::output::reporter;
use crate::cli::output::results::print_stop;
use crate::data::target::TargetResult;
use crate::engine::runner::Stop;
use crate::gitlab::TokenInfo;
use crate::outputs::compliance::{self, Revocation};

/// The check of every target against the current token.
pub(crate) struct Check {
    stop: Option<Stop>,
    /// Targets that need no token (no secret and no rule there), one line each.
    skipped: Vec<String>,
    /// Targets not proven on the current token, one line each.
    behind: Vec<String>,
    cut: bool,
    targets: usize,
    /// The current token's name and id.
    current: (String, u64),
}

impl Check {
    pub(crate) fn of(
        (results, stop): (&[Box<TargetResult>], Option<Stop>),
        listed: Listed,
        current: &TokenInfo,
    ) -> Self {
        let (mut behind, mut skipped) = (Vec::new(), Vec::new());
        let several = reporter::several(results);
        for r in results {
            let t = &r.target;
            let place = reporter::target_words(r, several);
            let line = |why| format!("{place} ({}): {why}", t.account_name);
            match compliance::revocation(r) {
                Revocation::Proven => {}
                Revocation::Skipped(why) => skipped.push(line(why)),
                Revocation::Behind(why) => behind.push(line(why)),
            }
        }
        Check {
            stop,
            skipped,
            behind,
            cut: listed == Listed::Cut,
            targets: results.len(),
            current: (current.name.clone(), current.id),
        }
    }

    pub(crate) fn interrupted(&self) -> bool {
        self.stop == Some(Stop::Interrupted)
    }

    /// Every target listed is proven on the current token (or needs none).
    pub(crate) fn proven(&self) -> bool {
        self.behind.is_empty() && !self.cut
    }

    fn proof(&self) -> String {
        let (name, id) = &self.current;
        format!(
            "All {} targets are valid on ptc-rollout's secret and hold the current token {name:?} (id {id}){}",
            self.targets - self.skipped.len(),
            match self.skipped.len() {
                0 => String::new(),
                n => format!("; {n} skipped (an opt-in Region not enabled: no token needed there)"),
            }
        )
    }
}

/// A token revoke-old tried to revoke, and GitLab's refusal if it refused.
pub(crate) struct Revoked {
    pub name: String,
    pub id: u64,
    pub refused: Option<String>,
}

/// How `token revoke-old` ended: what it returns.
pub(crate) enum Ended {
    /// No older token minted by ptc-rollout in the group (named); nothing was checked.
    NothingOld(String),
    /// The check, interrupted.
    Interrupted(Check),
    /// Some target still needs an old token, or the listing was cut: nothing was revoked.
    NotProven(Check),
    /// Every target proven, and no older token to revoke.
    ProvenNothingOld(Check),
    /// Each old token, revoked or not (the proof was told before the question).
    Revoked(Vec<Revoked>),
}

/// What the check found, before anything is revoked: why it stopped, the skipped targets.
fn tell_checked(printer: Printer, check: &Check) {
    print_stop(printer, check.stop.as_ref());
    if check.interrupted() {
        return;
    }
    // Listed, never counted as behind: no secret and no rule there, so no token is needed.
    for line in &check.skipped {
        printer.status_line(format_args!("skipped, needs no token: {line}"));
    }
}

/// The check and its proof, before the question: every target holds the current token.
pub(crate) fn proven(printer: Printer, check: &Check) {
    tell_checked(printer, check);
    printer.status_line(format_args!("{}.", check.proof()));
}

/// The end of `token revoke-old` on stderr, and its exit status.
pub(crate) fn render(printer: Printer, ended: &Ended) -> i32 {
    match ended {
        Ended::NothingOld(group) => {
            printer.status_line(format_args!(
                "No older active token minted by ptc-rollout in group {group}: nothing to revoke."
            ));
            exit::SUCCESS
        }
        Ended::Interrupted(check) => {
            tell_checked(printer, check);
            exit::INTERRUPTED
        }
        Ended::NotProven(check) => {
            tell_checked(printer, check);
            not_proven(printer, check);
            exit::TARGET_FAILED
        }
        Ended::ProvenNothingOld(check) => {
            tell_checked(printer, check);
            printer.status_line(format_args!(
                "{}; no older active token minted by ptc-rollout: nothing to revoke.",
                check.proof()
            ));
            exit::SUCCESS
        }
        Ended::Revoked(tokens) => revoked(printer, tokens),
    }
}

/// Why nothing was revoked, even when quiet.
fn not_proven(printer: Printer, check: &Check) {
    for line in &check.behind {
        printer.always(format_args!("still needs an old token: {line}"));
    }
    if check.cut {
        printer.always("the Organization was not listed to its end: targets may be missing");
    }
    let (name, id) = &check.current;
    printer.always(format_args!(
        "Revoked nothing: {} of {} targets are not proven on the current token {name:?} (id {id}). Run `ptc-rollout rotate`, then revoke-old again.",
        check.behind.len(),
        check.targets - check.skipped.len(),
    ));
}

/// Each token revoked, or not and why; 5 when any was not.
fn revoked(printer: Printer, tokens: &[Revoked]) -> i32 {
    for t in tokens {
        match &t.refused {
            None => printer.status_line(format_args!("revoked {:?} (id {})", t.name, t.id)),
            Some(e) => printer.error(format_args!("not revoked {:?} (id {}): {e}", t.name, t.id)),
        }
    }
    if tokens.iter().all(|t| t.refused.is_none()) {
        exit::SUCCESS
    } else {
        exit::GITLAB_FAILED
    }
}
