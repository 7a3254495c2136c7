//! What a command returns: the data of what happened, one kind per command, rendered here in
//! one place (`cli::run`) into stdout data, the stderr summary and the exit status.

use crate::cli::error::CommandError;
use crate::cli::exit;
use crate::cli::output::printer::Printer;
use crate::cli::output::{
    accounts, compliance_export, plan, policies, removal_plan, results, revocation, token_mint,
    token_status,
};

/// What a command did, for the output module to render.
pub(crate) enum Finished {
    /// Everything was told as it happened (a listing cut short): only the exit status is left.
    Told(i32),
    /// The user answered no: nothing was changed.
    Cancelled(Cancelled),
    /// A pass over targets (`apply`, `rotate`, `destroy`, `validate`, `probe`).
    Targets(Box<results::Concluded>),
    /// `plan`.
    Plan(Box<plan::Planned>),
    /// `destroy` found nothing managed to remove (its plan was shown); the exit status.
    NothingToRemove(i32),
    /// `accounts`.
    Accounts(Box<accounts::Listing>),
    /// `iam-policy`: the policies' JSON document.
    Policies(serde_json::Value),
    /// `report`.
    Compliance(Box<compliance_export::Export>),
    /// `token status`.
    TokenStatus(Box<token_status::Status>),
    /// `token mint`.
    Minted(Box<token_mint::Minted>),
    /// `token revoke-old`.
    Revocation(revocation::Ended),
}

/// The change a user declined at the confirmation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cancelled {
    Apply,
    Destroy,
    Rotation,
    Revocation,
}

impl Cancelled {
    fn line(self) -> &'static str {
        match self {
            Cancelled::Apply => "Apply cancelled; nothing was changed.",
            Cancelled::Destroy => "Destroy cancelled; nothing was changed.",
            Cancelled::Rotation => "Rotation cancelled; nothing was changed.",
            Cancelled::Revocation => "Revocation cancelled; nothing was revoked.",
        }
    }
}

/// Renders what a command did (and writes the files it asked for) and gives the exit status.
pub(crate) fn render(printer: Printer, finished: Finished) -> Result<i32, CommandError> {
    match finished {
        Finished::Told(code) => Ok(code),
        Finished::Cancelled(what) => {
            // Even when quiet: the change asked for did not happen.
            printer.always(what.line());
            Ok(exit::TARGET_FAILED)
        }
        Finished::Targets(c) => results::render(printer, &c),
        Finished::Plan(p) => plan::render(printer, *p),
        Finished::NothingToRemove(code) => {
            removal_plan::nothing(printer);
            Ok(code)
        }
        Finished::Accounts(l) => Ok(accounts::render(printer, &l)),
        Finished::Policies(doc) => Ok(policies::render(printer, &doc)),
        Finished::Compliance(e) => compliance_export::render(printer, &e),
        Finished::TokenStatus(s) => Ok(token_status::render(printer, &s)),
        Finished::Minted(m) => Ok(token_mint::render(printer, &m)),
        Finished::Revocation(r) => Ok(revocation::render(printer, &r)),
    }
}
