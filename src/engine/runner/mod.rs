//! The runner: every target of a pass concurrently, under one bound, each in its own task. It
//! takes targets as a stream, so work starts on the first account listed while the rest of the
//! Organization is still being listed. It enters each account once per run (one AssumeRole,
//! shared by all the account's Regions and by every pass) and sends an event as each target is
//! found, starts and ends. It never prints.
//!
//! Scheduling stops early for three reasons, each recorded on the rows it leaves behind: an
//! interrupt (in-flight targets get a short deadline, then end `interrupted`), too many
//! failures (`--max-failures`), or a failed canary. Targets never started end `not attempted`.
//!
//! Its parts: [`schedule`] (one pass's loop), [`waves`] (one pass per `[[waves]]` wave, and
//! the rule between waves), [`accounts`] (each account entered once), [`canary`] (the canary gate),
//! [`steps`] (what each pass does in one target, one file per pass), [`events`] (what it tells
//! the reporter).

mod accounts;
mod canary;
mod events;
mod schedule;
mod steps;
mod waves;

use std::sync::Arc;
use std::time::Duration;

use futures::stream::Stream;
use tokio::sync::{mpsc::UnboundedSender, watch};

use crate::aws::clients::Clients;
use crate::config::secrets::Tokens;
use crate::config::Rollout;
use crate::data::target::{CheckedAt, Outcome, Target, TargetResult};
use crate::data::waves::WaveEnd;
use crate::engine::credentials::Access;
use accounts::Accounts;
pub(crate) use canary::Gate;
pub use events::Event;
pub(crate) use steps::destroy::Removal;
pub(crate) use steps::probe::ProbeSpec;
use steps::validate::login_window::Logins;
use steps::{Cx, Step};

/// Targets in flight at once unless `--concurrency` says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 256;
/// Accounts being entered (AssumeRole) at once: at about 100 ms a call this stays near half of
/// the 600 per second STS allows the caller.
pub(crate) const ENTRY_CONCURRENCY: usize = 32;
/// How long in-flight targets may run on after an interrupt before they are abandoned.
pub(crate) const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// One pass over the targets: what it is called, what it does in one target (see
/// `steps`) and whether `--max-failures` stops it. Adding a pass is one variant here and
/// one per-target function.
#[derive(Debug, Clone)]
pub enum Pass {
    /// Read every target and decide what `apply` would do. No mutating call. With the token,
    /// also whether a managed secret that does not hold it needs it (see `steps/plan.rs`).
    Plan(Option<Arc<Tokens>>),
    /// Converge every target (planning it first unless planned), then validate its rule.
    Apply(Arc<Tokens>),
    /// Validate every rule; with a probe, then pull through each valid one.
    Validate(Option<ProbeSpec>),
    /// Pull one image through the cache in every target.
    Probe(ProbeSpec),
    /// Write the token as a new version of every managed secret (canary first), then validate.
    Rotate(Arc<Tokens>),
    /// Read what `destroy` would remove. No mutating call.
    PlanDestroy(Removal),
    /// Remove the managed rule, secret and pull access (planning first unless planned).
    Destroy(Removal),
    /// Inspect every target for the compliance report. Read-only. With the current registry
    /// token, also whether each secret holds it (by its version id; the value is not read).
    Inspect(Option<Arc<Tokens>>),
}

impl Pass {
    /// The progress bar's label.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Pass::Plan(_) | Pass::PlanDestroy(_) => "planning",
            Pass::Apply(_) => "applying",
            Pass::Validate(_) => "validating",
            Pass::Probe(_) => "pulling",
            Pass::Rotate(_) => "rotating",
            Pass::Destroy(_) => "destroying",
            Pass::Inspect(_) => "inspecting",
        }
    }

    /// Whether `--max-failures` stops this pass: plans and inspections read everything, so
    /// they always run to the end.
    fn stops_on_failures(&self) -> bool {
        !matches!(
            self,
            Pass::Plan(_) | Pass::PlanDestroy(_) | Pass::Inspect(_)
        )
    }
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
    /// `[[waves]]`: this wave ended with more failures than tolerated, so the later waves
    /// were not started (their rows name the wave).
    WaveFailed { wave: String, end: WaveEnd },
}

impl Stop {
    /// The reason written on every row this stop left unstarted.
    pub(crate) fn not_started(&self) -> String {
        match self {
            Stop::Interrupted => "not attempted: the run was interrupted".to_owned(),
            Stop::TooManyFailures { failed, allowed } => {
                format!("not attempted: {failed} targets failed, more than --max-failures {allowed}")
            }
            Stop::CanaryFailed { target, reason } => format!(
                "not attempted: the canary target {} {} failed ({reason}); nothing else was written",
                target.account_id, target.region
            ),
            Stop::WaveFailed { wave, end } => format!("not attempted: {}", end.why(wave)),
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
    pub(crate) fn allowed(self, targets: usize) -> usize {
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
    /// `plan`, `apply` (`--adopt-rules`): repoint a GitLab rule for the prefix that uses
    /// another team's secret to ptc-rollout's, instead of leaving it as a conflict.
    pub adopt_rules: bool,
}

/// One target of a pass, and what a plan saw and decided there, if it was planned.
#[derive(Debug, Clone)]
pub struct Job {
    pub(crate) target: Target,
    /// `None`: read and decide now, in the same pass (`apply --yes`, `destroy --yes`).
    pub(crate) planned: Option<Box<TargetResult>>,
    /// From a saved plan: re-read the target and refuse it if anything changed.
    pub(crate) recheck: bool,
}

impl Job {
    pub fn fresh(target: Target) -> Self {
        Self {
            target,
            planned: None,
            recheck: false,
        }
    }

    pub(crate) fn planned(planned: Box<TargetResult>, recheck: bool) -> Self {
        Self {
            target: planned.target.clone(),
            planned: Some(planned),
            recheck,
        }
    }

    /// The row for a job never started. A target the plan already found failed, conflicting
    /// or interrupted keeps that row.
    pub(crate) fn not_started(self, why: &str, now: CheckedAt) -> TargetResult {
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

/// Runs passes over targets; holds what is shared across passes of one run.
pub struct Runner {
    /// The accounts entered (once per run each), and the clients to enter them with.
    accounts: Accounts,
    rollout: Arc<Rollout>,
    /// Each upstream's view of the rollout (see [`Rollout::views`]), canary gate and login
    /// window: a target's work reads its upstream's. A wrong token of one upstream is stopped by
    /// that upstream's canary, and its failed logins close only its own window.
    upstreams: Vec<PerUpstream>,
    concurrency: usize,
    limits: Limits,
    /// Becomes `true` on interrupt.
    interrupt: watch::Receiver<bool>,
}

/// What the targets of one upstream share in a run.
struct PerUpstream {
    view: Rollout,
    /// The upstream's canary: its first target that writes its token.
    gate: Gate,
    /// Admits each validation (a login upstream): slow start, and the circuit breaker.
    logins: Logins,
}

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
        let upstreams = setup
            .rollout
            .views()
            .into_iter()
            .map(|view| PerUpstream {
                view,
                gate: Gate::new(setup.limits.canary),
                logins: Logins::new(setup.concurrency),
            })
            .collect();
        Arc::new(Runner {
            accounts: Accounts::new(setup.clients, setup.access, setup.rollout.upstreams.len()),
            upstreams,
            rollout: setup.rollout,
            concurrency: setup.concurrency.max(1),
            limits: setup.limits,
            interrupt: setup.interrupt,
        })
    }

    /// Runs `pass` over every job, at most `concurrency` at a time (see `schedule`).
    /// Returns why the pass stopped early, if it did; every job ends in one event.
    pub async fn run<S>(
        self: &Arc<Self>,
        pass: Pass,
        jobs: S,
        events: &UnboundedSender<Event>,
    ) -> Option<Stop>
    where
        S: Stream<Item = Job> + Send + Unpin,
    {
        self.run_pass(pass, jobs, events).await.stop
    }

    /// [`Runner::run`], with the pass's totals.
    async fn run_pass<S>(
        self: &Arc<Self>,
        pass: Pass,
        jobs: S,
        events: &UnboundedSender<Event>,
    ) -> schedule::Ended
    where
        S: Stream<Item = Job> + Send + Unpin,
    {
        let _ = events.send(Event::PassStarted {
            label: pass.label(),
        });
        self.accounts.new_pass();
        let max_failures = self
            .limits
            .max_failures
            .filter(|_| pass.stops_on_failures());
        let step = Arc::new(Step::new(pass, &self.rollout));
        schedule::Scheduler::new(self.clone(), step, events.clone(), max_failures)
            .run(jobs)
            .await
    }

    /// The canary's failure in this run, if it failed. A pass whose every target had started
    /// before the canary failed ends without a stop of its own; the run has stopped all the same.
    pub fn canary_failure(&self) -> Option<Stop> {
        self.gates().find_map(Gate::failure)
    }

    /// Every upstream's canary gate.
    fn gates(&self) -> impl Iterator<Item = &Gate> {
        self.upstreams.iter().map(|u| &u.gate)
    }

    /// The context of a step in one target of `upstream` (see [`steps`]).
    fn cx(&self, upstream: &str) -> Cx<'_> {
        let u = self
            .upstreams
            .iter()
            .find(|u| u.view.upstream.name == upstream)
            .unwrap_or(&self.upstreams[0]);
        Cx {
            accounts: &self.accounts,
            rollout: &u.view,
            limits: &self.limits,
            gate: &u.gate,
            logins: &u.logins,
        }
    }

    /// One target's work in a pass.
    async fn step(&self, step: &Step, job: Job) -> TargetResult {
        let upstream = job.target.upstream.clone();
        steps::run(&self.cx(&upstream), step, job).await
    }

    /// Enters the account once per run (later callers wait for the first).
    async fn enter(&self, account_id: &str) {
        let _ = self.accounts.enter(account_id).await;
    }

    fn is_entered(&self, account_id: &str) -> bool {
        self.accounts.is_entered(account_id)
    }

    /// Now, from the SDK's time source (virtual in simulations).
    pub(crate) fn now(&self) -> CheckedAt {
        self.accounts.now()
    }
}
