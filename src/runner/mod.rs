//! The runner: every target of a pass concurrently, under one bound, each in its own task. It
//! enters each account once per run (one AssumeRole, shared by all the account's Regions and by
//! every pass) and sends an event as each target starts and ends. It never prints.
//!
//! Scheduling stops early for three reasons, each recorded on the rows it leaves behind: an
//! interrupt (in-flight targets get a short deadline, then end `interrupted`), too many
//! failures (`--max-failures`), or a failed canary. Targets never started end `not attempted`.

mod passes;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_types::date_time::{DateTime, Format};
use tokio::sync::{mpsc::UnboundedSender, watch, OnceCell};
use tokio::task::JoinSet;

use crate::clients::{Clients, Regional};
use crate::credentials::Access;
use crate::error::ApiError;
use crate::rollout::Rollout;
use crate::target::{Outcome, Target, TargetResult};
use crate::token::GitlabToken;

/// Targets in flight at once unless `--concurrency` says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 64;
/// How long in-flight targets may run on after an interrupt before they are abandoned.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

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

/// Why a pass stopped scheduling before its last target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Ctrl-C (or the injected shutdown signal).
    Interrupted,
    /// More targets failed than `--max-failures` allows.
    TooManyFailures { failed: usize, allowed: usize },
    /// The canary target failed; nothing was written anywhere else.
    CanaryFailed { target: Target, reason: String },
}

impl Stop {
    /// The reason written on every row this stop left unstarted.
    fn not_started(&self) -> String {
        match self {
            Stop::Interrupted => "not attempted: the run was interrupted".to_owned(),
            Stop::TooManyFailures { failed, allowed } => {
                format!("not attempted: {failed} targets failed, more than --max-failures {allowed}")
            }
            Stop::CanaryFailed { target, reason } => format!(
                "not attempted: the canary target {} {} failed ({reason}); nothing else was written",
                target.account_id, target.region
            ),
        }
    }
}

/// How a batch of work ended.
struct RunEnd {
    stop: Option<Stop>,
    /// The failure text of the first target that failed, if any did.
    first_failure: Option<String>,
}

/// Limits on a run beyond the concurrency bound.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Stop scheduling once more than this many targets have failed.
    pub max_failures: Option<usize>,
    /// `apply`: converge and validate one target before all the others.
    pub canary: bool,
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
    limits: Limits,
    /// Becomes `true` on interrupt.
    interrupt: watch::Receiver<bool>,
    /// One entry per account, filled on first use: the run's only AssumeRole into it.
    accounts: HashMap<String, Arc<OnceCell<Result<SdkConfig, ApiError>>>>,
    /// Upstream authentication failures seen by validation (the circuit breaker's count).
    auth_failures: AtomicUsize,
}

/// Everything a runner is built from, besides the targets.
pub struct Setup {
    pub clients: Clients,
    pub access: Access,
    pub rollout: Arc<Rollout>,
    pub concurrency: usize,
    pub limits: Limits,
    pub interrupt: watch::Receiver<bool>,
}

impl Runner {
    pub fn new(setup: Setup, targets: &[Target]) -> Arc<Self> {
        let accounts = targets
            .iter()
            .map(|t| (t.account_id.clone(), Arc::default()))
            .collect();
        Arc::new(Runner {
            sts: setup.clients.sts(),
            clients: setup.clients,
            access: setup.access,
            rollout: setup.rollout,
            concurrency: setup.concurrency.max(1),
            limits: setup.limits,
            interrupt: setup.interrupt,
            accounts,
            auth_failures: AtomicUsize::new(0),
        })
    }

    /// Reads every target and decides what `apply` would do there. No mutating call.
    pub async fn plan(
        self: &Arc<Self>,
        targets: Vec<Target>,
        events: &UnboundedSender<Event>,
    ) -> Option<Stop> {
        let _ = events.send(Event::PassStarted {
            pass: Pass::Plan,
            total: targets.len(),
        });
        self.each(
            targets,
            events,
            None,
            |r, t| async move { r.plan_one(t).await },
        )
        .await
    }

    /// Converges every planned target, then validates its rule. With a canary, one target that
    /// writes the token goes first, alone, and the run stops if it does not end valid.
    pub async fn apply(
        self: &Arc<Self>,
        mut jobs: Vec<ApplyJob>,
        token: GitlabToken,
        events: &UnboundedSender<Event>,
    ) -> Option<Stop> {
        let _ = events.send(Event::PassStarted {
            pass: Pass::Apply,
            total: jobs.len(),
        });
        let token = Arc::new(token);
        let work = move |r: Arc<Self>, job: ApplyJob| {
            let token = token.clone();
            async move { r.apply_one(job, &token).await }
        };
        if self.limits.canary {
            if let Some(i) = passes::canary(&jobs) {
                let canary = jobs.remove(i);
                let target = canary.planned.target.clone();
                let end = self.run(vec![canary], events, None, work.clone()).await;
                let stop = end.stop.or_else(|| {
                    end.first_failure
                        .map(|reason| Stop::CanaryFailed { target, reason })
                });
                if let Some(stop) = stop {
                    self.not_started(jobs, &stop, events);
                    return Some(stop);
                }
            }
        }
        self.each(jobs, events, self.limits.max_failures, work)
            .await
    }

    /// Validates every target's rule. Read-only.
    pub async fn validate(
        self: &Arc<Self>,
        targets: Vec<Target>,
        events: &UnboundedSender<Event>,
    ) -> Option<Stop> {
        let _ = events.send(Event::PassStarted {
            pass: Pass::Validate,
            total: targets.len(),
        });
        self.each(
            targets,
            events,
            self.limits.max_failures,
            |r, t| async move { r.validate_one(t).await },
        )
        .await
    }

    async fn each<T, F, Fut>(
        self: &Arc<Self>,
        items: Vec<T>,
        events: &UnboundedSender<Event>,
        max_failures: Option<usize>,
        f: F,
    ) -> Option<Stop>
    where
        T: Work,
        F: Fn(Arc<Self>, T) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = TargetResult> + Send + 'static,
    {
        self.run(items, events, max_failures, f).await.stop
    }

    /// Runs `f` on every item, at most `concurrency` at a time, each in its own task so that
    /// signing and parsing spread over the cores.
    async fn run<T, F, Fut>(
        self: &Arc<Self>,
        items: Vec<T>,
        events: &UnboundedSender<Event>,
        max_failures: Option<usize>,
        f: F,
    ) -> RunEnd
    where
        T: Work,
        F: Fn(Arc<Self>, T) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = TargetResult> + Send + 'static,
    {
        let mut queue = items.into_iter();
        let mut running = JoinSet::new();
        let mut in_flight: HashMap<tokio::task::Id, Target> = HashMap::new();
        let mut interrupt = self.interrupt.clone();
        let mut stop = interrupt.borrow().then_some(Stop::Interrupted);
        let mut watching = stop.is_none();
        let mut failures = 0;
        let mut first_failure = None;
        let drain = tokio::time::sleep(Duration::MAX / 4);
        tokio::pin!(drain);
        let mut draining = false;
        loop {
            while stop.is_none() && running.len() < self.concurrency {
                let Some(item) = queue.next() else { break };
                let target = item.target().clone();
                let (runner, f, events) = (self.clone(), f.clone(), events.clone());
                let handle = running.spawn(async move {
                    let _ = events.send(Event::TargetStarted {
                        target: item.target().clone(),
                    });
                    f(runner, item).await
                });
                in_flight.insert(handle.id(), target);
            }
            if running.is_empty() {
                break;
            }
            tokio::select! {
                joined = running.join_next_with_id() => {
                    let result = match joined.expect("running is not empty") {
                        Ok((id, result)) => {
                            in_flight.remove(&id);
                            result
                        }
                        Err(e) => {
                            let target = in_flight.remove(&e.id()).expect("every task is tracked");
                            let (outcome, why) = if e.is_cancelled() {
                                (Outcome::Interrupted, "interrupted while in flight; re-run to converge".to_owned())
                            } else {
                                (Outcome::Failed, format!("internal error: {e}"))
                            };
                            let mut r = TargetResult::new(target, outcome, self.now());
                            r.error = Some(why);
                            r
                        }
                    };
                    if result.is_failure() {
                        failures += 1;
                        first_failure.get_or_insert_with(|| result.failure().unwrap_or_default());
                        if let Some(allowed) = max_failures.filter(|&m| failures > m && stop.is_none()) {
                            stop = Some(Stop::TooManyFailures { failed: failures, allowed });
                        }
                    }
                    let _ = events.send(Event::TargetFinished(Box::new(result)));
                }
                changed = interrupt.changed(), if watching => {
                    if changed.is_err() {
                        watching = false;
                    } else if *interrupt.borrow() {
                        watching = false;
                        stop = Some(Stop::Interrupted);
                        draining = true;
                        drain.as_mut().reset(tokio::time::Instant::now() + DRAIN_DEADLINE);
                    }
                }
                () = &mut drain, if draining => {
                    draining = false;
                    running.abort_all();
                }
            }
        }
        if let Some(stop) = &stop {
            self.not_started(queue.collect(), stop, events);
        }
        RunEnd {
            stop,
            first_failure,
        }
    }

    /// Ends every item that was never started with a row that says why.
    fn not_started<T: Work>(&self, items: Vec<T>, stop: &Stop, events: &UnboundedSender<Event>) {
        let why = stop.not_started();
        for item in items {
            let _ = events.send(Event::TargetFinished(Box::new(
                item.not_started(&why, self.now()),
            )));
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
}

/// A unit of work for one target.
pub trait Work: Send + 'static {
    fn target(&self) -> &Target;
    /// The row for this item when it was never started.
    fn not_started(self, why: &str, now: String) -> TargetResult;
}

impl Work for Target {
    fn target(&self) -> &Target {
        self
    }

    fn not_started(self, why: &str, now: String) -> TargetResult {
        let mut r = TargetResult::new(self, Outcome::NotAttempted, now);
        r.error = Some(why.to_owned());
        r
    }
}

impl Work for ApplyJob {
    fn target(&self) -> &Target {
        &self.planned.target
    }

    /// A target the plan already found failed, conflicting or interrupted keeps that row.
    fn not_started(self, why: &str, _now: String) -> TargetResult {
        let mut r = self.planned;
        if !r.outcome.is_failure() {
            r.outcome = Outcome::NotAttempted;
            r.error = Some(why.to_owned());
        }
        r
    }
}
