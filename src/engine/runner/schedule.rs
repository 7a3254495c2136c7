//! The scheduler of one pass: jobs come in from a stream (the Organization is still being
//! listed), wait while their account is entered, then run in a slot. Its loop reacts to five
//! things, each a named step: a job found, an account entered, a target finished, an
//! interrupt, and a failed canary.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{Stream, StreamExt};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;
use tokio::task::{Id, JoinError, JoinSet};
use tokio::time::Instant;

use super::canary::{Gate, State};
use super::{Event, Job, Runner, Step, Stop, Tolerance, DRAIN_DEADLINE, ENTRY_CONCURRENCY};
use crate::data::target::{Outcome, Target, TargetResult};

/// How a pass ended: why it stopped early, if it did, and its totals (as
/// [`Event::PassFinished`] tells them).
pub(super) struct Ended {
    pub(super) stop: Option<Stop>,
    /// Every job of the pass, each ended in one row.
    pub(super) targets: usize,
    pub(super) failed: usize,
}

/// The state of one pass while it runs.
pub(super) struct Scheduler {
    runner: Arc<Runner>,
    step: Arc<Step>,
    events: UnboundedSender<Event>,
    max_failures: Option<Tolerance>,
    /// Whether the job stream may still yield.
    listing: bool,
    /// Jobs whose account is entered, waiting for a slot.
    queue: VecDeque<Job>,
    /// Jobs waiting for their account to be entered, by account.
    waiting: HashMap<String, Vec<Job>>,
    /// Accounts to enter, in the order their first job came.
    to_enter: VecDeque<String>,
    entering: JoinSet<String>,
    running: JoinSet<TargetResult>,
    /// The target of every task in `running`, for a row when the task dies.
    in_flight: HashMap<Id, Target>,
    stop: Option<Stop>,
    failures: usize,
    found: usize,
}

impl Scheduler {
    pub(super) fn new(
        runner: Arc<Runner>,
        step: Arc<Step>,
        events: UnboundedSender<Event>,
        max_failures: Option<Tolerance>,
    ) -> Self {
        let stop = runner.interrupt.borrow().then_some(Stop::Interrupted);
        Scheduler {
            runner,
            step,
            events,
            max_failures,
            listing: true,
            queue: VecDeque::new(),
            waiting: HashMap::new(),
            to_enter: VecDeque::new(),
            entering: JoinSet::new(),
            running: JoinSet::new(),
            in_flight: HashMap::new(),
            stop,
            failures: 0,
            found: 0,
        }
    }

    /// Runs every job, each in its own task so that signing and parsing spread over the cores.
    /// Jobs are read from the stream as soon as they come, so the reporter knows the total
    /// while work goes on. A job whose account has not been entered yet waits, without a slot,
    /// while the account is entered (a few at a time): slots go only to targets that can start
    /// working at once.
    pub(super) async fn run<S>(mut self, mut jobs: S) -> Ended
    where
        S: Stream<Item = Job> + Send + Unpin,
    {
        let mut interrupt = self.runner.interrupt.clone();
        let mut watching = self.stop.is_none();
        let mut canaries: Vec<_> = self.runner.gates().map(Gate::subscribe).collect();
        let drain = tokio::time::sleep(Duration::MAX / 4);
        tokio::pin!(drain);
        let mut draining = false;
        loop {
            // The limit first: a target that finished over it must not make room for another.
            if let Some(stop) = self.too_many_failures() {
                self.stop = Some(stop);
            }
            self.enter_accounts();
            self.start_targets();
            if self.is_done() {
                break;
            }
            tokio::select! {
                job = jobs.next(), if self.listing => self.job_found(job),
                Some(entered) = self.entering.join_next() => self.account_entered(entered),
                Some(joined) = self.running.join_next_with_id() => self.target_finished(joined),
                changed = interrupt.changed(), if watching => match changed {
                    Err(_) => watching = false,
                    Ok(()) if *interrupt.borrow() => {
                        watching = false;
                        self.stop = Some(Stop::Interrupted);
                        draining = true;
                        drain.as_mut().reset(Instant::now() + DRAIN_DEADLINE);
                    }
                    Ok(()) => {}
                },
                failed = any_failed(&self.runner, &mut canaries), if self.stop.is_none() => {
                    self.stop = Some(failed);
                }
                () = &mut drain, if draining => {
                    draining = false;
                    self.abandon();
                }
                else => break,
            }
        }
        self.finish()
    }

    /// Starts entering accounts, a few at a time, unless the pass has stopped.
    fn enter_accounts(&mut self) {
        while self.stop.is_none() && self.entering.len() < ENTRY_CONCURRENCY {
            let Some(account) = self.to_enter.pop_front() else {
                break;
            };
            let runner = self.runner.clone();
            self.entering.spawn(async move {
                let _ = runner.enter(&account).await;
                account
            });
        }
    }

    /// Fills the free slots with queued jobs, unless the pass has stopped.
    fn start_targets(&mut self) {
        while self.stop.is_none() && self.running.len() < self.runner.concurrency {
            let Some(job) = self.queue.pop_front() else {
                break;
            };
            let target = job.target.clone();
            let (runner, step, events) =
                (self.runner.clone(), self.step.clone(), self.events.clone());
            let handle = self.running.spawn(async move {
                let _ = events.send(Event::TargetStarted {
                    target: job.target.clone(),
                });
                let started = Instant::now();
                let mut r = runner.step(&step, job).await;
                r.elapsed = Some(started.elapsed());
                r
            });
            self.in_flight.insert(handle.id(), target);
        }
    }

    /// `--max-failures` passed. A percentage is of the whole matrix, so it is enforced once
    /// the Organization has been listed.
    fn too_many_failures(&self) -> Option<Stop> {
        let tolerance = self.max_failures.filter(|_| self.stop.is_none())?;
        let known = !self.listing || matches!(tolerance, Tolerance::Count(_));
        let allowed = tolerance.allowed(self.found);
        (known && self.failures > allowed).then_some(Stop::TooManyFailures {
            failed: self.failures,
            allowed,
        })
    }

    /// Listed, nothing in flight, and nothing left to start (or the pass has stopped).
    fn is_done(&self) -> bool {
        let idle = self.running.is_empty() && self.entering.is_empty();
        let nothing_left = self.queue.is_empty() && self.waiting.is_empty();
        !self.listing && idle && (self.stop.is_some() || nothing_left)
    }

    /// A job came from the stream (or the stream ended): queue it, or park it while its
    /// account is entered.
    fn job_found(&mut self, job: Option<Job>) {
        let Some(job) = job else {
            self.listing = false;
            return;
        };
        self.found += 1;
        let _ = self.events.send(Event::TargetFound);
        let account = &job.target.account_id;
        if self.runner.is_entered(account) {
            self.queue.push_back(job);
        } else {
            if !self.waiting.contains_key(account) {
                self.to_enter.push_back(account.clone());
            }
            self.waiting.entry(account.clone()).or_default().push(job);
        }
    }

    /// An account was entered (or failed to be: its targets say so): its jobs may start.
    fn account_entered(&mut self, entered: Result<String, JoinError>) {
        if let Ok(account) = entered {
            let jobs = self.waiting.remove(&account).unwrap_or_default();
            self.queue.extend(jobs);
        }
    }

    /// A target ended, or its task died (cancelled past the drain deadline, or panicked).
    fn target_finished(&mut self, joined: Result<(Id, TargetResult), JoinError>) {
        let result = match joined {
            Ok((id, result)) => {
                self.in_flight.remove(&id);
                result
            }
            Err(e) => {
                let target = self
                    .in_flight
                    .remove(&e.id())
                    .expect("every task is tracked");
                let (outcome, why) = if e.is_cancelled() {
                    (
                        Outcome::Interrupted,
                        "interrupted while in flight; re-run to converge".to_owned(),
                    )
                } else {
                    (Outcome::Failed, format!("internal error: {e}"))
                };
                TargetResult::new(target, outcome, self.runner.now()).ending(outcome, why)
            }
        };
        self.failures += usize::from(result.is_failure());
        let _ = self.events.send(Event::TargetFinished(Box::new(result)));
    }

    /// Past the drain deadline: abandon what is in flight, and the rest of the listing.
    fn abandon(&mut self) {
        self.listing = false;
        self.running.abort_all();
        self.entering.abort_all();
    }

    /// Every job never started ends with the stop's reason; then the pass's end, with its
    /// totals.
    fn finish(mut self) -> Ended {
        if let Some(stop) = &self.stop {
            let why = stop.not_started();
            let never_started = self
                .queue
                .into_iter()
                .chain(self.waiting.into_values().flatten());
            for job in never_started {
                let row = job.not_started(&why, self.runner.now());
                self.failures += usize::from(row.is_failure());
                let _ = self.events.send(Event::TargetFinished(Box::new(row)));
            }
        }
        let _ = self.events.send(Event::PassFinished {
            stop: self.stop.clone(),
            targets: self.found,
            failed: self.failures,
        });
        Ended {
            stop: self.stop,
            targets: self.found,
            failed: self.failures,
        }
    }
}

/// Resolves when any upstream's canary has failed, with the stop it means for the run: a
/// failed canary stops every write of the pass, as with one upstream.
async fn any_failed(runner: &Runner, canaries: &mut [watch::Receiver<State>]) -> Stop {
    let waits = runner
        .gates()
        .zip(canaries.iter_mut())
        .map(|(gate, rx)| Box::pin(gate.failed(rx)));
    futures::future::select_all(waits).await.0
}
