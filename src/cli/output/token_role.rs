//! What is said of the registry token's role before a pass that depends on it (`probe`,
//! `validate --probe-image`, `report`): said as soon as it is known, before the pass.

use std::fmt::Display;

use crate::cli::output::printer::Printer;

/// The role could not be read (`why`), so a refused pull is not blamed on it.
pub(crate) fn unknown(printer: Printer, why: impl Display) {
    printer.note(format_args!(
        "the registry token's role is not known ({why}): a Guest token pulls only from public projects"
    ));
}

/// GitLab could not say what the registry token is (`error`).
pub(crate) fn unread(printer: Printer, error: impl Display) {
    printer.note(format_args!(
        "the registry token's role is not known ({error})"
    ));
}

/// A role below Reporter, and what it cannot do (see `commands::token::role_warning`).
pub(crate) fn warning(printer: Printer, warning: &str) {
    printer.warning(warning);
}
