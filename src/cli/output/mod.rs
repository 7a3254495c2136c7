//! The one writer of the terminal, and the files a command writes from its finished results:
//! the [`printer::Printer`] every line goes through, the [`reporter`] that consumes the runner's
//! events, and one file per kind of [`Finished`] command that renders what it returns.

pub(crate) mod accounts;
pub(crate) mod compliance_export;
mod finished;
pub(crate) mod plan;
pub(crate) mod policies;
pub(crate) mod printer;
pub(crate) mod removal_plan;
pub(crate) mod reporter;
pub(crate) mod results;
pub(crate) mod revocation;
pub(crate) mod token_mint;
pub(crate) mod token_role;
pub(crate) mod token_status;

pub(crate) use finished::{render, Cancelled, Finished};
