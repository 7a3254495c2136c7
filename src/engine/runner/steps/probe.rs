//! The probe pass (`probe`, `validate --probe-image`): one pull of one image through the cache
//! in every target of the image's upstream, as the member role or as a role of each account
//! (`--as-role`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::ending::end_with;
use super::{open, Cx};
use crate::aws::clients::{Clients, Regional};
use crate::aws::registry::Registry;
use crate::config::Rollout;
use crate::data::target::{Target, TargetResult};
use crate::engine::pull::{self, Blame, PullSpec, Puller};

/// What to pull, as whom, and what the run knows of the registry token.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    /// The image of each upstream (by name) that is pulled from; a target of another upstream
    /// pulls nothing.
    pub(crate) pulls: BTreeMap<String, PullSpec>,
    /// A role name in each account to pull as, assumed from the member role.
    pub(crate) as_role: Option<String>,
    /// The registry token's GitLab access level, when GitLab was asked (for the blame of an
    /// upstream refusal in the rows of the token's upstream).
    pub(crate) token_level: Option<u64>,
}

/// A probe spec with the registry client that carries it out, shared by every target.
#[derive(Debug, Clone)]
pub(super) struct Prober {
    spec: Arc<ProbeSpec>,
    registry: Registry,
}

impl Prober {
    pub(super) fn new(spec: ProbeSpec, rollout: &Rollout) -> Self {
        Prober {
            spec: Arc::new(spec),
            registry: Registry::new(rollout.tuning.attempt_timeout),
        }
    }

    /// Whether the target's upstream has an image to pull.
    pub(super) fn pulls_in(&self, t: &Target) -> bool {
        self.spec.pulls.contains_key(&*t.upstream)
    }
}

/// Pulls the image through the cache in the target. Makes no AWS change, but a first pull
/// creates the cached repository and imports the image, as any pull would.
pub(super) async fn probe_one(cx: &Cx<'_>, t: Target, prober: &Prober) -> TargetResult {
    match open(cx, t).await {
        Ok((row, c)) => probe_into(cx, row, &c, prober).await,
        Err(row) => row,
    }
}

/// Pulls in one target and puts what was found on its row; a target of an upstream without
/// an image is left as it is.
pub(super) async fn probe_into(
    cx: &Cx<'_>,
    mut row: TargetResult,
    c: &Regional,
    prober: &Prober,
) -> TargetResult {
    let spec = &prober.spec;
    let Some(pull) = spec.pulls.get(&*row.target.upstream) else {
        return row;
    };
    let consumer = match &spec.as_role {
        None => None,
        Some(role) => match cx.accounts.enter_as(&row.target, role).await {
            Ok(config) => Some((
                Clients::regional(&config, &row.target.account_id, &row.target.region),
                cx.accounts
                    .access
                    .role_arn_named(&row.target.account_id, role),
            )),
            Err(e) => return end_with(cx, row, e).await,
        },
    };
    let puller = match &consumer {
        Some((regional, arn)) => Puller {
            ecr: &regional.ecr,
            role_arn: Some(arn.clone()),
        },
        None => Puller {
            ecr: &c.ecr,
            role_arn: None,
        },
    };
    // GitLab's answer about the token is about the token's upstream only.
    let token_rows = cx
        .rollout
        .token_upstream()
        .is_some_and(|u| u.name == cx.rollout.upstream.name);
    let blame = Blame {
        validated: row.validation.as_ref().is_some_and(|v| v.is_valid),
        token_level: spec.token_level.filter(|_| token_rows),
        as_role: spec.as_role.clone(),
    };
    let found = pull::probe(
        &c.ecr,
        puller,
        &row.target,
        cx.rollout,
        pull,
        &prober.registry,
        &blame,
    )
    .await;
    match found {
        Ok(pulled) => {
            row.probe = Some(Box::new(pulled.probe));
            row.error = pulled
                .unread
                .map(|e| format!("pulled, but the cached repository could not be read: {e}"));
            row.checked_at = cx.now();
            row
        }
        Err(e) => end_with(cx, row, e).await,
    }
}
