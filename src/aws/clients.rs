//! Every AWS client is built here, from one `SdkConfig` loaded through the standard aws-config
//! chain (environment, profiles, SSO, instance roles, `AWS_ENDPOINT_URL`). A test, or the
//! simulation in `sim/`, injects its own HTTP client, sleep and time source through
//! [`Overrides`] and so drives the real code path, SDK retries and timeouts included.

use crate::data::tuning::Tuning;
use std::time::Duration;

use aws_config::identity::IdentityCache;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_ecr::config::retry::{RetryPartition, TokenBucket};
use aws_sdk_ecr::operation::create_pull_through_cache_rule::CreatePullThroughCacheRuleError;
use aws_smithy_async::rt::sleep::SharedAsyncSleep;
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};

/// Region for the Organizations and STS calls when the environment names none: Organizations is
/// served from us-east-1 in the commercial partition whatever the Region.
const FALLBACK_REGION: &str = "us-east-1";

/// Parts of the SDK a test or simulation replaces. Anything left `None` comes from the
/// standard chain.
#[derive(Clone, Default, Debug)]
pub struct Overrides {
    pub http_client: Option<SharedHttpClient>,
    pub sleep: Option<SharedAsyncSleep>,
    pub time_source: Option<SharedTimeSource>,
    pub credentials: Option<SharedCredentialsProvider>,
    pub region: Option<String>,
    /// An endpoint for every service, as `AWS_ENDPOINT_URL` would give (tests in one process).
    pub endpoint_url: Option<String>,
}

/// The caller's SDK configuration, from which every client of a run is made.
#[derive(Clone, Debug)]
pub struct Clients {
    base: SdkConfig,
}

/// The two regional clients one target needs, and what makes the rarely needed others.
#[derive(Clone, Debug)]
pub struct Regional {
    pub ecr: aws_sdk_ecr::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// The account's configuration, for [`Regional::kms`].
    account: SdkConfig,
    /// The registry's pull through cache rules, read once for all the upstreams of this
    /// (account, Region) in a pass: set only on the clients the runner shares between them
    /// (without it, each read asks ECR).
    pub(crate) rules: Option<RuleBook>,
    /// Whether each role named so far exists in the account, read once per account and run
    /// (IAM is global: every Region's clients of the account share it). Set by the runner.
    pub(crate) roles: Option<RoleBook>,
}

/// Roles of one account, by name: whether each exists, read once when first asked.
pub(crate) type RoleBook = std::sync::Arc<
    std::sync::Mutex<
        std::collections::HashMap<String, std::sync::Arc<tokio::sync::OnceCell<bool>>>,
    >,
>;

/// Every rule of a registry (prefix and what it holds), read once when first asked.
pub(crate) type RuleBook =
    std::sync::Arc<tokio::sync::OnceCell<Vec<(String, crate::data::target::RuleState)>>>;

impl Regional {
    /// KMS in the target's account and Region, made when asked (only a secret under a key of
    /// its own needs it).
    pub fn kms(&self) -> aws_sdk_kms::Client {
        let mut config = aws_sdk_kms::config::Builder::from(&self.account);
        config.set_region(self.secrets.config().region().cloned());
        let config = config.build();
        aws_sdk_kms::Client::from_conf(config)
    }

    /// IAM in the target's account, made when asked (only an ECR upstream's role is read).
    /// IAM is global: given the target's Region, the SDK resolves its partition's one endpoint
    /// (`iam.amazonaws.com`, `iam.us-gov.amazonaws.com`, `iam.cn-north-1.amazonaws.com.cn`),
    /// on the account's HTTP client, sleep and credentials.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        let mut config = aws_sdk_iam::config::Builder::from(&self.account);
        config.set_region(self.secrets.config().region().cloned());
        aws_sdk_iam::Client::from_conf(config.build())
    }
}

impl Clients {
    /// Loads the standard AWS configuration chain, with the given overrides and tuning.
    pub async fn load(overrides: Overrides, tuning: &Tuning) -> Self {
        let region = match overrides.region {
            Some(r) => RegionProviderChain::first_try(Region::new(r)),
            None => RegionProviderChain::default_provider().or_else(FALLBACK_REGION),
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(tuning.max_attempts)
                    .with_initial_backoff(tuning.initial_backoff)
                    .with_max_backoff(tuning.max_backoff),
            )
            // The bodies here are a few hundred bytes, and the attempt timeout already bounds a
            // stalled request; the throughput monitor would only add timers to every call.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(tuning.connect_timeout)
                    .operation_attempt_timeout(tuning.attempt_timeout)
                    .operation_timeout(tuning.operation_timeout)
                    .build(),
            );
        if let Some(h) = overrides.http_client {
            loader = loader.http_client(h);
        }
        if let Some(s) = overrides.sleep {
            loader = loader.sleep_impl(s);
        }
        if let Some(t) = overrides.time_source {
            loader = loader.time_source(t);
        }
        if let Some(c) = overrides.credentials {
            loader = loader.credentials_provider(c);
        }
        if let Some(url) = overrides.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        Self {
            base: loader.load().await,
        }
    }

    /// The underlying configuration (for the time source and sleep of a run).
    pub(crate) fn base(&self) -> &SdkConfig {
        &self.base
    }

    pub fn organizations(&self) -> aws_sdk_organizations::Client {
        aws_sdk_organizations::Client::new(&self.base)
    }

    /// STS at a regional endpoint: session tokens from the global endpoint (which the SDK uses
    /// for the pseudo-Region `aws-global`) are valid only in Regions enabled by default, so
    /// member credentials from it would fail in enabled opt-in Regions.
    pub fn sts(&self) -> aws_sdk_sts::Client {
        if self
            .base
            .region()
            .is_some_and(|r| r.as_ref() == "aws-global")
        {
            let config = aws_sdk_sts::config::Builder::from(&self.base)
                .region(Region::new(FALLBACK_REGION))
                .build();
            return aws_sdk_sts::Client::from_conf(config);
        }
        aws_sdk_sts::Client::new(&self.base)
    }

    /// Where STS is asked: the endpoint override, else the regional endpoint (for messages).
    pub(crate) fn sts_endpoint(&self) -> String {
        self.base.endpoint_url().map_or_else(
            || {
                let region = self.base.region().map_or(FALLBACK_REGION, |r| r.as_ref());
                format!("https://sts.{region}.amazonaws.com")
            },
            str::to_owned,
        )
    }

    /// Account Management, with an account's configuration (GetRegionOptStatus answers for the
    /// account whose credentials ask).
    pub fn account(config: &SdkConfig) -> aws_sdk_account::Client {
        aws_sdk_account::Client::new(config)
    }

    /// Configuration for one member account. Each account gets its own identity cache: the
    /// SDK's shared lazy cache keeps 64 partitions and would evict accounts and re-assume roles.
    pub fn for_account(&self, credentials: SharedCredentialsProvider) -> SdkConfig {
        let cache = IdentityCache::lazy()
            // Refresh well before expiry so no call is signed with credentials about to lapse.
            .buffer_time(Duration::from_secs(300))
            // An AssumeRole may sit in retries under throttling; the 5 s default would fail it.
            .load_timeout(Duration::from_secs(120))
            .build();
        self.base
            .to_builder()
            .credentials_provider(credentials)
            .identity_cache(cache)
            .build()
    }

    /// The caller's own configuration, used for the account the caller is in.
    pub fn for_caller(&self) -> SdkConfig {
        self.base.clone()
    }

    /// Regional clients for one target. The (account, Region) gets its own retry partition,
    /// shared by its two clients: the default partition is per service and Region and shared
    /// by every account, so throttling in a few accounts would drain the retry tokens of all
    /// the others. The partition carries its own token bucket, freed with the clients, rather
    /// than one kept for the whole run in the SDK's global map (200,000 of them at 100,000
    /// targets).
    pub fn regional(account: &SdkConfig, account_id: &str, region: &str) -> Regional {
        let partition = RetryPartition::custom(format!("{account_id}-{region}"))
            .token_bucket(TokenBucket::default())
            .build();
        let ecr = aws_sdk_ecr::config::Builder::from(account)
            .region(Region::new(region.to_owned()))
            .retry_partition(partition.clone())
            .retry_classifier(RuleCapIsPermanent)
            .build();
        let secrets = aws_sdk_secretsmanager::config::Builder::from(account)
            .region(Region::new(region.to_owned()))
            .retry_partition(partition)
            .build();
        Regional {
            rules: None,
            roles: None,
            ecr: aws_sdk_ecr::Client::from_conf(ecr),
            secrets: aws_sdk_secretsmanager::Client::from_conf(secrets),
            // Kept as given (a clone of shared parts), so a target that never needs KMS pays
            // nothing more.
            account: account.clone(),
        }
    }
}

/// CreatePullThroughCacheRule answers LimitExceededException when the Region already holds 50
/// rules, a quota that cannot be raised; the SDK counts that code as throttling and would retry
/// it. This classifier forbids the retry so the target fails at once.
#[derive(Debug)]
struct RuleCapIsPermanent;

impl ClassifyRetry for RuleCapIsPermanent {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(err)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        match err
            .as_operation_error()
            .and_then(|e| e.downcast_ref::<CreatePullThroughCacheRuleError>())
        {
            Some(e) if e.is_limit_exceeded_exception() => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "RuleCapIsPermanent"
    }
}

#[cfg(test)]
mod tests;
