//! The runner: every target of a pass concurrently, under one bound, each in its own task. It
//! takes targets as a stream, so work starts on the first account listed while the rest of the
//! Organization is still being listed. It enters each account once per run (one AssumeRole,
//! shared by all the account's Regions and by every pass) and sends an event as each target is
//! found, starts and ends. It never prints.
//!
//! Scheduling stops early for three reasons, each recorded on the rows it leaves behind: an
//! interrupt (in-flight targets get a short deadline, then end `interrupted`), too many
//! failures (`--max-failures`), or a failed canary. Targets never started end `not attempted`.

mod day_two;
mod gate;
mod passes;
mod probe;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use futures::stream::{Stream, StreamExt};
use tokio::sync::{mpsc::UnboundedSender, watch, OnceCell};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::clients::{Clients, Regional};
use crate::credentials::Access;
use crate::error::ApiError;
use crate::rollout::Rollout;
use crate::target::{CheckedAt, Outcome, Target, TargetResult};
use crate::token::GitlabToken;
pub use day_two::{decide_destroy, Removal};
pub use gate::Gate;
pub use probe::ProbeSpec;

/// Targets in flight at once unless `--concurrency` says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 256;
/// Accounts being entered (AssumeRole) at once: at about 100 ms a call this stays near half of
/// the 600 per second STS allows the caller.
pub const ENTRY_CONCURRENCY: usize = 32;
/// How long in-flight targets may run on after an interrupt before they are abandoned.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Which pass a run is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Plan,
    Apply,
    Validate,
    Probe,
}

impl Pass {
    pub fn label(self) -> &'static str {
        match self {
            Pass::Plan => "planning",
            Pass::Apply => "applying",
            Pass::Validate => "validating",
            Pass::Probe => "pulling",
        }
    }
}

/// What the runner tells the reporter.
#[derive(Debug)]
pub enum Event {
    PassStarted {
        pass: Pass,
    },
    /// A target joined the pass (the total grows while the Organization is listed).
    TargetFound,
    TargetStarted {
        target: Target,
    },
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

/// `--max-failures`: a count, or a percentage of the targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tolerance {
    Count(usize),
    Percent(u8),
}

impl Tolerance {
    /// The failures tolerated among `targets`.
    pub fn allowed(self, targets: usize) -> usize {
        match self {
            Tolerance::Count(n) => n,
            Tolerance::Percent(p) => targets * usize::from(p) / 100,
        }
    }
}

/// Limits on a run beyond the concurrency bound.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Stop scheduling once more targets than this have failed. A percentage applies to the
    /// whole matrix, so it is enforced once the Organization has been listed.
    pub max_failures: Option<Tolerance>,
    /// `apply`: the first target to write the token converges and validates before any other
    /// target writes anything.
    pub canary: bool,
}

/// One target for `apply`: what the plan saw and decided there, if it was planned.
#[derive(Debug, Clone)]
pub struct ApplyJob {
    pub target: Target,
    /// `None`: read and decide now, in the same pass (`apply --yes`).
    pub planned: Option<Box<TargetResult>>,
    /// From a saved plan: re-read the target and refuse it if anything changed.
    pub recheck: bool,
}

impl ApplyJob {
    pub fn fresh(target: Target) -> Self {
        Self {
            target,
            planned: None,
            recheck: false,
        }
    }

    pub fn planned(planned: Box<TargetResult>, recheck: bool) -> Self {
        Self {
            target: planned.target.clone(),
            planned: Some(planned),
            recheck,
        }
    }
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
    accounts: Mutex<HashMap<String, Arc<AccountCell>>>,
    /// `probe --as-role`: the role entered in each account, once per run.
    consumers: Mutex<HashMap<String, Arc<AccountCell>>>,
    /// Upstream authentication failures seen by validation (the circuit breaker's count).
    auth_failures: AtomicUsize,
    gate: Gate,
}

/// An account's configuration, or why it could not be entered, made once per run.
type AccountCell = OnceCell<Result<SdkConfig, ApiError>>;

/// Everything a runner is built from.
pub struct Setup {
    pub clients: Clients,
    pub access: Access,
    pub rollout: Arc<Rollout>,
    pub concurrency: usize,
    pub limits: Limits,
    pub interrupt: watch::Receiver<bool>,
}

impl Runner {
    pub fn new(setup: Setup) -> Arc<Self> {
        Arc::new(Runner {
            sts: setup.clients.sts(),
            gate: Gate::new(setup.limits.canary),
            clients: setup.clients,
            access: setup.access,
            rollout: setup.rollout,
            concurrency: setup.concurrency.max(1),
            limits: setup.limits,
            interrupt: setup.interrupt,
            accounts: Mutex::default(),
            consumers: Mutex::default(),
            auth_failures: AtomicUsize::new(0),
        })
    }

    /// Reads every target and decides what `apply` would do there. No mutating call.
    pub async fn plan<S>(
        self: &Arc<Self>,
        targets: S,
        events: &UnboundedSender<Event>,
    ) -> Option<Stop>
    where
        S: Stream<Item = Target> + Send + Unpin,
    {
        self.run(Pass::Plan, targets, events, None, |r, t| async move {
            r.plan_one(t).await
        })
        .await
    }

    /// Converges every target (planning it first unless planned), then validates its rule.
    pub async fn apply<S>(
        self: &Arc<Self>,
        jobs: S,
        token: GitlabToken,
        events: &UnboundedSender<Event>,
    ) -> Option<Stop>
    where
        S: Stream<Item = ApplyJob> + Send + Unpin,
    {
        let token = Arc::new(token);
        let work = move |r: Arc<Self>, job: ApplyJob| {
            let token = token.clone();
            async move { r.apply_one(job, &token).await }
        };
        self.run(Pass::Apply, jobs, events, self.limits.max_failures, work)
            .await
    }

    /// Validates every target's rule, then pulls through each valid one when `probe` is given.
    /// Read-only (but for the repository a first pull creates).
    pub async fn validate<S>(
        self: &Arc<Self>,
        targets: S,
        probe: Option<ProbeSpec>,
        events: &UnboundedSender<Event>,
    ) -> Option<Stop>
    where
        S: Stream<Item = Target> + Send + Unpin,
    {
        let max_failures = self.limits.max_failures;
        let prober = probe.map(|spec| probe::Prober::new(spec, self));
        let work = move |r: Arc<Self>, t: Target| {
            let prober = prober.clone();
            async move { r.validate_one(t, prober.as_ref()).await }
        };
        self.run(Pass::Validate, targets, events, max_failures, work)
            .await
    }

    /// Runs `f` on every item, at most `concurrency` at a time, each in its own task so that
    /// signing and parsing spread over the cores. Items are read from the stream as soon as
    /// they come, so the reporter knows the total while work goes on. An item whose account has
    /// not been entered yet waits, without a slot, while the account is entered (a few at a
    /// time): slots go only to targets that can start working at once.
    async fn run<T, S, F, Fut>(
        self: &Arc<Self>,
        pass: Pass,
        mut items: S,
        events: &UnboundedSender<Event>,
        max_failures: Option<Tolerance>,
        f: F,
    ) -> Option<Stop>
    where
        T: Work,
        S: Stream<Item = T> + Send + Unpin,
        F: Fn(Arc<Self>, T) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = TargetResult> + Send + 'static,
    {
        let _ = events.send(Event::PassStarted { pass });
        let mut queue: VecDeque<T> = VecDeque::new();
        let mut waiting: HashMap<String, Vec<T>> = HashMap::new();
        let mut to_enter: VecDeque<String> = VecDeque::new();
        let mut entering = JoinSet::new();
        let mut listing = true;
        let mut running = JoinSet::new();
        let mut in_flight: HashMap<tokio::task::Id, Target> = HashMap::new();
        let mut interrupt = self.interrupt.clone();
        let mut stop = interrupt.borrow().then_some(Stop::Interrupted);
        let mut watching = stop.is_none();
        let mut canary = self.gate.subscribe();
        let mut failures = 0;
        let mut found = 0;
        let drain = tokio::time::sleep(Duration::MAX / 4);
        tokio::pin!(drain);
        let mut draining = false;
        loop {
            while stop.is_none() && entering.len() < ENTRY_CONCURRENCY {
                let Some(account) = to_enter.pop_front() else {
                    break;
                };
                let runner = self.clone();
                entering.spawn(async move {
                    let _ = runner.enter(&account).await;
                    account
                });
            }
            while stop.is_none() && running.len() < self.concurrency {
                let Some(item) = queue.pop_front() else { break };
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
            if let Some(tolerance) = max_failures.filter(|_| stop.is_none()) {
                let known = !listing || matches!(tolerance, Tolerance::Count(_));
                let allowed = tolerance.allowed(found);
                if known && failures > allowed {
                    stop = Some(Stop::TooManyFailures {
                        failed: failures,
                        allowed,
                    });
                    continue;
                }
            }
            let idle = running.is_empty() && entering.is_empty();
            if !listing && idle && (stop.is_some() || (queue.is_empty() && waiting.is_empty())) {
                break;
            }
            tokio::select! {
                item = items.next(), if listing => match item {
                    Some(item) => {
                        found += 1;
                        let _ = events.send(Event::TargetFound);
                        let account = &item.target().account_id;
                        if self.is_entered(account) {
                            queue.push_back(item);
                        } else {
                            if !waiting.contains_key(account) {
                                to_enter.push_back(account.clone());
                            }
                            waiting.entry(account.clone()).or_default().push(item);
                        }
                    }
                    None => listing = false,
                },
                Some(entered) = entering.join_next() => {
                    if let Ok(account) = entered {
                        queue.extend(waiting.remove(&account).unwrap_or_default());
                    }
                },
                Some(joined) = running.join_next_with_id() => {
                    let result = match joined {
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
                    failures += usize::from(result.is_failure());
                    let _ = events.send(Event::TargetFinished(Box::new(result)));
                }
                changed = interrupt.changed(), if watching => {
                    if changed.is_err() {
                        watching = false;
                    } else if *interrupt.borrow() {
                        watching = false;
                        stop = Some(Stop::Interrupted);
                        draining = true;
                        drain.as_mut().reset(Instant::now() + DRAIN_DEADLINE);
                    }
                }
                failed = self.gate.failed(&mut canary), if stop.is_none() => {
                    stop = Some(failed);
                }
                () = &mut drain, if draining => {
                    // Past the deadline: abandon what is in flight, and the rest of the listing.
                    draining = false;
                    listing = false;
                    running.abort_all();
                    entering.abort_all();
                }
                else => break,
            }
        }
        if let Some(stop) = &stop {
            let why = stop.not_started();
            for item in queue.into_iter().chain(waiting.into_values().flatten()) {
                let _ = events.send(Event::TargetFinished(Box::new(
                    item.not_started(&why, self.now()),
                )));
            }
        }
        stop
    }

    fn cell(&self, account_id: &str) -> Arc<AccountCell> {
        let mut accounts = self.accounts.lock().expect("not poisoned");
        // Looked up for every target: allocate the key only for an account's first.
        if let Some(cell) = accounts.get(account_id) {
            return cell.clone();
        }
        accounts.entry(account_id.to_owned()).or_default().clone()
    }

    /// Enters the account once per run (later callers wait for the first).
    async fn enter(&self, account_id: &str) -> Result<SdkConfig, ApiError> {
        self.cell(account_id)
            .get_or_init(|| self.access.enter(&self.clients, &self.sts, account_id))
            .await
            .clone()
    }

    fn is_entered(&self, account_id: &str) -> bool {
        self.cell(account_id).initialized()
    }

    async fn regional(&self, t: &Target) -> Result<Regional, ApiError> {
        let config = self.enter(&t.account_id).await?;
        Ok(Clients::regional(&config, &t.account_id, &t.region))
    }

    /// Now, from the SDK's time source (virtual in simulations).
    fn now(&self) -> CheckedAt {
        let now = self
            .clients
            .base()
            .time_source()
            .map(|t| t.now())
            .unwrap_or_else(std::time::SystemTime::now);
        CheckedAt::from_system(now)
    }
}

/// A unit of work for one target.
pub trait Work: Send + 'static {
    fn target(&self) -> &Target;
    /// The row for this item when it was never started.
    fn not_started(self, why: &str, now: CheckedAt) -> TargetResult;
}

impl Work for Target {
    fn target(&self) -> &Target {
        self
    }

    fn not_started(self, why: &str, now: CheckedAt) -> TargetResult {
        let mut r = TargetResult::new(self, Outcome::NotAttempted, now);
        r.error = Some(why.to_owned());
        r
    }
}

impl Work for ApplyJob {
    fn target(&self) -> &Target {
        &self.target
    }

    /// A target the plan already found failed, conflicting or interrupted keeps that row.
    fn not_started(self, why: &str, now: CheckedAt) -> TargetResult {
        match self.planned {
            Some(r) if r.outcome.is_failure() => *r,
            planned => {
                let mut r = planned
                    .map(|p| *p)
                    .unwrap_or_else(|| TargetResult::new(self.target, Outcome::NotAttempted, now));
                r.outcome = Outcome::NotAttempted;
                r.error = Some(why.to_owned());
                r
            }
        }
    }
}
