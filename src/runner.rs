//! The runner: every target of a pass concurrently, under one bound, each in its own task. It
//! enters each account once per run (one AssumeRole, shared by all the account's Regions and by
//! every pass) and sends an event as each target starts and ends. It never prints.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_smithy_types::date_time::{DateTime, Format};
use futures::stream::StreamExt;
use tokio::sync::{mpsc::UnboundedSender, OnceCell};

use crate::clients::{Clients, Regional};
use crate::credentials::Access;
use crate::error::ApiError;
use crate::rollout::Rollout;
use crate::target::{Action, Decision, Outcome, Target, TargetResult};
use crate::token::GitlabToken;
use crate::work;

/// Targets in flight at once unless `--concurrency` says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// Which pass a run is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Plan,
    Apply,
    Validate,
}

impl Pass {
    pub fn label(self) -> &'static str {
        match self {
            Pass::Plan => "planning",
            Pass::Apply => "applying",
            Pass::Validate => "validating",
        }
    }
}

/// What the runner tells the reporter.
#[derive(Debug)]
pub enum Event {
    PassStarted { pass: Pass, total: usize },
    TargetStarted { target: Target },
    TargetFinished(Box<TargetResult>),
}

/// One target for `apply`: what the plan saw and decided there.
#[derive(Debug, Clone)]
pub struct ApplyJob {
    pub planned: TargetResult,
    /// From a saved plan: re-read the target and refuse it if anything changed.
    pub recheck: bool,
}

/// Runs passes over targets; holds what is shared across passes of one run.
pub struct Runner {
    clients: Clients,
    sts: aws_sdk_sts::Client,
    access: Access,
    rollout: Arc<Rollout>,
    concurrency: usize,
    /// One entry per account, filled on first use: the run's only AssumeRole into it.
    accounts: HashMap<String, Arc<OnceCell<Result<SdkConfig, ApiError>>>>,
}

impl Runner {
    pub fn new(
        clients: Clients,
        access: Access,
        rollout: Arc<Rollout>,
        concurrency: usize,
        targets: &[Target],
    ) -> Arc<Self> {
        let accounts = targets
            .iter()
            .map(|t| (t.account_id.clone(), Arc::default()))
            .collect();
        Arc::new(Runner {
            sts: clients.sts(),
            clients,
            access,
            rollout,
            concurrency: concurrency.max(1),
            accounts,
        })
    }

    /// Reads every target and decides what `apply` would do there. No mutating call.
    pub async fn plan(self: &Arc<Self>, targets: Vec<Target>, events: &UnboundedSender<Event>) {
        self.each(Pass::Plan, targets, events, |r, t| async move {
            r.plan_one(t).await
        })
        .await
    }

    /// Converges every planned target, then validates its rule.
    pub async fn apply(
        self: &Arc<Self>,
        jobs: Vec<ApplyJob>,
        token: GitlabToken,
        events: &UnboundedSender<Event>,
    ) {
        let token = Arc::new(token);
        self.each(Pass::Apply, jobs, events, move |r, job| {
            let token = token.clone();
            async move { r.apply_one(job, &token).await }
        })
        .await
    }

    /// Validates every target's rule. Read-only.
    pub async fn validate(self: &Arc<Self>, targets: Vec<Target>, events: &UnboundedSender<Event>) {
        self.each(Pass::Validate, targets, events, |r, t| async move {
            r.validate_one(t).await
        })
        .await
    }

    /// Runs `f` on every item, at most `concurrency` at a time, each in its own task so that
    /// signing and parsing spread over the cores. A panicking target becomes a failed row.
    async fn each<T, F, Fut>(
        self: &Arc<Self>,
        pass: Pass,
        items: Vec<T>,
        events: &UnboundedSender<Event>,
        f: F,
    ) where
        T: HasTarget + Send + 'static,
        F: Fn(Arc<Self>, T) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = TargetResult> + Send + 'static,
    {
        let _ = events.send(Event::PassStarted {
            pass,
            total: items.len(),
        });
        let mut results = futures::stream::iter(items)
            .map(|item| {
                let (runner, f, events) = (self.clone(), f.clone(), events.clone());
                let target = item.target().clone();
                let task = tokio::spawn(async move {
                    let _ = events.send(Event::TargetStarted {
                        target: item.target().clone(),
                    });
                    f(runner, item).await
                });
                async move { (target, task.await) }
            })
            .buffer_unordered(self.concurrency);
        while let Some((target, joined)) = results.next().await {
            let result = joined.unwrap_or_else(|e| {
                let mut r = TargetResult::new(target, Outcome::Failed, self.now());
                r.error = Some(format!("internal error: {e}"));
                r
            });
            let _ = events.send(Event::TargetFinished(Box::new(result)));
        }
    }

    async fn regional(&self, t: &Target) -> Result<Regional, ApiError> {
        let cell = self
            .accounts
            .get(&t.account_id)
            .cloned()
            .unwrap_or_default();
        let config = cell
            .get_or_init(|| self.access.enter(&self.clients, &self.sts, &t.account_id))
            .await
            .clone()?;
        Ok(Clients::regional(&config, &t.account_id, &t.region))
    }

    /// Now, from the SDK's time source (virtual in simulations), as RFC 3339.
    fn now(&self) -> String {
        let now = self
            .clients
            .base()
            .time_source()
            .map(|t| t.now())
            .unwrap_or_else(std::time::SystemTime::now);
        DateTime::from(now)
            .fmt(Format::DateTime)
            .unwrap_or_default()
    }

    async fn plan_one(&self, t: Target) -> TargetResult {
        let observed = match self.regional(&t).await {
            Ok(c) => work::observe(&c, &t, &self.rollout).await,
            Err(e) => Err(e),
        };
        let mut r = TargetResult::new(t, Outcome::Failed, self.now());
        match observed {
            Err(e) => r.error = Some(e.to_string()),
            Ok(o) => {
                let d = work::decide(&o, &self.rollout);
                r.outcome = match &d {
                    Decision::Conflict { reason } => {
                        r.error = Some(reason.clone());
                        Outcome::Conflict
                    }
                    Decision::Change { actions } if actions.is_empty() => Outcome::Unchanged,
                    Decision::Change { .. } => Outcome::Pending,
                };
                r.observed = Some(o);
                r.decision = Some(d);
            }
        }
        r
    }

    async fn apply_one(&self, job: ApplyJob, token: &GitlabToken) -> TargetResult {
        let mut r = job.planned;
        // A target the plan could not read, or a conflict, ends as the plan found it.
        let (Some(observed), Some(decision)) = (r.observed.clone(), r.decision.clone()) else {
            return r;
        };
        if matches!(decision, Decision::Conflict { .. }) {
            return r;
        }
        let c = match self.regional(&r.target).await {
            Ok(c) => c,
            Err(e) => return failed(r, e, self.now()),
        };
        if job.recheck {
            match work::observe(&c, &r.target, &self.rollout).await {
                Err(e) => return failed(r, e, self.now()),
                Ok(now) if now != observed => {
                    r.checked_at = self.now();
                    r.outcome = Outcome::Stale;
                    r.error = Some(
                        "changed since the plan was made; nothing was written (plan again)"
                            .to_owned(),
                    );
                    r.observed = Some(now);
                    return r;
                }
                Ok(_) => {}
            }
        }
        match work::converge(
            &c,
            &r.target,
            &self.rollout,
            &observed,
            decision.actions(),
            token,
        )
        .await
        {
            Ok((taken, after)) => {
                r.outcome = outcome_of(&taken);
                r.taken = taken;
                r.observed = Some(after);
            }
            Err((e, taken)) => {
                r.taken = taken;
                return failed(r, e, self.now());
            }
        }
        match work::validate(&c, &r.target, &self.rollout).await {
            Ok(v) => r.validation = Some(v),
            Err(e) => r.error = Some(e.to_string()),
        }
        r.checked_at = self.now();
        r
    }

    async fn validate_one(&self, t: Target) -> TargetResult {
        let validation = match self.regional(&t).await {
            Ok(c) => work::validate(&c, &t, &self.rollout).await,
            Err(e) => Err(e),
        };
        let mut r = TargetResult::new(t, Outcome::Unchanged, self.now());
        match validation {
            Ok(v) => r.validation = Some(v),
            Err(e) => {
                r.outcome = Outcome::Failed;
                r.error = Some(e.to_string());
            }
        }
        r
    }
}

fn failed(mut r: TargetResult, e: ApiError, now: String) -> TargetResult {
    r.outcome = Outcome::Failed;
    r.error = Some(e.to_string());
    r.checked_at = now;
    r
}

/// `created` when something new now exists, `updated` when only repairs were made.
fn outcome_of(taken: &[Action]) -> Outcome {
    if taken
        .iter()
        .any(|a| matches!(a, Action::CreateSecret | Action::CreateRule))
    {
        Outcome::Created
    } else if taken.is_empty() {
        Outcome::Unchanged
    } else {
        Outcome::Updated
    }
}

/// Work items name the target they are about, so a crashed task still yields its row.
pub trait HasTarget {
    fn target(&self) -> &Target;
}

impl HasTarget for Target {
    fn target(&self) -> &Target {
        self
    }
}

impl HasTarget for ApplyJob {
    fn target(&self) -> &Target {
        &self.planned.target
    }
}
