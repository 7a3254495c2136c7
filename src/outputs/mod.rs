//! Plain data in, bytes out: the CSV report, the compliance export (CSV, JSON, JUnit, HTML),
//! saved plans, IAM policies, and the atomic write they all go through.

pub(crate) mod atomic_file;
pub(crate) mod compliance;
pub(crate) mod csv_report;
pub(crate) mod html_matrix;
pub(crate) mod iam_policy;
pub(crate) mod junit;
pub(crate) mod plan_file;
