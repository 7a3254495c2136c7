//! What the runner tells the command line's reporter: the one channel from the engine to the
//! terminal. The events cover the whole run, in the order they happen (as nextest's
//! `TestEventKind`): a pass starts, its targets are found, start and finish, the pass finishes;
//! in waves, each wave starts, is not started, or halts the later ones. The command line may send
//! what it alone knows (a warning, a listing cut short, why the run stopped) into the same
//! reporter, so that one writer orders the terminal.

use crate::data::target::{Target, TargetResult};
use crate::data::waves::WaveEnd;
use crate::engine::runner::Stop;

/// What the runner (or the command line) tells the reporter.
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
    /// The pass ended, with its totals: every one of its `targets` has finished, `failed` of
    /// them failed (not attempted ones included); `stop` says why it stopped scheduling early,
    /// if it did (the run's own stop, told once at its end, is [`Event::Stopped`]).
    PassFinished {
        stop: Option<Stop>,
        targets: usize,
        failed: usize,
    },
    /// Something the user should know that does not fail the run.
    Warning(String),
    /// The Organization's listing failed part way: the targets listed before it were worked on.
    ListingCut(String),
    /// Why the run stopped early (told after its results).
    Stopped(Stop),
    /// `[[waves]]`: wave `index` (0-based) of `of` starts its pass over `targets` targets; its
    /// pass's [`Event::PassFinished`] ends it.
    WaveStarted {
        name: String,
        index: usize,
        of: usize,
        targets: usize,
    },
    /// `[[waves]]`: wave `wave` ended so, and the later waves are not started.
    WaveHalted {
        wave: String,
        end: WaveEnd,
    },
    /// `[[waves]]`: wave `index` (0-based) of `of`, after a halt or an interrupt: its `targets`
    /// targets are reported not attempted.
    WaveNotStarted {
        name: String,
        index: usize,
        of: usize,
        targets: usize,
    },
}
