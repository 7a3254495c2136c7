//! The probe pass (`probe`, `validate --probe-image`): one pull of one image through the cache
//! in every target, as the member role or as a role of each account (`--as-role`).

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
    pub(crate) pull: PullSpec,
    /// A role name in each account to pull as, assumed from the member role.
    pub(crate) as_role: Option<String>,
    /// The registry token's GitLab access level, when GitLab was asked (for the blame of an
    /// upstream refusal).
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
}

/// Pulls the image through the cache in the target. Makes no AWS change, but a first pull
/// creates the cached repository and imports the image, as any pull would.
pub(super) async fn probe_one(cx: &Cx<'_>, t: Target, prober: &Prober) -> TargetResult {
    match open(cx, t).await {
        Ok((row, c)) => probe_into(cx, row, &c, prober).await,
        Err(row) => row,
    }
}

/// Pulls in one target and puts what was found on its row.
pub(super) async fn probe_into(
    cx: &Cx<'_>,
    mut row: TargetResult,
    c: &Regional,
    prober: &Prober,
) -> TargetResult {
    let spec = &prober.spec;
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
    let blame = Blame {
        validated: row.validation.as_ref().is_some_and(|v| v.is_valid),
        token_level: spec.token_level,
        as_role: spec.as_role.clone(),
    };
    let found = pull::probe(
        &c.ecr,
        puller,
        &row.target,
        cx.rollout,
        &spec.pull,
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
