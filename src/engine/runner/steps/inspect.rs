//! The inspect pass in one target (`report`): a read-only look at the secret, the rule and the
//! registry policy for the compliance report, and a validation of a rule of the GitLab upstream.

use super::ending::end_with;
use super::validate::validate_guarded;
use super::{open, Cx};
use crate::config::secrets::GitlabToken;
use crate::data::target::{Observed, RuleState, SecretState, Target, TargetResult};
use crate::engine::resources;
use crate::engine::resources::secret::{self, SecretDetails};

/// Reads the target for the compliance report, and validates a rule of the GitLab upstream.
pub(super) async fn inspect_one(
    cx: &Cx<'_>,
    t: Target,
    current: Option<&GitlabToken>,
) -> TargetResult {
    let (r, c) = match open(cx, t).await {
        Ok(opened) => opened,
        Err(row) => return row,
    };
    let pull_access = async {
        match &cx.rollout.pull_access {
            Some(want) => resources::registry_policy::read_held(&c, &r.target, want)
                .await
                .map(Some),
            None => Ok(None),
        }
    };
    let read = futures::try_join!(
        secret::describe_secret(&c, &r.target, cx.rollout),
        resources::read_rule(&c, &r.target, cx.rollout),
        pull_access
    );
    let (secret, rule, pull_access) = match read {
        Ok(read) => read,
        Err(e) => return end_with(cx, r, e).await,
    };
    let ours = matches!(&rule, RuleState::Present { upstream_registry_url, .. } if upstream_registry_url == &cx.rollout.upstream.url);
    let validation = if ours {
        Some(validate_guarded(cx, &c, &r.target, None).await)
    } else {
        None
    };
    let secret_state = secret
        .as_ref()
        .map_or(SecretState::Absent, SecretDetails::state);
    let observed = Observed {
        secret: secret_state,
        rule,
        template: None,
        pull_access,
        secret_kms_key: secret.as_ref().and_then(|d| d.kms_key_id.clone()),
        custom_role: None,
    };
    let mut dates = secret
        .as_ref()
        .map(SecretDetails::dates)
        .unwrap_or_default();
    dates.holds_current = current.map(|token| {
        secret
            .as_ref()
            .is_some_and(|d| secret::holds(d, &r.target, cx.rollout, token))
    });
    TargetResult {
        observed: Some(observed),
        validation,
        secret_dates: Some(Box::new(dates)),
        ..r
    }
}
