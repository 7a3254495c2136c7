//! How a command fails before or around its targets: a typed error with its exit code, printed
//! in one place (`output::printer::print_error`). A target's own failure is not one of these: it is a report row.

use std::path::PathBuf;

use crate::aws::cannot_start::StartError;
use crate::aws::error::ApiError;
use crate::cli::exit;
use crate::config::{Problem, RolloutError};
use crate::gitlab::GitlabError;
use crate::outputs::plan_file::PlanFileError;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Bad input (flags, token source, output paths): every problem found, before any AWS call.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Refused(Vec<Problem>),
    #[error(transparent)]
    Rollout(#[from] RolloutError),
    #[error(transparent)]
    Plan(#[from] PlanFileError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot list the Organization's accounts: {0}")]
    Listing(ApiError),
    #[error("cannot write the report to {}: {source}", path.display())]
    Report {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the report: {0}")]
    Export(std::io::Error),
    #[error(transparent)]
    Gitlab(#[from] GitlabError),
    /// `token mint`: the new token could not be stored, and what became of it.
    #[error("{0}")]
    Unstored(String),
    /// `token mint`: whether the CI/CD variable holds the new token is unknown; it was kept.
    #[error("{0}")]
    MintUnconfirmed(String),
}

impl CommandError {
    /// The documented exit code (see [`crate::cli::exit`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            CommandError::Refused(_) | CommandError::Rollout(_) => exit::USAGE,
            CommandError::Plan(PlanFileError::Invalid(_)) => exit::USAGE,
            CommandError::Start(_) => exit::CANNOT_START,
            CommandError::Gitlab(_) | CommandError::Unstored(_) => exit::GITLAB_FAILED,
            CommandError::MintUnconfirmed(_) => exit::MINT_UNCONFIRMED,
            CommandError::Plan(PlanFileError::Write { .. })
            | CommandError::Listing(_)
            | CommandError::Report { .. }
            | CommandError::Export(_) => exit::TARGET_FAILED,
        }
    }
}

/// Fails with the problems found, if any.
pub(crate) fn refuse_if(problems: Vec<Problem>) -> Result<(), CommandError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CommandError::Refused(problems))
    }
}
