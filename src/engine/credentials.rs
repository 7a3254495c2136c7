//! Reaching each account: the caller's own credentials for the account it is in (a real
//! management account has no OrganizationAccountAccessRole), one AssumeRole per member account
//! otherwise, shared by all its Regions and refreshed before it expires.

use std::sync::Mutex;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::provider::{
    error::CredentialsError, future, ProvideCredentials, SharedCredentialsProvider,
};
use aws_credential_types::Credentials;

use crate::aws::cannot_start::{first_call_overrides, StartError};
use crate::aws::clients::Clients;
use crate::aws::error::ApiError;
use crate::data::regions;

/// Who is running the rollout, from STS GetCallerIdentity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account_id: String,
    pub(crate) arn: String,
    /// ARN partition (`aws`, `aws-us-gov`, `aws-cn`) of the caller, and so of the member roles.
    pub partition: String,
}

impl Caller {
    /// Asks STS who the configured credentials belong to: the run's first AWS call, on a short
    /// retry budget, its failure said in words (see `StartError`). `endpoint` is where STS
    /// is asked, for that message.
    pub async fn identify(sts: &aws_sdk_sts::Client, endpoint: &str) -> Result<Self, StartError> {
        let out = match sts
            .get_caller_identity()
            .customize()
            .config_override(first_call_overrides())
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => return Err(StartError::from_sdk(e, endpoint).await),
        };
        let arn = out.arn().unwrap_or_default().to_owned();
        let partition = regions::arn_partition(&arn)
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
            .to_owned();
        Ok(Caller {
            account_id: out.account().unwrap_or_default().to_owned(),
            arn,
            partition,
        })
    }
}

impl Caller {
    /// Whether the caller is itself an assumed role's session (`arn:...:sts::...:assumed-role/...`):
    /// the roles it assumes are then chained.
    pub(crate) fn is_role_session(&self) -> bool {
        self.arn.contains(":assumed-role/")
    }
}

/// How member accounts are entered: role, session name, external ID, duration.
#[derive(Debug, Clone)]
pub struct Access {
    pub caller: Caller,
    pub role_name: String,
    pub external_id: Option<String>,
    pub duration: Duration,
    /// Recognisable in CloudTrail: `ptc-rollout-<unix seconds of the run>`.
    pub session_name: String,
}

impl Access {
    pub(crate) fn role_arn(&self, account_id: &str) -> String {
        self.role_arn_named(account_id, &self.role_name)
    }

    /// The ARN of the role `name` in an account of the caller's partition.
    pub(crate) fn role_arn_named(&self, account_id: &str, name: &str) -> String {
        regions::role_arn(&self.caller.partition, account_id, name)
    }

    /// The SDK configuration for one account. For a member account this makes the run's one
    /// AssumeRole into it now, so a refusal is reported once, for the account, before any of its
    /// Regions is touched.
    pub async fn enter(
        &self,
        clients: &Clients,
        sts: &aws_sdk_sts::Client,
        account_id: &str,
    ) -> Result<SdkConfig, ApiError> {
        if account_id == self.caller.account_id {
            return Ok(clients.for_caller());
        }
        let role = AssumedRole {
            sts: sts.clone(),
            account_id: account_id.to_owned(),
            role_arn: self.role_arn(account_id),
            session_name: self.session_name.clone(),
            external_id: self.external_id.clone(),
            duration: self.duration,
            first: Mutex::new(None),
        };
        let first = role.assume().await?;
        *role.first.lock().expect("not poisoned") = Some(first);
        Ok(clients.for_account(SharedCredentialsProvider::new(role)))
    }
}

/// AssumeRole allows at most one hour to a session made from another role's session (role
/// chaining), which is how a consumer role is entered from the member role.
pub(crate) const CHAINED_SESSION_LIMIT: Duration = Duration::from_secs(3600);

impl Access {
    /// The SDK configuration of another role in an account, assumed from that account's
    /// configuration (`probe --as-role`): the role a workload runs as, to test its pulls.
    pub(crate) async fn enter_as(
        &self,
        clients: &Clients,
        account: &SdkConfig,
        account_id: &str,
        role_name: &str,
    ) -> Result<SdkConfig, ApiError> {
        let role = AssumedRole {
            sts: aws_sdk_sts::Client::new(account),
            account_id: account_id.to_owned(),
            role_arn: self.role_arn_named(account_id, role_name),
            session_name: self.session_name.clone(),
            external_id: None,
            duration: self.duration.min(CHAINED_SESSION_LIMIT),
            first: Mutex::new(None),
        };
        let first = role.assume().await?;
        *role.first.lock().expect("not poisoned") = Some(first);
        Ok(clients.for_account(SharedCredentialsProvider::new(role)))
    }
}

/// A credentials provider for one member account. The per-account identity cache in front of it
/// calls it only when the cached credentials near expiry, and one caller at a time, so each
/// refresh costs exactly one AssumeRole.
#[derive(Debug)]
struct AssumedRole {
    sts: aws_sdk_sts::Client,
    account_id: String,
    role_arn: String,
    session_name: String,
    external_id: Option<String>,
    duration: Duration,
    /// The credentials from [`Access::enter`], handed out on the first call instead of
    /// assuming the role a second time.
    first: Mutex<Option<Credentials>>,
}

impl AssumedRole {
    async fn assume(&self) -> Result<Credentials, ApiError> {
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(&self.session_name)
            .set_external_id(self.external_id.clone())
            .duration_seconds(self.duration.as_secs() as i32)
            .send()
            .await
            .map_err(|e| {
                let mut err = ApiError::from_sdk(&self.account_id, "", "sts:AssumeRole", e);
                err.message = format!("cannot assume {}: {}", self.role_arn, err.message);
                err
            })?;
        let c = out.credentials().ok_or_else(|| {
            ApiError::new(
                &self.account_id,
                "",
                "sts:AssumeRole",
                "response had no credentials",
            )
        })?;
        let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            expiry,
            "ptc-rollout-assume-role",
        ))
    }
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            if let Some(first) = self.first.lock().expect("not poisoned").take() {
                return Ok(first);
            }
            self.assume()
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}

#[cfg(test)]
mod tests;
