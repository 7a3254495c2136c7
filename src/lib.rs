//! ptc-rollout: Amazon ECR pull through cache for the GitLab Container Registry, rolled out
//! across a whole AWS Organization.
//!
//! The crate reads in the order a run happens:
//! - [`rollout`]: the rollout file, validated before any AWS call; [`token`]: the GitLab token,
//!   read from the environment, a file or standard input and never printed.
//! - [`clients`]: every AWS client, built in one place; [`credentials`]: reaching each account.
//! - [`discovery`]: the Organization's accounts, filtered into (account, Region) [`target`]s.
//! - [`work`]: what happens to one target: observe, decide, converge, validate.
//! - [`runner`]: all targets concurrently under one bound, sending events.
//! - [`report`]: the one consumer of events (progress, counters, summary, CSV); [`plan_file`]:
//!   saved plans.
//! - [`cmd`]: the commands, and [`cli`] their flags; [`exit`] the exit codes.

pub mod cli;
pub mod clients;
pub mod cmd;
pub mod compliance;
pub mod credentials;
pub mod discovery;
pub mod error;
pub mod exit;
pub mod files;
pub mod iam;
pub mod plan_file;
pub mod regions;
pub mod registry;
pub mod report;
pub mod rollout;
pub mod runner;
pub mod startup;
pub mod target;
pub mod token;
pub mod work;
