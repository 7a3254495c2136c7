//! The engine: reaching accounts, listing targets, running a pass over them and the work in
//! one target. It never prints: it sends events to the command line's reporter.

pub(crate) mod credentials;
pub(crate) mod discovery;
pub(crate) mod pull;
pub(crate) mod resources;
pub(crate) mod runner;
