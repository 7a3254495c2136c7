//! The one writer of the terminal, and the files a command writes from its finished results:
//! the [`printer::Printer`] every line goes through, the [`reporter`] that consumes the runner's
//! events, and the [`results`] every command that reports per target ends with.

pub(crate) mod plan;
pub(crate) mod printer;
pub(crate) mod reporter;
pub(crate) mod results;
