//! A simulated AWS for benchmarks and tests: Organizations, STS, Account Management
//! (GetRegionOptStatus), Secrets Manager and ECR pull through cache, answered in memory behind
//! the real SDK's HTTP layer. Plug [`Sim::http_client`] and [`Sim::credentials`] into
//! [`ptc_rollout::Overrides`] and the real code path runs unchanged (signing, retries,
//! timeouts, credential caches). A dev-dependency of ptc-rollout only: never in the binary.
//!
//! Each call sleeps a log-normal latency on tokio's clock (virtual under
//! `tokio::time::pause()`), then meets its quota's token bucket (throttled when empty), then an
//! optional injected HTTP 500, then the in-memory state. Service and action come from the
//! `X-Amz-Target` header (or STS's `Action=` form field, or Account Management's path); Region
//! and account from the SigV4 credential scope (`Credential=AKID/date/REGION/service/...`): the
//! caller's key is the management account, and AssumeRole hands out keys
//! `ASIA<account id>SIMK` that map back.
//!
//! What AWS documents and the simulation follows (ptc-rollout's `tests/e2e/conformance.rs`
//! checks the emulator answers alike):
//! - Every request is first checked against its operation's input shape in the service model
//!   (required members, lengths, patterns, enums, ranges), as AWS's front end does: the table
//!   `model_table.rs` is generated from botocore's models by `scripts/model-table.py` for the
//!   operations the simulation answers and the ECR template and registry policy calls the tool
//!   makes; the answers are the emulator's (`model_check.rs` says which code each service gives).
//! - Secrets keep their versions (up to 100; older ones without a staging label are dropped)
//!   and staging labels. PutSecretValue with the token of an existing version and its value
//!   succeeds and changes nothing; with another value it is refused (ResourceExistsException).
//!   UpdateSecretVersionStage moves a label, and AWSPREVIOUS follows AWSCURRENT. DescribeSecret
//!   shows `VersionIdsToStages` and `KmsKeyId` (for a customer managed key only);
//!   ListSecretVersionIds and GetSecretValue by VersionId or VersionStage work.
//! - Opt-in Regions ([`OPT_IN_REGIONS`]) are disabled in every account unless
//!   [`SimConfig::opt_in_enabled`] or [`Sim::set_region_opt`] enables them: ECR and Secrets
//!   Manager answer HTTP 400 `UnrecognizedClientException` there; GetRegionOptStatus says
//!   `DISABLED` (for the caller's account, or a member named by the management account).
//! - AssumeRole from a role session (role chaining) is capped at one hour, and at the role's
//!   MaxSessionDuration ([`SimConfig::max_session_duration`]) otherwise: `ValidationError`.
//! - ECR refuses a rule's secret that is missing from the rule's account and Region
//!   (`SecretNotFoundException`), scheduled for deletion (`UnableToAccessSecretException`) or
//!   under a customer managed key (`UnableToDecryptSecretValueException`); Validate answers
//!   `isValid=false` for it. A malformed `credentialArn` is a `ValidationException`.
//! - DeleteSecret with ForceDeleteWithoutRecovery purges a secret scheduled for deletion too,
//!   and succeeds for a secret that does not exist; the name stays taken for
//!   [`SimConfig::force_delete_delay`] (CreateSecret: InvalidRequestException); with
//!   [`SimConfig::force_delete_visible`] DescribeSecret still shows it meanwhile, with its
//!   DeletedDate, and RestoreSecret of it answers InvalidRequestException.
//! - [`SimConfig::describe_secret_by_arn_only`]: DescribeSecret of a secret that does not exist
//!   answers AccessDeniedException, as to a role allowed it only on `secret:NAME-??????`.
//! - ECR repository creation templates (Create, Update, Describe, Delete) as
//!   emulator/templates.py serves them: an update keeps the members it leaves out and clears a
//!   description, policy or customRoleArn sent as an empty string.
//!
//! Not modelled: session tokens from the global STS endpoint (valid only in Regions enabled by
//! default), STS and Organizations in disabled Regions, the ENABLING and DISABLING statuses,
//! per-role MaxSessionDuration, binary secrets, TagResource and the other Secrets Manager
//! operations, KMS itself (any key id is accepted), a rule's `customRoleArn` (accepted, not kept).
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
//! - A benchmark over opt-in Regions must enable them (`opt_in_enabled: vec![("*".into(),
//!   "*".into())]`), as a real Organization that uses them has.

mod account;
mod connector;
mod ecr;
mod model;
mod model_check;
#[rustfmt::skip] // generated by scripts/model-table.py
mod model_table;
mod org;
mod regions;
mod secrets;
mod state;
mod templates;
mod validation;
mod versions;
mod wire;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::{http_client_fn, SharedHttpClient, SharedHttpConnector};
use tokio::time::Instant;

pub use model::{Api, Latency, LatencyModel, Quota, Quotas, SimRng};
pub use regions::OPT_IN_REGIONS;

use connector::Connector;
use state::{Cred, Knobs, Org, State, MEMBER_ID_BASE, ROOT_ID};

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
    /// Opt-in Regions ([`OPT_IN_REGIONS`]) enabled, as (account id, Region) pairs, `"*"` for
    /// every account or every opt-in Region: `[("*", "*")]` enables them all everywhere. Every
    /// other opt-in Region is disabled, as on a new AWS account: ECR and Secrets Manager
    /// answer HTTP 400 `UnrecognizedClientException` there, and GetRegionOptStatus `DISABLED`.
    /// Later pairs win over earlier ones; [`Sim::set_region_opt`] changes them while running.
    pub opt_in_enabled: Vec<(String, String)>,
    /// Every role's MaxSessionDuration in seconds (AssumeRole above it is refused). Default
    /// 43,200.
    pub max_session_duration: u32,
    /// How long a secret's name stays taken after DeleteSecret with
    /// ForceDeleteWithoutRecovery (AWS deletes in the background): CreateSecret of the name
    /// answers InvalidRequestException meanwhile. Default zero.
    pub force_delete_delay: Duration,
    /// During the [`Self::force_delete_delay`], DescribeSecret still shows a force-deleted
    /// secret with its DeletedDate (AWS may, while it deletes), and RestoreSecret of it answers
    /// InvalidRequestException. Default false: it is not found at once.
    pub force_delete_visible: bool,
    /// Callers may describe a secret only through its ARN with the suffix (an IAM policy
    /// allowing DescribeSecret on `secret:NAME-??????` alone): DescribeSecret of a secret that
    /// does not exist answers AccessDeniedException rather than ResourceNotFoundException, as
    /// Secrets Manager does. Default false.
    pub describe_secret_by_arn_only: bool,
    /// The caller's keys stand for an assumed role's session (as in CI through OIDC or an SSO
    /// session) rather than a user: GetCallerIdentity says so, and AssumeRole from the caller
    /// is role chaining, capped at one hour.
    pub caller_assumed_role: bool,
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
            opt_in_enabled: Vec::new(),
            max_session_duration: 43_200,
            force_delete_delay: Duration::ZERO,
            force_delete_visible: false,
            describe_secret_by_arn_only: false,
            caller_assumed_role: false,
        }
    }
}

/// What [`Sim::set_fault`] does to an account's ECR and Secrets Manager calls, for tests of
/// what the tool does with a target that fails or never ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answered HTTP 400 AccessDeniedException (not retried by the SDK).
    Deny,
    /// Never answered: the call waits until the caller's own timeout, or forever.
    Hang,
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
        let knobs = Knobs {
            max_session_duration: config.max_session_duration.into(),
            force_delete_delay_nanos: nanos(config.force_delete_delay),
            force_delete_visible: config.force_delete_visible,
            describe_secret_by_arn_only: config.describe_secret_by_arn_only,
            caller_assumed_role: config.caller_assumed_role,
        };
        let mut state = State::new(org, config.quotas.clone(), knobs);
        for (account, region) in &config.opt_in_enabled {
            let (a, r) = opt_in_scope(&state, account, region);
            state.set_region_opt(a, r, true);
        }
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
                state: Mutex::new(state),
                config,
            }),
        }
    }

    /// The configuration the simulation was made with (latency model, quotas...).
    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// The HTTP client to put in [`ptc_rollout::Overrides::http_client`].
    pub fn http_client(&self) -> SharedHttpClient {
        let connector = self.http_connector();
        http_client_fn(move |_, _| connector.clone())
    }

    /// The connector behind [`Sim::http_client`], for a test that wraps it (to see the
    /// requests the SDK sends, say).
    pub fn http_connector(&self) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector(self.inner.clone()))
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

    /// Enables or disables an opt-in Region for an account (12 digits), `"*"` standing for
    /// every account or every opt-in Region; the latest setting that applies wins. Regions that
    /// are not opt-in are always enabled. Panics on an account outside the Organization.
    pub fn set_region_opt(&self, account: &str, region: &str, enabled: bool) {
        let mut st = self.lock();
        let (a, r) = opt_in_scope(&st, account, region);
        st.set_region_opt(a, r, enabled);
    }

    /// Changes every role's MaxSessionDuration (see [`SimConfig::max_session_duration`]).
    pub fn set_max_session_duration(&self, seconds: u32) {
        self.lock().knobs.max_session_duration = seconds.into();
    }

    /// Changes how long a force-deleted secret's name stays taken (see
    /// [`SimConfig::force_delete_delay`]).
    pub fn set_force_delete_delay(&self, delay: Duration) {
        self.lock().knobs.force_delete_delay_nanos = nanos(delay);
    }

    /// Makes every later ECR and Secrets Manager call in `account` (12 digits) fail or hang, or,
    /// with `None`, answer again. Panics on an account outside the Organization.
    pub fn set_fault(&self, account: &str, fault: Option<Fault>) {
        let mut st = self.lock();
        let a = account
            .parse::<u64>()
            .ok()
            .and_then(|id| st.account_index.get(&id).copied())
            .unwrap_or_else(|| {
                panic!("{account:?} is not an account of the simulated Organization")
            });
        match fault {
            Some(f) => st.faults.insert(a, f),
            None => st.faults.remove(&a),
        };
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

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

/// An opt-in setting's account index and Region, `None` for `"*"`.
fn opt_in_scope<'a>(st: &State, account: &str, region: &'a str) -> (Option<u32>, Option<&'a str>) {
    let a = (account != "*").then(|| {
        account
            .parse::<u64>()
            .ok()
            .and_then(|id| st.account_index.get(&id).copied())
            .unwrap_or_else(|| {
                panic!(
                    "opt-in setting for {account:?}, not an account of the simulated Organization"
                )
            })
    });
    (a, (region != "*").then_some(region))
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
