//! Process exit codes. They are part of the command-line contract (documented in
//! docs/commands.md), so every path out of `main` goes through one of these names.

/// Every target converged (or, for `plan`, was read) and every checked rule is valid.
pub const SUCCESS: i32 = 0;
/// At least one target failed, conflicted, went stale or holds an invalid rule.
pub const TARGET_FAILED: i32 = 1;
/// Bad input or usage: the rollout file, a flag or the token source. No AWS call was made.
/// Also `token revoke-old` given a token older than an active one ptc-rollout minted (found
/// in GitLab's token list): nothing was revoked.
pub const USAGE: i32 = 2;
/// Cannot start: the AWS caller could not be identified (no credentials, an unknown profile,
/// an endpoint that cannot be reached). Nothing was done.
pub const CANNOT_START: i32 = 4;
/// `plan --detailed-exitcode`: the plan has changes to apply.
pub const CHANGES_PENDING: i32 = 3;
/// GitLab refused a `token` command's call or could not be reached (the line says which call,
/// what GitLab answered and what to do). For `token revoke-old`, nothing or only part was
/// revoked; the line names each token left.
pub const GITLAB_FAILED: i32 = 5;
/// `token mint` only: the new token was minted and sent to the CI/CD variable, but GitLab's
/// answer was lost and the variable could not be read back, so nothing was revoked; the line
/// names the token and what to check.
pub const MINT_UNCONFIRMED: i32 = 6;
/// Interrupted by Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED: i32 = 130;
