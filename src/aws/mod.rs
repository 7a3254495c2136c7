//! The AWS side: every SDK client built in one place, the error every AWS call becomes, why a
//! run cannot start, and the registry HTTP API v2 that `probe` pulls through.

pub(crate) mod cannot_start;
pub(crate) mod clients;
pub(crate) mod error;
pub(crate) mod registry;
