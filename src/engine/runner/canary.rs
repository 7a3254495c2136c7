//! The canary gate. The first target of an `apply` that writes the token becomes the canary;
//! every other write waits until the canary has converged and validated. If the canary fails,
//! nothing else is written and the run stops, so a wrong or revoked token reaches one account
//! only (GitLab.com bans an address for 15 minutes after 300 failed logins in one minute, and
//! ECR logs in from AWS's addresses, shared with other rules and accounts). Reads never wait, so
//! the rest of the Organization is listed and planned meanwhile.

use tokio::sync::watch;

use super::Stop;
use crate::data::target::{Target, TargetResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum State {
    /// No target has written the token yet.
    Unclaimed,
    /// The canary is converging; other writes wait.
    InFlight,
    /// The canary ended valid (or there is no canary): writes go ahead.
    Passed,
    Failed {
        target: Target,
        reason: String,
    },
}

/// What a target about to write may do.
#[derive(Debug)]
pub(crate) enum Turn {
    /// This target is the canary.
    Canary(CanaryGuard),
    Go,
    /// The canary failed: write nothing, with this reason.
    Stop(String),
}

#[derive(Debug)]
pub(crate) struct Gate {
    state: watch::Sender<State>,
}

impl Gate {
    /// A gate with a canary to wait for, or one that is open from the start.
    pub(crate) fn new(canary: bool) -> Self {
        Self {
            state: watch::Sender::new(if canary {
                State::Unclaimed
            } else {
                State::Passed
            }),
        }
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<State> {
        self.state.subscribe()
    }

    /// Waits until this target may write. Writes that do not carry the token (a rule's
    /// credential update) go ahead while no canary is in flight.
    pub(crate) async fn turn(&self, writes_token: bool) -> Turn {
        let mut rx = self.state.subscribe();
        loop {
            let claimed = self.state.send_if_modified(|s| {
                let claim = writes_token && *s == State::Unclaimed;
                if claim {
                    *s = State::InFlight;
                }
                claim
            });
            if claimed {
                return Turn::Canary(CanaryGuard {
                    state: self.state.clone(),
                    finished: false,
                });
            }
            match &*rx.borrow_and_update() {
                State::Unclaimed if !writes_token => return Turn::Go,
                State::Passed => return Turn::Go,
                State::Failed { target, reason } => {
                    let stop = Stop::CanaryFailed {
                        target: target.clone(),
                        reason: reason.clone(),
                    };
                    return Turn::Stop(stop.not_started());
                }
                State::Unclaimed | State::InFlight => {}
            }
            if rx.changed().await.is_err() {
                return Turn::Go;
            }
        }
    }

    /// The stop the canary's failure means for the run, if it has failed.
    pub(super) fn failure(&self) -> Option<Stop> {
        match &*self.state.borrow() {
            State::Failed { target, reason } => Some(Stop::CanaryFailed {
                target: target.clone(),
                reason: reason.clone(),
            }),
            _ => None,
        }
    }

    /// Resolves when the canary has failed, with the stop it means for the run.
    pub(super) async fn failed(&self, rx: &mut watch::Receiver<State>) -> Stop {
        loop {
            if let State::Failed { target, reason } = &*rx.borrow_and_update() {
                return Stop::CanaryFailed {
                    target: target.clone(),
                    reason: reason.clone(),
                };
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Held by the canary target; it opens or closes the gate when the canary ends, and closes it
/// if the canary is dropped unfinished (aborted or panicked), so no writer waits for ever.
#[derive(Debug)]
pub(crate) struct CanaryGuard {
    state: watch::Sender<State>,
    finished: bool,
}

impl CanaryGuard {
    pub(crate) fn finish(mut self, result: &TargetResult) {
        self.finished = true;
        let next = if result.is_failure() {
            State::Failed {
                target: result.target.clone(),
                reason: result.failure().unwrap_or_default(),
            }
        } else {
            State::Passed
        };
        self.state.send_replace(next);
    }
}

impl Drop for CanaryGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.state.send_modify(|s| {
                if *s == State::InFlight {
                    *s = State::Failed {
                        target: Target {
                            account_id: String::new(),
                            account_name: String::new(),
                            region: String::new(),
                            upstream: "gitlab".into(),
                            ou: None,
                        },
                        reason: "the canary target did not finish".to_owned(),
                    };
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::target::{CheckedAt, Outcome, Validation};

    fn target() -> Target {
        Target {
            account_id: "111111111111".into(),
            account_name: "a".into(),
            region: "us-east-1".into(),
            upstream: "gitlab".into(),
            ou: None,
        }
    }

    #[tokio::test]
    async fn writers_wait_for_the_canary_and_stop_if_it_fails() {
        let gate = std::sync::Arc::new(Gate::new(true));
        let Turn::Canary(guard) = gate.turn(true).await else {
            panic!("first token writer is the canary")
        };
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.turn(true).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "a second writer waits");
        let mut r = TargetResult::new(target(), Outcome::Created, CheckedAt::default());
        r.validation = Some(Validation::not_checked(
            "Invalid username or password".into(),
        ));
        guard.finish(&r);
        match waiter.await.unwrap() {
            Turn::Stop(why) => assert!(why.contains("canary") && why.contains("Invalid username")),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_passed_canary_opens_the_gate_and_no_canary_means_open() {
        let gate = Gate::new(true);
        assert!(
            matches!(gate.turn(false).await, Turn::Go),
            "no token, no canary in flight: go"
        );
        let Turn::Canary(guard) = gate.turn(true).await else {
            panic!()
        };
        guard.finish(&TargetResult::new(
            target(),
            Outcome::Created,
            CheckedAt::default(),
        ));
        assert!(matches!(gate.turn(true).await, Turn::Go));
        assert!(matches!(Gate::new(false).turn(true).await, Turn::Go));
    }

    #[tokio::test]
    async fn a_dropped_canary_closes_the_gate() {
        let gate = Gate::new(true);
        let Turn::Canary(guard) = gate.turn(true).await else {
            panic!()
        };
        drop(guard);
        assert!(matches!(gate.turn(true).await, Turn::Stop(_)));
    }
}
