//! ptc-rollout: Amazon ECR pull through cache for the GitLab Container Registry, rolled out
//! across a whole AWS Organization.
//!
//! The crate map (every module, in the order a run happens, and the tiers) is kept in one place,
//! docs/design.md, with `apply` followed from `main` to the AWS calls and back. In short: the
//! engine ([`rollout`], [`token`], [`clients`], [`credentials`], [`discovery`], [`runner`],
//! [`work`], ...) never prints, it sends events; the command line ([`cli`], [`cmd`], [`exit`]) is
//! the only part that prints.

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
