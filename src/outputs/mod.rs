//! Plain data in, bytes out: the CSV report, the compliance export (CSV, JSON, JUnit, HTML),
//! saved plans, IAM policies, and the atomic write they all go through.

pub(crate) mod atomic_file;
pub(crate) mod compliance;
pub(crate) mod csv_report;
pub(crate) mod html_matrix;
pub(crate) mod iam_policy;
pub(crate) mod junit;
pub(crate) mod plan_file;

use crate::config::{Rollout, Upstream};
use crate::data::target::Target;

/// Whether the rows are of more than one upstream: the outputs for people then name each row's
/// upstream, and rows of one upstream (the single form, or `--upstream NAME`) read as they
/// always have.
pub(crate) fn several_upstreams<'a>(mut targets: impl Iterator<Item = &'a Target>) -> bool {
    let Some(first) = targets.next() else {
        return false;
    };
    targets.any(|t| t.upstream != first.upstream)
}

/// The upstream a row is for, as the rollout file has it; `None` for a name the file does not
/// hold (a row read from elsewhere).
pub(crate) fn upstream_of<'a>(rollout: &'a Rollout, target: &Target) -> Option<&'a Upstream> {
    rollout
        .upstreams
        .iter()
        .find(|u| u.name == *target.upstream)
}

#[cfg(test)]
pub(crate) mod test_rollouts;
