//! A simulated AWS for benchmarks and tests: Organizations, STS, Secrets Manager and ECR pull
//! through cache, answered in memory behind the real SDK's HTTP layer. Plug
//! [`Sim::http_client`] and [`Sim::credentials`] into [`crate::clients::Overrides`] and the real
//! code path runs unchanged (signing, retries, timeouts, credential caches).
//!
//! Each call sleeps a log-normal latency on tokio's clock (virtual under
//! `tokio::time::pause()`), then meets its quota's token bucket (throttled when empty), then an
//! optional injected HTTP 500, then the in-memory state. Service and action come from the
//! `X-Amz-Target` header (or STS's `Action=` form field); Region and account from the SigV4
//! credential scope (`Credential=AKID/date/REGION/service/...`): the caller's key is the
//! management account, and AssumeRole hands out keys `ASIA<account id>SIMK` that map back.
//!
//! For benchmarks:
//! - Quotas are token buckets that start full with `burst` tokens (default: one second's worth
//!   of the rate) and refill at the rate; a call takes a token when it reaches the service,
//!   after its latency, so a throttled answer costs a whole latency too. Organizations throttles
//!   with `TooManyRequestsException` (as AWS does), STS with `Throttling`, Secrets Manager with
//!   `ThrottlingException`. ECR has no quota. `Quotas::none()` turns all of them off.
//! - `LatencyModel::zero()` answers at once, without a timer; `LatencyModel::mean` gives the
//!   log-normal mean for lower bounds.
//! - Timestamps are the wall clock at [`Sim::new`] plus virtual time elapsed since; AssumeRole's
//!   Expiration counts from the request's `X-Amz-Date`, so it agrees with whatever time source
//!   the SDK signs with.

mod connector;
mod ecr;
mod model;
mod org;
mod secrets;
mod state;
mod validation;
mod wire;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::{http_client_fn, SharedHttpClient, SharedHttpConnector};
use tokio::time::Instant;

pub use model::{Api, Latency, LatencyModel, Quota, Quotas, SimRng};

use connector::Connector;
use state::{Cred, Org, State, MEMBER_ID_BASE, ROOT_ID};

/// The access key id of the caller (the management account).
pub const CALLER_ACCESS_KEY: &str = "AKIASIMULATEDCALLER0";

/// What the simulated AWS looks like and how it behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Member accounts, with ids `200000000000 + i`.
    pub member_accounts: usize,
    /// The caller's own account (12 digits), listed first.
    pub management_account: String,
    /// 0: every account directly under the root `r-root`. Otherwise members are spread
    /// round-robin over this many OUs `ou-root-0000000k` under the root; the management account
    /// stays under the root.
    pub organizational_units: usize,
    /// 0: none. Otherwise every Nth member (member index `i` with `(i + 1) % N == 0`) is
    /// SUSPENDED.
    pub suspended_every: usize,
    pub seed: u64,
    pub latency: LatencyModel,
    pub quotas: Quotas,
    /// Fraction of ECR and Secrets Manager calls answered HTTP 500 InternalFailure.
    pub failure_rate: f64,
    /// `None`: any non-empty accessToken validates. `Some(list)`: only those.
    pub valid_tokens: Option<Vec<String>>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            member_accounts: 100,
            management_account: "100000000000".to_owned(),
            organizational_units: 0,
            suspended_every: 0,
            seed: 1,
            latency: LatencyModel::default(),
            quotas: Quotas::default(),
            failure_rate: 0.0,
            valid_tokens: None,
        }
    }
}

/// Counts of calls since the start or the last [`Sim::reset_metrics`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Calls per action name (`Unknown` for actions the simulation does not implement).
    pub calls: BTreeMap<&'static str, u64>,
    /// ECR and Secrets Manager calls.
    pub regional_calls: u64,
    /// Create*, Put*, Restore*, Update*, Delete* calls (throttled ones included).
    pub mutating_calls: u64,
    pub assume_role_calls: u64,
    /// Calls answered with a throttling error.
    pub throttled: u64,
    /// Calls answered with an injected HTTP 500.
    pub failed_injected: u64,
    pub total_calls: u64,
}

/// The simulated AWS. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

struct Inner {
    config: SimConfig,
    valid_tokens: Option<HashSet<String>>,
    rng: SimRng,
    /// Virtual time zero, and the wall clock (epoch seconds) it stands for.
    start: Instant,
    epoch_start: f64,
    state: Mutex<State>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim").finish_non_exhaustive()
    }
}

impl Sim {
    pub fn new(config: SimConfig) -> Sim {
        let management = config
            .management_account
            .parse::<u64>()
            .ok()
            .filter(|_| config.management_account.len() == 12)
            .expect("management_account is 12 digits");
        let org = Org {
            management,
            members: config.member_accounts,
            ous: config.organizational_units,
            suspended_every: config.suspended_every,
        };
        Sim {
            inner: Arc::new(Inner {
                valid_tokens: config
                    .valid_tokens
                    .as_ref()
                    .map(|v| v.iter().cloned().collect()),
                rng: SimRng::new(config.seed),
                start: Instant::now(),
                epoch_start: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0),
                state: Mutex::new(State::new(org, config.quotas.clone())),
                config,
            }),
        }
    }

    /// The configuration the simulation was made with (latency model, quotas...).
    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// The HTTP client to put in [`crate::clients::Overrides::http_client`].
    pub fn http_client(&self) -> SharedHttpClient {
        let connector = Connector(self.inner.clone());
        http_client_fn(move |_, _| SharedHttpConnector::new(connector.clone()))
    }

    /// Static keys of the caller, in the management account.
    pub fn credentials(&self) -> SharedCredentialsProvider {
        SharedCredentialsProvider::new(Credentials::new(
            CALLER_ACCESS_KEY,
            "simulated-caller-secret",
            None,
            None,
            "ptc-rollout-sim",
        ))
    }

    pub fn metrics(&self) -> Metrics {
        let c = self.lock().counters.clone();
        let mut m = Metrics {
            throttled: c.throttled,
            failed_injected: c.failed_injected,
            ..Metrics::default()
        };
        for api in Api::ALL {
            let n = c.calls[api as usize];
            if n == 0 {
                continue;
            }
            m.calls.insert(api.name(), n);
            m.total_calls += n;
            if api.is_regional() {
                m.regional_calls += n;
            }
            if api.is_mutating() {
                m.mutating_calls += n;
            }
            if api == Api::AssumeRole {
                m.assume_role_calls += n;
            }
        }
        m
    }

    pub fn reset_metrics(&self) {
        self.lock().counters = Default::default();
    }

    /// The management account's id.
    pub fn management_id(&self) -> String {
        format!("{:012}", self.lock().org.management)
    }

    /// The Organization's root id.
    pub fn root_id(&self) -> &'static str {
        ROOT_ID
    }

    pub fn member_ids(&self) -> Vec<String> {
        let n = self.lock().org.members as u64;
        (0..n)
            .map(|i| format!("{:012}", MEMBER_ID_BASE + i))
            .collect()
    }

    pub fn ou_ids(&self) -> Vec<String> {
        (0..self.lock().org.ous).map(Org::ou_id).collect()
    }

    /// Whether every ACTIVE account x `regions` holds exactly one live secret named
    /// `secret_name` and a rule for `prefix` whose credential is that secret. `Ok` with the
    /// number of targets checked; `Err` with the count of bad targets and the first few.
    pub fn check_converged(
        &self,
        regions: &[&str],
        prefix: &str,
        secret_name: &str,
    ) -> Result<usize, String> {
        let st = self.lock();
        let mut checked = 0;
        let mut bad = Vec::new();
        for i in 0..st.org.accounts() {
            if !st.org.is_active(i) {
                continue;
            }
            for region in regions {
                checked += 1;
                let id = st.org.account_id(i);
                let problem = check_target(&st, i as u32, region, prefix, secret_name);
                if let Some(p) = problem {
                    bad.push(format!("{id:012} {region}: {p}"));
                }
            }
        }
        if bad.is_empty() {
            Ok(checked)
        } else {
            let n = bad.len();
            bad.truncate(5);
            Err(format!(
                "{n} of {checked} targets not converged: {}",
                bad.join("; ")
            ))
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn check_target(
    st: &State,
    account: u32,
    region: &str,
    prefix: &str,
    name: &str,
) -> Option<String> {
    let Some(r) = st.regions.iter().position(|r| &**r == region) else {
        return Some("Region never called".into());
    };
    let Some(t) = st.targets.get(&(account, r as u8)) else {
        return Some("target never called".into());
    };
    let secrets: Vec<_> = t.secrets.iter().filter(|s| &*s.name == name).collect();
    let [secret] = secrets[..] else {
        return Some(format!("{} secrets named {name}", secrets.len()));
    };
    if secret.deleted != 0 {
        return Some("secret scheduled for deletion".into());
    }
    let Some(rule) = t.rules.iter().find(|r| &*r.prefix == prefix) else {
        return Some(format!("no rule for prefix {prefix}"));
    };
    match &rule.cred {
        Some(Cred { name: n, suffix }) if *n == secret.name && *suffix == secret.suffix => None,
        _ => Some("the rule's credential is not the secret".into()),
    }
}

#[cfg(test)]
mod tests;
