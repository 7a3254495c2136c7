//! The rollout's secret in one target, every call on it: describe it (version, age, expiry tag),
//! create it, restore it, write a new token version, delete it.

use aws_sdk_secretsmanager::types::Tag;
use aws_smithy_async::rt::sleep::AsyncSleep;

use super::version_id;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError;

use crate::aws::clients::Regional;
use crate::aws::error::ApiError;
use crate::config::secrets::GitlabToken;
use crate::config::{Rollout, EXPIRY_TAG_KEY, MANAGED_TAG_KEY, MANAGED_TAG_VALUE};
use crate::data::target::{SecretDates, SecretState, Target};
use crate::engine::resources::unless_absent;

/// What DescribeSecret tells about the rollout's secret in a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretDetails {
    pub(crate) arn: String,
    pub(crate) managed: bool,
    pub(crate) pending_deletion: bool,
    /// The version labelled AWSCURRENT.
    pub(crate) current_version: Option<String>,
    /// LastChangedDate, Unix seconds.
    pub(crate) last_changed: Option<i64>,
    /// The `token-expires-on` tag.
    pub(crate) expires_on: Option<String>,
    /// The customer managed KMS key that encrypts the secret; `None` for the default
    /// `aws/secretsmanager` key, the only one ECR can read.
    pub(crate) kms_key_id: Option<String>,
}

impl SecretDetails {
    /// The dates the compliance report shows.
    pub(crate) fn dates(&self) -> SecretDates {
        SecretDates {
            last_changed: self.last_changed,
            expires_on: self.expires_on.clone(),
            holds_current: None,
        }
    }

    /// The state `plan` and `apply` decide from.
    pub(crate) fn state(&self) -> SecretState {
        let (arn, managed) = (self.arn.clone(), self.managed);
        if self.pending_deletion {
            SecretState::PendingDeletion { arn, managed }
        } else {
            SecretState::Present { arn, managed }
        }
    }
}

/// Reads the secret's details; `None` when there is no secret of that name, or when the
/// upstream takes none (no call is made then).
pub(crate) async fn describe_secret(
    c: &Regional,
    t: &Target,
    r: &Rollout,
) -> Result<Option<SecretDetails>, ApiError> {
    if r.secret().is_none() {
        return Ok(None);
    }
    let sent = c
        .secrets
        .describe_secret()
        .secret_id(r.secret_name())
        .send()
        .await;
    let not_found = |e: &DescribeSecretError| e.is_resource_not_found_exception();
    let Some(out) = unless_absent(sent, not_found, t, "secretsmanager:DescribeSecret")
        .map_err(|e| with_describe_hint(e, t, r))?
    else {
        return Ok(None);
    };
    let tag = |key: &str| {
        out.tags()
            .iter()
            .find(|tag| tag.key() == Some(key))
            .and_then(|tag| tag.value())
            .map(str::to_owned)
    };
    let current_version = out.version_ids_to_stages().and_then(|versions| {
        versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == CURRENT))
            .map(|(id, _)| id.clone())
    });
    Ok(Some(SecretDetails {
        arn: out.arn().unwrap_or_default().to_owned(),
        managed: tag(MANAGED_TAG_KEY).as_deref() == Some(MANAGED_TAG_VALUE),
        pending_deletion: out.deleted_date().is_some(),
        current_version,
        last_changed: out.last_changed_date().map(|d| d.secs()),
        expires_on: tag(EXPIRY_TAG_KEY),
        kms_key_id: customer_managed_key(c, t, out.kms_key_id()).await,
    }))
}

/// AccessDenied on DescribeSecret is, on a first run, most often a secret that does not exist
/// yet: Secrets Manager then checks the name alone, which a permission on the secret's ARN
/// with its suffix (`NAME-??????`) does not match. Say which permission covers it.
fn with_describe_hint(mut e: ApiError, t: &Target, r: &Rollout) -> ApiError {
    if e.code.as_deref() == Some("AccessDeniedException") {
        let resource = crate::outputs::iam_policy::describe_before_it_exists(
            r.secret_name(),
            crate::data::regions::partition(&t.region),
        );
        e.message = format!(
            "{}; where the secret does not exist yet, Secrets Manager answers this unless the role may describe it by name: allow secretsmanager:DescribeSecret on {resource} (statement DescribeSecretBeforeItExists of `ptc-rollout iam-policy`)",
            e.message
        );
    }
    e
}

/// The secret's key when it is a customer managed one, which ECR cannot use. AWS omits
/// KmsKeyId for the default `aws/secretsmanager` key, or names its alias, but a secret created
/// in the console shows that key's id: KMS DescribeKey tells an AWS managed key from the
/// customer's. A key that cannot be described is not taken for one: ECR's own error (with its
/// hint) says so later, where a wrong guess here would refuse a working secret.
async fn customer_managed_key(c: &Regional, t: &Target, key: Option<&str>) -> Option<String> {
    let key = key.filter(|k| !k.is_empty() && !k.ends_with("alias/aws/secretsmanager"))?;
    match c.kms().describe_key().key_id(key).send().await {
        Ok(out) => out
            .key_metadata()
            .and_then(|m| m.key_manager())
            .filter(|m| *m == &aws_sdk_kms::types::KeyManagerType::Customer)
            .map(|_| key.to_owned()),
        Err(e) => {
            let e = ApiError::from_sdk(&t.account_id, &t.region, "kms:DescribeKey", e);
            tracing::info!(error = %e, "cannot tell whether the secret's key is customer managed");
            None
        }
    }
}

/// Whether the secret already holds this token (its current version is the token's version
/// id) with the configured expiry tag: then rotation writes nothing.
pub(crate) fn holds(d: &SecretDetails, t: &Target, r: &Rollout, token: &GitlabToken) -> bool {
    d.current_version.as_deref() == Some(version_id(t, r, token).as_str())
        && (r.token_expires_on().is_none() || d.expires_on.as_deref() == r.token_expires_on())
}

/// Stores the token as the secret's current version (idempotent: the version id is derived
/// from the token) and tags its expiry date when the rollout file gives one.
///
/// A token the secret held before (rotating A, B, then A again) already has its version, and
/// PutSecretValue with that version's id and value succeeds and does nothing: AWSCURRENT stays
/// where it is. The answer's stages show it, and the stage is then moved to that version.
/// `current`: the version now labelled AWSCURRENT, when known.
pub(crate) async fn put_token(
    c: &Regional,
    t: &Target,
    r: &Rollout,
    arn: &str,
    token: &GitlabToken,
    current: Option<&str>,
) -> Result<(), ApiError> {
    let version = version_id(t, r, token);
    let out = c
        .secrets
        .put_secret_value()
        .secret_id(arn)
        .secret_string(token.secret_json(r.username()))
        .client_request_token(&version)
        .send()
        .await
        .map_err(|e| {
            ApiError::from_sdk(&t.account_id, &t.region, "secretsmanager:PutSecretValue", e)
        })?;
    if !out.version_stages().iter().any(|s| s == CURRENT) {
        make_current(c, t, r, arn, &version, current).await?;
    }
    if let Some(date) = r.token_expires_on() {
        c.secrets
            .tag_resource()
            .secret_id(arn)
            .tags(Tag::builder().key(EXPIRY_TAG_KEY).value(date).build())
            .send()
            .await
            .map_err(|e| {
                ApiError::from_sdk(&t.account_id, &t.region, "secretsmanager:TagResource", e)
            })?;
    }
    Ok(())
}

/// The stage of the version in use.
const CURRENT: &str = "AWSCURRENT";

/// Moves AWSCURRENT to `version` (AWSPREVIOUS follows to the version that held it).
async fn make_current(
    c: &Regional,
    t: &Target,
    r: &Rollout,
    arn: &str,
    version: &str,
    current: Option<&str>,
) -> Result<(), ApiError> {
    let current = match current {
        Some(v) => Some(v.to_owned()),
        None => describe_secret(c, t, r)
            .await?
            .and_then(|d| d.current_version),
    };
    if current.as_deref() == Some(version) {
        return Ok(());
    }
    c.secrets
        .update_secret_version_stage()
        .secret_id(arn)
        .version_stage(CURRENT)
        .move_to_version_id(version)
        .set_remove_from_version_id(current)
        .send()
        .await
        .map_err(|e| {
            ApiError::from_sdk(
                &t.account_id,
                &t.region,
                "secretsmanager:UpdateSecretVersionStage",
                e,
            )
        })?;
    Ok(())
}

/// Deletes the secret, through the recovery window unless `force`.
pub(crate) async fn delete_secret(
    c: &Regional,
    t: &Target,
    arn: &str,
    recovery_days: i64,
    force: bool,
) -> Result<(), ApiError> {
    let request = c.secrets.delete_secret().secret_id(arn);
    let request = if force {
        request.force_delete_without_recovery(true)
    } else {
        request.recovery_window_in_days(recovery_days)
    };
    request.send().await.map_err(|e| {
        ApiError::from_sdk(&t.account_id, &t.region, "secretsmanager:DeleteSecret", e)
    })?;
    Ok(())
}

/// How often, and how long apart, CreateSecret is tried again while a forced deletion of the
/// same name is still being carried out: about 30 s in all.
const NAME_RELEASE_WAITS: u32 = 10;
const NAME_RELEASE_PAUSE: std::time::Duration = std::time::Duration::from_secs(3);

pub(super) async fn create_secret(
    c: &Regional,
    t: &Target,
    r: &Rollout,
    token: &GitlabToken,
) -> Result<String, ApiError> {
    let tags = std::iter::once((MANAGED_TAG_KEY, MANAGED_TAG_VALUE))
        .chain(r.token_expires_on().map(|d| (EXPIRY_TAG_KEY, d)))
        .chain(r.tags().iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    // No KMS key: ECR can read only secrets under the default aws/secretsmanager key.
    let request = c
        .secrets
        .create_secret()
        .name(r.secret_name())
        .description(format!(
            "{} credentials for ECR pull through cache (managed by ptc-rollout)",
            r.upstream.kind.label
        ))
        .secret_string(token.secret_json(r.username()))
        .client_request_token(version_id(t, r, token))
        .set_tags(Some(tags));
    let mut waited = 0;
    let out = loop {
        match request.clone().send().await {
            Ok(out) => break out,
            // DescribeSecret found no secret, yet the name is taken: a forced deletion that
            // AWS is still carrying out (it deletes asynchronously). Wait for it to end.
            Err(e)
                if waited < NAME_RELEASE_WAITS
                    && e.as_service_error().is_some_and(|e| {
                        e.is_invalid_request_exception()
                            && e.meta()
                                .message()
                                .is_some_and(|m| m.contains("scheduled for deletion"))
                    }) =>
            {
                waited += 1;
                // The SDK's sleep: virtual in a simulation, as the SDK's own backoff is.
                match c.secrets.config().sleep_impl() {
                    Some(sleep) => sleep.sleep(NAME_RELEASE_PAUSE).await,
                    None => tokio::time::sleep(NAME_RELEASE_PAUSE).await,
                }
            }
            Err(e) => {
                return Err(ApiError::from_sdk(
                    &t.account_id,
                    &t.region,
                    "secretsmanager:CreateSecret",
                    e,
                ))
            }
        }
    };
    out.arn().map(str::to_owned).ok_or_else(|| {
        ApiError::new(
            &t.account_id,
            &t.region,
            "secretsmanager:CreateSecret",
            "response had no ARN",
        )
    })
}

/// RestoreSecret refused because the secret is going: its forced deletion is still being
/// carried out (DescribeSecret may show its DeletedDate meanwhile). Secrets Manager's model
/// lists InvalidRequestException ("not valid for the current state of the resource") and
/// ResourceNotFoundException for RestoreSecret; either means there is nothing to restore.
/// Matched by code alone: AWS documents no message for this case (RestoreSecret's reference
/// gives InvalidRequestException only generic causes), so other refusals fall through too,
/// and [`super::apply::converge`] keeps RestoreSecret's message should CreateSecret then fail.
pub(super) fn being_purged(e: &ApiError) -> bool {
    e.call == "secretsmanager:RestoreSecret"
        && matches!(
            e.code.as_deref(),
            Some("InvalidRequestException" | "ResourceNotFoundException")
        )
}

pub(super) async fn restore_secret(
    c: &Regional,
    t: &Target,
    arn: &str,
    r: &Rollout,
    token: &GitlabToken,
) -> Result<(), ApiError> {
    c.secrets
        .restore_secret()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            ApiError::from_sdk(&t.account_id, &t.region, "secretsmanager:RestoreSecret", e)
        })?;
    put_token(c, t, r, arn, token, None).await
}
