//! The terminal and the files a command writes from its finished results.

pub(crate) mod conclude;
pub(crate) mod reporter;
