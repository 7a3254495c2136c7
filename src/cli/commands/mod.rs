//! One file per command: each checks all of its input before the first AWS or GitLab call,
//! runs its passes and returns its exit status.

pub(crate) mod accounts;
pub(crate) mod apply;
pub(crate) mod destroy;
pub(crate) mod iam_policy;
pub(crate) mod plan;
pub(crate) mod probe;
pub(crate) mod report;
pub(crate) mod rotate;
pub(crate) mod token;
pub(crate) mod validate;
pub(crate) mod waves;
