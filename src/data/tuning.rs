//! The `[tuning]` table's retries and timeouts, as plain data: the rollout file sets them, the
//! AWS clients are built with them.

use std::time::Duration;

/// Retry and timeout settings. The SDK's defaults (3 attempts, no operation or attempt timeout)
/// are too weak for a long run over thousands of accounts, so they are always set explicitly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuning {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub connect_timeout: Duration,
    pub attempt_timeout: Duration,
    pub operation_timeout: Duration,
}

impl Default for Tuning {
    /// Eight attempts ride out sustained throttling (at 25% throttled, a call fails all eight
    /// with odds of 1 in 65,000) while full-jitter backoff capped at 20 s keeps a throttled
    /// call under about 75 s of waiting. Each attempt gets 30 s, since
    /// ValidatePullThroughCacheRule logs in to the upstream registry; the operation timeout
    /// bounds all attempts and backoff together.
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(30),
            operation_timeout: Duration::from_secs(300),
        }
    }
}
