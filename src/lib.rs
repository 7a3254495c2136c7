//! ptc-rollout: Amazon ECR pull through cache for the GitLab Container Registry, rolled out
//! across a whole AWS Organization.
//!
//! The engine, in the order a run happens (it never prints; it sends events):
//! - [`rollout`]: the rollout file, validated before any AWS call; [`token`]: the GitLab token,
//!   read from the environment, a file or standard input and never printed.
//! - [`clients`]: every AWS client, built in one place; [`credentials`]: reaching each account;
//!   [`startup`]: why a run cannot start.
//! - [`discovery`]: the Organization's accounts, filtered into (account, Region) [`target`]s,
//!   the plain data every other module shares (it depends on none of them); with `[[waves]]`,
//!   put in [`waves`] (plain data too), which `apply` and `rotate` go through one by one.
//! - [`work`]: what happens to one target: observe, decide, converge, validate, pull
//!   ([`registry`]: the registry HTTP API).
//! - [`runner`]: one [`runner::Pass`] over all targets, concurrently under one bound, each
//!   target's end an event.
//! - [`rows`]: the CSV report's rows; [`compliance`]: the compliance export's; [`junit`]: both
//!   as JUnit XML; [`matrix`]: the export as an HTML page; [`plan_file`]: saved plans;
//!   [`files`]: atomic writes; [`iam`]: the policies the tool needs.
//!
//! The command line, the only part that prints: [`cli`] (flags), [`cmd`] (one file per command,
//! the reporter that consumes the runner's events, the one place errors are printed), [`exit`]
//! (the exit codes).

pub mod cli;
pub mod clients;
pub mod cmd;
pub mod compliance;
pub mod credentials;
pub mod discovery;
pub mod error;
pub mod exit;
pub mod files;
pub mod gitlab_api;
pub mod http;
pub mod iam;
pub mod junit;
pub mod matrix;
pub mod plan_file;
pub mod regions;
pub mod registry;
pub mod rollout;
pub mod rows;
pub mod runner;
pub mod startup;
pub mod target;
pub mod token;
pub mod waves;
pub mod work;
