//! What the runner tells the command line's reporter: the one channel from the engine to the
//! terminal.

use crate::data::target::{Target, TargetResult};

/// What the runner tells the reporter.
#[derive(Debug)]
pub enum Event {
    PassStarted {
        label: &'static str,
    },
    /// A target joined the pass (the total grows while the Organization is listed).
    TargetFound,
    TargetStarted {
        target: Target,
    },
    TargetFinished(Box<TargetResult>),
}
