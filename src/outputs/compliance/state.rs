//! A compliance row's one classification, which `report`'s exit code, its summary and every
//! export read alike.

use serde::Serialize;

/// A row's one classification. The exit code, the stderr summary and every export read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum State {
    #[serde(rename = "compliant")]
    Compliant,
    /// Compliant but due: the token expires within the warning days. Fails the exit code, so
    /// a scheduled report says so before the expiry does.
    #[serde(rename = "warning")]
    Warning,
    /// Checked and wrong.
    #[serde(rename = "non-compliant")]
    NonCompliant,
    /// An error stopped the check.
    #[serde(rename = "not inspected")]
    NotInspected,
    /// Out of reach for good (an opt-in Region the account has not enabled): listed, not
    /// counted against the exit code.
    #[serde(rename = "skipped")]
    Skipped,
}

impl State {
    pub(crate) const ALL: [State; 5] = [
        State::Compliant,
        State::Warning,
        State::NonCompliant,
        State::NotInspected,
        State::Skipped,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Compliant => "compliant",
            State::Warning => "warning",
            State::NonCompliant => "non-compliant",
            State::NotInspected => "not inspected",
            State::Skipped => "skipped",
        }
    }

    /// Whether the row makes `report` exit 1.
    pub(crate) fn fails(self) -> bool {
        matches!(
            self,
            State::Warning | State::NonCompliant | State::NotInspected
        )
    }
}
