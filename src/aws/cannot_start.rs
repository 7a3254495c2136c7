//! Why a run cannot start: the first AWS call (who am I) failed. A new user meets these first
//! (no credentials, a misspelt profile, an endpoint that is not there), so each is said in a
//! line or two with the fix, as the AWS CLI says it, and within seconds rather than after a
//! long series of retries.

use std::borrow::Cow;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::os_shim_internal::{Env, Fs};

/// Why the caller could not be identified.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("The config profile ({0}) could not be found\n  fix: name a profile of your AWS config files in AWS_PROFILE, or unset it")]
    NoSuchProfile(String),
    #[error("Unable to locate credentials. You can configure credentials by running `aws configure` or `aws sso login`")]
    NoCredentials,
    #[error("cannot load AWS credentials ({0})\n  fix: sign in again (`aws sso login`), or check the profile's credential settings")]
    CredentialsFailed(String),
    #[error("cannot reach {endpoint} ({cause})\n  fix: check the network, or AWS_ENDPOINT_URL and AWS_REGION")]
    Unreachable { endpoint: String, cause: String },
    #[error("AWS refused the credentials ({code}: {message})\n  fix: {fix}")]
    Refused {
        code: String,
        message: String,
        fix: &'static str,
    },
    #[error("cannot identify the AWS caller (sts:GetCallerIdentity): {0}")]
    Other(String),
}

/// The first call's budget: two attempts, 3 s to connect, 5 s an attempt, 12 s in all, so a
/// wrong endpoint is reported in seconds. Later calls keep the patient defaults.
pub(crate) fn first_call_overrides() -> aws_sdk_sts::config::Builder {
    aws_sdk_sts::config::Builder::default()
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(12))
                .build(),
        )
}

impl StartError {
    /// Reads a failed GetCallerIdentity. `endpoint` is where STS was asked.
    pub(crate) async fn from_sdk<E, R>(err: SdkError<E, R>, endpoint: &str) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        if let SdkError::ServiceError(service) = &err {
            let e = service.err();
            let code = e.code().unwrap_or("error").to_owned();
            let fix = match code.as_str() {
                "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
                    "the session has expired: sign in again (`aws sso login`, or new keys)"
                }
                "SignatureDoesNotMatch" => {
                    "the secret access key does not match the key id: check AWS_SECRET_ACCESS_KEY or the profile's keys"
                }
                _ => "check which credentials are in use (AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO)",
            };
            return StartError::Refused {
                message: e.message().unwrap_or("no message").to_owned(),
                code,
                fix,
            };
        }
        let chain = crate::aws::error::causes(&err);
        let lower = chain.to_ascii_lowercase();
        // The SDK reports a credentials provider's failure as a dispatch failure too: tell it
        // apart from the network before reading the words.
        match credentials_error(&err) {
            Some(CredentialsError::CredentialsNotLoaded(_)) => {
                if let Some(profile) = missing_profile().await {
                    return StartError::NoSuchProfile(profile);
                }
                return StartError::NoCredentials;
            }
            Some(e) => return StartError::CredentialsFailed(crate::aws::error::causes(e)),
            None => {}
        }
        let cause = if lower.contains("connection refused") {
            Some("connection refused")
        } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
            Some("DNS: the host name does not resolve")
        } else if lower.contains("certificate") || lower.contains("tls") {
            Some("TLS: the server's certificate is not trusted")
        } else if matches!(err, SdkError::TimeoutError(_))
            || lower.contains("timeout")
            || lower.contains("timed out")
        {
            Some("no answer in time")
        } else if matches!(err, SdkError::DispatchFailure(_)) {
            Some("the connection failed")
        } else {
            None
        };
        match cause {
            Some(cause) => StartError::Unreachable {
                endpoint: endpoint.to_owned(),
                cause: cause.to_owned(),
            },
            None => StartError::Other(chain),
        }
    }
}

/// The credentials provider's error in an error's chain, if one failed.
fn credentials_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a CredentialsError> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<CredentialsError>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// The profile AWS_PROFILE names when no AWS config file defines it.
async fn missing_profile() -> Option<String> {
    let env = Env::real();
    let named = env
        .get("AWS_PROFILE")
        .or_else(|_| env.get("AWS_DEFAULT_PROFILE"))
        .ok()
        .filter(|p| !p.is_empty())?;
    let set = aws_config::profile::load(
        &Fs::real(),
        &env,
        &EnvConfigFiles::default(),
        Some(Cow::Owned(named.clone())),
    )
    .await
    .ok();
    match set {
        Some(set) if set.get_profile(&named).is_some() => None,
        _ => Some(named),
    }
}
