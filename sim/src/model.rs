//! The simulation's models of time and chance: which API a call is, its latency (log-normal per
//! API), the token buckets that throttle it, and a small deterministic random number generator.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Every API the simulation answers, plus `Unknown` for any other action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    ListAccounts,
    ListAccountsForParent,
    ListChildren,
    DescribeOrganization,
    GetCallerIdentity,
    AssumeRole,
    GetRegionOptStatus,
    DescribeSecret,
    GetSecretValue,
    ListSecretVersionIds,
    CreateSecret,
    PutSecretValue,
    UpdateSecret,
    UpdateSecretVersionStage,
    RestoreSecret,
    DeleteSecret,
    DescribePullThroughCacheRules,
    CreatePullThroughCacheRule,
    UpdatePullThroughCacheRule,
    DeletePullThroughCacheRule,
    ValidatePullThroughCacheRule,
    CreateRepositoryCreationTemplate,
    UpdateRepositoryCreationTemplate,
    DescribeRepositoryCreationTemplates,
    DeleteRepositoryCreationTemplate,
    /// An action the simulation does not implement (answered UnknownOperationException).
    Unknown,
}

impl Api {
    pub const COUNT: usize = Api::Unknown as usize + 1;
    pub const ALL: [Api; Api::COUNT] = [
        Api::ListAccounts,
        Api::ListAccountsForParent,
        Api::ListChildren,
        Api::DescribeOrganization,
        Api::GetCallerIdentity,
        Api::AssumeRole,
        Api::GetRegionOptStatus,
        Api::DescribeSecret,
        Api::GetSecretValue,
        Api::ListSecretVersionIds,
        Api::CreateSecret,
        Api::PutSecretValue,
        Api::UpdateSecret,
        Api::UpdateSecretVersionStage,
        Api::RestoreSecret,
        Api::DeleteSecret,
        Api::DescribePullThroughCacheRules,
        Api::CreatePullThroughCacheRule,
        Api::UpdatePullThroughCacheRule,
        Api::DeletePullThroughCacheRule,
        Api::ValidatePullThroughCacheRule,
        Api::CreateRepositoryCreationTemplate,
        Api::UpdateRepositoryCreationTemplate,
        Api::DescribeRepositoryCreationTemplates,
        Api::DeleteRepositoryCreationTemplate,
        Api::Unknown,
    ];

    /// The action name as AWS spells it (the metrics key); `Unknown` for unknown actions.
    pub fn name(self) -> &'static str {
        match self {
            Api::ListAccounts => "ListAccounts",
            Api::ListAccountsForParent => "ListAccountsForParent",
            Api::ListChildren => "ListChildren",
            Api::DescribeOrganization => "DescribeOrganization",
            Api::GetCallerIdentity => "GetCallerIdentity",
            Api::AssumeRole => "AssumeRole",
            Api::GetRegionOptStatus => "GetRegionOptStatus",
            Api::DescribeSecret => "DescribeSecret",
            Api::GetSecretValue => "GetSecretValue",
            Api::ListSecretVersionIds => "ListSecretVersionIds",
            Api::CreateSecret => "CreateSecret",
            Api::PutSecretValue => "PutSecretValue",
            Api::UpdateSecret => "UpdateSecret",
            Api::UpdateSecretVersionStage => "UpdateSecretVersionStage",
            Api::RestoreSecret => "RestoreSecret",
            Api::DeleteSecret => "DeleteSecret",
            Api::DescribePullThroughCacheRules => "DescribePullThroughCacheRules",
            Api::CreatePullThroughCacheRule => "CreatePullThroughCacheRule",
            Api::UpdatePullThroughCacheRule => "UpdatePullThroughCacheRule",
            Api::DeletePullThroughCacheRule => "DeletePullThroughCacheRule",
            Api::ValidatePullThroughCacheRule => "ValidatePullThroughCacheRule",
            Api::CreateRepositoryCreationTemplate => "CreateRepositoryCreationTemplate",
            Api::UpdateRepositoryCreationTemplate => "UpdateRepositoryCreationTemplate",
            Api::DescribeRepositoryCreationTemplates => "DescribeRepositoryCreationTemplates",
            Api::DeleteRepositoryCreationTemplate => "DeleteRepositoryCreationTemplate",
            Api::Unknown => "Unknown",
        }
    }

    /// The API of an action name (without the service's target prefix).
    pub fn from_name(name: &str) -> Api {
        match name {
            "ListAccounts" => Api::ListAccounts,
            "ListAccountsForParent" => Api::ListAccountsForParent,
            "ListChildren" => Api::ListChildren,
            "DescribeOrganization" => Api::DescribeOrganization,
            "GetCallerIdentity" => Api::GetCallerIdentity,
            "AssumeRole" => Api::AssumeRole,
            "GetRegionOptStatus" => Api::GetRegionOptStatus,
            "DescribeSecret" => Api::DescribeSecret,
            "GetSecretValue" => Api::GetSecretValue,
            "ListSecretVersionIds" => Api::ListSecretVersionIds,
            "CreateSecret" => Api::CreateSecret,
            "PutSecretValue" => Api::PutSecretValue,
            "UpdateSecret" => Api::UpdateSecret,
            "UpdateSecretVersionStage" => Api::UpdateSecretVersionStage,
            "RestoreSecret" => Api::RestoreSecret,
            "DeleteSecret" => Api::DeleteSecret,
            "DescribePullThroughCacheRules" => Api::DescribePullThroughCacheRules,
            "CreatePullThroughCacheRule" => Api::CreatePullThroughCacheRule,
            "UpdatePullThroughCacheRule" => Api::UpdatePullThroughCacheRule,
            "DeletePullThroughCacheRule" => Api::DeletePullThroughCacheRule,
            "ValidatePullThroughCacheRule" => Api::ValidatePullThroughCacheRule,
            "CreateRepositoryCreationTemplate" => Api::CreateRepositoryCreationTemplate,
            "UpdateRepositoryCreationTemplate" => Api::UpdateRepositoryCreationTemplate,
            "DescribeRepositoryCreationTemplates" => Api::DescribeRepositoryCreationTemplates,
            "DeleteRepositoryCreationTemplate" => Api::DeleteRepositoryCreationTemplate,
            _ => Api::Unknown,
        }
    }

    /// ECR and Secrets Manager calls: the per-target work.
    pub fn is_regional(self) -> bool {
        (Api::DescribeSecret as usize..=Api::DeleteRepositoryCreationTemplate as usize)
            .contains(&(self as usize))
    }

    /// Create*, Put*, Restore*, Update*, Delete*.
    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            Api::CreateSecret
                | Api::PutSecretValue
                | Api::UpdateSecret
                | Api::UpdateSecretVersionStage
                | Api::RestoreSecret
                | Api::DeleteSecret
                | Api::CreatePullThroughCacheRule
                | Api::UpdatePullThroughCacheRule
                | Api::DeletePullThroughCacheRule
                | Api::CreateRepositoryCreationTemplate
                | Api::UpdateRepositoryCreationTemplate
                | Api::DeleteRepositoryCreationTemplate
        )
    }
}

/// Log-normal latency of one API: `median * exp(sigma * z)` with z standard normal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub median: Duration,
    pub sigma: f64,
}

impl Latency {
    pub const ZERO: Latency = Latency {
        median: Duration::ZERO,
        sigma: 0.0,
    };

    pub fn new(median: Duration, sigma: f64) -> Self {
        Latency { median, sigma }
    }

    /// The log-normal mean, `median * exp(sigma^2 / 2)`.
    pub fn mean(&self) -> Duration {
        self.median.mul_f64((self.sigma * self.sigma / 2.0).exp())
    }
}

/// Latency per API, indexed by `Api as usize`.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyModel {
    pub per_api: [Latency; Api::COUNT],
}

impl Default for LatencyModel {
    /// 100 ms median, sigma 0.35 everywhere; ValidatePullThroughCacheRule 400 ms (ECR logs in to
    /// the upstream registry).
    fn default() -> Self {
        LatencyModel::uniform(Duration::from_millis(100), 0.35).with(
            Api::ValidatePullThroughCacheRule,
            Latency::new(Duration::from_millis(400), 0.35),
        )
    }
}

impl LatencyModel {
    /// No latency at all: calls answer in zero virtual time (and without a timer).
    pub fn zero() -> Self {
        LatencyModel {
            per_api: [Latency::ZERO; Api::COUNT],
        }
    }

    /// The same latency for every API.
    pub fn uniform(median: Duration, sigma: f64) -> Self {
        LatencyModel {
            per_api: [Latency::new(median, sigma); Api::COUNT],
        }
    }

    /// This model with `api`'s latency replaced.
    pub fn with(mut self, api: Api, latency: Latency) -> Self {
        self.per_api[api as usize] = latency;
        self
    }

    pub fn get(&self, api: Api) -> Latency {
        self.per_api[api as usize]
    }

    /// The mean latency of `api` (log-normal mean).
    pub fn mean(&self, api: Api) -> Duration {
        self.get(api).mean()
    }

    /// One latency draw for `api`.
    pub fn sample(&self, api: Api, rng: &SimRng) -> Duration {
        let l = self.get(api);
        if l.median.is_zero() || l.sigma == 0.0 {
            return l.median;
        }
        l.median.mul_f64((l.sigma * rng.normal()).exp())
    }
}

/// A token bucket's parameters: it starts full with `burst` tokens and refills at
/// `rate_per_sec`; a call takes one token or is throttled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    pub rate_per_sec: f64,
    pub burst: f64,
}

impl Quota {
    /// Burst equal to one second's worth of the rate.
    pub fn per_second(rate: f64) -> Self {
        Quota {
            rate_per_sec: rate,
            burst: rate,
        }
    }
}

/// The quotas the simulation enforces; `None` disables one. Each is a token bucket (see
/// [`Quota`]) checked when the call reaches the service, after its latency.
#[derive(Debug, Clone, PartialEq)]
pub struct Quotas {
    /// ListAccounts, ListAccountsForParent and ListChildren together, one bucket for the
    /// Organization. Default 8/s, burst 8.
    pub organizations: Option<Quota>,
    /// AssumeRole, one bucket per calling account. Default 600/s, burst 600.
    pub assume_role: Option<Quota>,
    /// CreateSecret, PutSecretValue, UpdateSecret, UpdateSecretVersionStage and RestoreSecret
    /// together, per (account, Region). Default 50/s, burst 50.
    pub secret_writes: Option<Quota>,
    /// DescribeSecret and GetSecretValue together, per (account, Region). Default 10,000/s,
    /// burst 10,000.
    pub secret_reads: Option<Quota>,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            organizations: Some(Quota::per_second(8.0)),
            assume_role: Some(Quota::per_second(600.0)),
            secret_writes: Some(Quota::per_second(50.0)),
            secret_reads: Some(Quota::per_second(10_000.0)),
        }
    }
}

impl Quotas {
    /// No throttling anywhere.
    pub fn none() -> Self {
        Quotas {
            organizations: None,
            assume_role: None,
            secret_writes: None,
            secret_reads: None,
        }
    }
}

/// One token bucket's state: tokens left (NaN until first used, then starting full) and the
/// virtual millisecond they were last counted at. 8 bytes, so every target can hold its own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tokens: f32,
    at_ms: u32,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            tokens: f32::NAN,
            at_ms: 0,
        }
    }
}

impl Bucket {
    /// Takes a token at `now_nanos` of virtual time; false when the bucket is empty
    /// (throttled). Refill is counted in whole milliseconds, which telescope: none is lost.
    pub(crate) fn take(&mut self, q: &Quota, now_nanos: u64) -> bool {
        let now_ms = (now_nanos / 1_000_000).min(u32::MAX as u64) as u32;
        if self.tokens.is_nan() {
            self.tokens = q.burst as f32;
        } else if now_ms > self.at_ms {
            let refill = (now_ms - self.at_ms) as f64 / 1e3 * q.rate_per_sec;
            self.tokens = (self.tokens as f64 + refill).min(q.burst) as f32;
        }
        self.at_ms = self.at_ms.max(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// splitmix64 on an atomic counter: lock-free, deterministic for a given seed and call order.
#[derive(Debug)]
pub struct SimRng(AtomicU64);

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng(AtomicU64::new(seed))
    }

    pub fn next_u64(&self) -> u64 {
        let mut z = self
            .0
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box-Muller, one of the pair).
    pub fn normal(&self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]: ln is finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}
