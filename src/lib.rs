//! ptc-rollout: Amazon ECR pull through cache for the GitLab Container Registry, rolled out
//! across a whole AWS Organization.
//!
//! The crate map (every module, in the order a run happens, and the tiers) is kept in one place,
//! docs/design.md, with `apply` followed from `main` to the AWS calls and back. In short: the
//! engine (`config`, `engine`, `aws`, `gitlab`, `outputs`, `data`) never prints, it sends events;
//! the command line (`cli`) is the only part that prints.

// Every item is `pub(crate)` unless it is part of the surface below, which the binary, the
// simulation (sim/), the scale benchmark and the integration tests use.
#![warn(unreachable_pub)]

mod aws;
mod cli;
mod config;
pub mod data;
mod engine;
mod gitlab;
mod http;
mod outputs;

// The binary: flags, logging, the command, its one error line, the exit codes.
pub use cli::args::Cli;
pub use cli::{
    exit, init_logging, internal_error, interrupted, interrupted_again, print_error, run,
    CommandError,
};

// The engine as the simulation's tests and the scale benchmark drive it, with the reporter
// the binary uses, so the benchmark measures what ships.
pub use aws::clients::{Clients, Overrides, Regional};
pub use cli::output::printer::Printer;
pub use cli::output::reporter::consume;
pub use config::model_rules;
pub use config::secrets::{GitlabToken, Tokens};
pub use config::Rollout;
pub use data::tuning::Tuning;
pub use engine::credentials::{Access, Caller};
pub use engine::discovery::{discover, stream_targets, SkipReason};
pub use engine::resources::{converge, decide, observe, validate};
pub use engine::runner::{
    Event, Job, Limits, Pass, Runner, Setup, Stop, Tolerance, DEFAULT_CONCURRENCY,
};

// The compliance export's HTML page, measured at scale by the tests.
pub use outputs::compliance::{Inspection, Row, State};
pub use outputs::html_matrix::{page as html_page, Matrix};
