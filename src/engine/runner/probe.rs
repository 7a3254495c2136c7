//! The probe pass (`probe`, `validate --probe-image`): one pull of one image through the cache
//! in every target, as the member role or as a role of each account (`--as-role`).

use std::sync::Arc;

use super::{AccountCell, Runner};
use crate::aws::clients::{Clients, Regional};
use crate::aws::error::ApiError;
use crate::aws::registry::Registry;
use crate::data::target::{Target, TargetResult};
use crate::engine::pull::{self, Blame, PullSpec, Puller};
use aws_config::SdkConfig;

/// What to pull, as whom, and what the run knows of the registry token.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    pub pull: PullSpec,
    /// A role name in each account to pull as, assumed from the member role.
    pub as_role: Option<String>,
    /// The registry token's GitLab access level, when GitLab was asked (for the blame of an
    /// upstream refusal).
    pub token_level: Option<u64>,
}

/// A probe spec with the registry client that carries it out, shared by every target.
#[derive(Debug, Clone)]
pub(super) struct Prober {
    spec: Arc<ProbeSpec>,
    registry: Registry,
}

impl Prober {
    pub(super) fn new(spec: ProbeSpec, runner: &Runner) -> Self {
        Prober {
            spec: Arc::new(spec),
            registry: Registry::new(runner.rollout.tuning.attempt_timeout),
        }
    }
}

impl Runner {
    /// Pulls the image through the cache in the target. Makes no AWS change, but a first pull
    /// creates the cached repository and imports the image, as any pull would.
    pub(super) async fn probe_one(&self, t: Target, prober: &Prober) -> TargetResult {
        match self.open(t).await {
            Ok((row, c)) => self.probe_into(row, &c, prober).await,
            Err(row) => row,
        }
    }

    /// Pulls in one target and puts what was found on its row.
    pub(super) async fn probe_into(
        &self,
        mut row: TargetResult,
        c: &Regional,
        prober: &Prober,
    ) -> TargetResult {
        let spec = &prober.spec;
        let consumer = match &spec.as_role {
            None => None,
            Some(role) => match self.enter_as(&row.target, role).await {
                Ok(config) => Some((
                    Clients::regional(&config, &row.target.account_id, &row.target.region),
                    self.access.role_arn_named(&row.target.account_id, role),
                )),
                Err(e) => return self.end_with(row, e).await,
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
            &self.rollout,
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
                row.checked_at = self.now();
                row
            }
            Err(e) => self.end_with(row, e).await,
        }
    }

    /// Enters `role` in the target's account, once per account and run, from the member role.
    async fn enter_as(&self, t: &Target, role: &str) -> Result<SdkConfig, ApiError> {
        let config = self.enter(&t.account_id).await?;
        let cell: Arc<AccountCell> = self
            .consumers
            .lock()
            .expect("not poisoned")
            .entry(t.account_id.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| {
            self.access
                .enter_as(&self.clients, &config, &t.account_id, role)
        })
        .await
        .clone()
    }
}
