//! The AWS resources ptc-rollout manages in one target, one file per resource with every call on
//! it: [`secret`] (describe, create, restore, put a version, delete), [`rule`] (read, create,
//! point at the secret, validate, delete), [`template`] (the repository creation template),
//! [`registry_policy`] (the pull access statement), [`role`] (an ECR upstream's role). [`apply`]
//! is apply's logic over them, as GitLab's tutorial does it by hand: read, decide, create or
//! repair only what differs.

use crate::aws::error::ApiError;
use crate::config::secrets::GitlabToken;
use crate::config::Rollout;
use crate::data::target::Target;

/// The version id the token gets in this target's secret (see [`GitlabToken::version_id`]).
pub(crate) fn version_id(t: &Target, r: &Rollout, token: &GitlabToken) -> String {
    token.version_id(
        &format!("{}/{}/{}", t.account_id, t.region, r.secret_name()),
        r.username(),
    )
}

pub(crate) mod apply;
pub(crate) mod registry_policy;
pub(crate) mod role;
pub(crate) mod rule;
pub(crate) mod secret;
pub(crate) mod template;
pub use apply::{converge, decide, observe};
pub(crate) use apply::{observe_with_version, token_behind};
pub(crate) use rule::read_rule;
pub use rule::validate;

/// An AWS answer, or `None` when the service's error means "there is none" (`absent` says
/// which error that is: a rule, secret, policy or repository not found), or else the error for
/// this target and call. Every read and delete that treats "not found" as absence goes
/// through here.
pub(crate) fn unless_absent<T, E, R>(
    sent: Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>,
    absent: impl FnOnce(&E) -> bool,
    t: &Target,
    call: &'static str,
) -> Result<Option<T>, ApiError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match sent {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.as_service_error().is_some_and(absent) => Ok(None),
        Err(e) => Err(ApiError::from_sdk(&t.account_id, &t.region, call, e)),
    }
}
