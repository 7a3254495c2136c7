//! The login window: every ValidatePullThroughCacheRule (a login at GitLab.com) is admitted
//! through a window that starts at one validation in flight, grows by one per success (so it
//! doubles per round of successes, up to the run's concurrency), falls back to one after a
//! failed login, and closes for good after [`AUTH_FAILURE_LIMIT`] of them. A token GitLab
//! refuses from the start therefore fails at most that many logins, whatever the concurrency;
//! only a token proven good (a success) opens the run to its full concurrency.

use std::sync::Mutex;

use tokio::sync::Semaphore;

/// Upstream authentication failures after which validation stops: each one is a failed login
/// at GitLab.com, which bans an address for 15 minutes after 300 in one minute (GitLab.com
/// settings, "Git and container registry failed authentication ban"). ECR logs in
/// from AWS's addresses, not this machine's, which other accounts' rules share: so few, by far.
pub(super) const AUTH_FAILURE_LIMIT: usize = 5;

/// How an admitted validation ended, as the window counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    /// The rule validated: the token works, so the window may grow.
    Valid,
    /// A failed login at GitLab.com.
    LoginFailed,
    /// An answer that says nothing of the token (no rule, a secret ECR cannot read, an error).
    Neutral,
    /// Dropped before its answer was counted (the target was aborted).
    Gone,
}

/// The validations admitted at once, and the failures seen. Its invariant: admissions available
/// plus validations in flight equal `size + owed`.
#[derive(Debug)]
struct Window {
    size: usize,
    /// The run's concurrency: the window never grows past it.
    cap: usize,
    /// Admissions to take back as validations in flight end (the window shrank under them).
    owed: usize,
    failures: usize,
}

impl Window {
    /// Counts one validation's end; returns the admissions to hand out again (its own
    /// included), or `None` once the gate is closed.
    fn end(&mut self, how: Ended) -> Option<usize> {
        if self.failures >= AUTH_FAILURE_LIMIT {
            return None;
        }
        let mut give = 1;
        match how {
            Ended::Valid if self.size < self.cap => {
                self.size += 1;
                give += 1;
            }
            // Without a success, the window grows no wider than the failures still allowed, so a
            // refused token fails at most AUTH_FAILURE_LIMIT logins even among such answers.
            Ended::Neutral if self.size < self.cap.min(AUTH_FAILURE_LIMIT - self.failures) => {
                self.size += 1;
                give += 1;
            }
            Ended::LoginFailed => {
                self.failures += 1;
                if self.failures >= AUTH_FAILURE_LIMIT {
                    return None;
                }
                self.owed += self.size - 1;
                self.size = 1;
            }
            Ended::Valid | Ended::Neutral | Ended::Gone => {}
        }
        let paid = give.min(self.owed);
        self.owed -= paid;
        Some(give - paid)
    }
}

#[derive(Debug)]
pub(in crate::engine::runner) struct Logins {
    admissions: Semaphore,
    window: Mutex<Window>,
}

/// One validation's turn; counted when it ends (dropped unended: [`Ended::Gone`]).
#[derive(Debug)]
pub(super) struct Admission<'a> {
    logins: &'a Logins,
    ended: bool,
}

impl Logins {
    pub(in crate::engine::runner) fn new(concurrency: usize) -> Self {
        Self {
            admissions: Semaphore::new(1),
            window: Mutex::new(Window {
                size: 1,
                cap: concurrency.max(1),
                owed: 0,
                failures: 0,
            }),
        }
    }

    /// Waits for a turn to validate, in order of arrival; `Err` with the failed logins seen
    /// once the gate has closed.
    pub(super) async fn admit(&self) -> Result<Admission<'_>, usize> {
        match self.admissions.acquire().await {
            Ok(permit) => {
                // Admissions are handed back by the window's count, not by the permit.
                permit.forget();
                Ok(Admission {
                    logins: self,
                    ended: false,
                })
            }
            Err(_closed) => Err(self.window.lock().expect("not poisoned").failures),
        }
    }

    fn finish(&self, how: Ended) {
        let mut w = self.window.lock().expect("not poisoned");
        match w.end(how) {
            None => self.admissions.close(),
            Some(give) => {
                // The window shrank: unused admissions go at once, the rest as validations end.
                if w.owed > 0 {
                    let taken = self.admissions.forget_permits(w.owed);
                    w.owed -= taken;
                }
                self.admissions.add_permits(give);
            }
        }
    }
}

impl Admission<'_> {
    pub(super) fn end(mut self, how: Ended) {
        self.ended = true;
        self.logins.finish(how);
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.logins.finish(Ended::Gone);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Admits every turn available now (none waits).
    fn admit_all(logins: &Logins) -> Vec<Admission<'_>> {
        std::iter::from_fn(|| {
            logins.admissions.try_acquire().ok().map(|p| {
                p.forget();
                Admission {
                    logins,
                    ended: false,
                }
            })
        })
        .collect()
    }

    #[tokio::test]
    async fn a_refused_token_fails_one_login_at_a_time_then_the_gate_closes() {
        let logins = Logins::new(256);
        for _ in 0..AUTH_FAILURE_LIMIT {
            let mut now = admit_all(&logins);
            assert_eq!(now.len(), 1, "one login in flight");
            now.pop().unwrap().end(Ended::LoginFailed);
        }
        assert_eq!(logins.admit().await.err(), Some(AUTH_FAILURE_LIMIT));
    }

    #[tokio::test]
    async fn successes_double_the_window_up_to_the_concurrency() {
        let logins = Logins::new(6);
        let mut widths = Vec::new();
        for _ in 0..5 {
            let now = admit_all(&logins);
            widths.push(now.len());
            now.into_iter().for_each(|a| a.end(Ended::Valid));
        }
        assert_eq!(widths, [1, 2, 4, 6, 6]);
    }

    #[tokio::test]
    async fn a_failure_falls_back_to_one_once_those_in_flight_have_ended() {
        let logins = Logins::new(8);
        for _ in 0..3 {
            admit_all(&logins)
                .into_iter()
                .for_each(|a| a.end(Ended::Valid));
        }
        let mut now = admit_all(&logins);
        assert_eq!(now.len(), 8);
        now.pop().unwrap().end(Ended::LoginFailed);
        assert!(admit_all(&logins).is_empty(), "none while 7 are in flight");
        // Aborted or ended, those in flight pay back what the window shrank by.
        let last = now.pop().unwrap();
        drop(now);
        assert!(admit_all(&logins).is_empty(), "none while one is in flight");
        last.end(Ended::Valid);
        assert_eq!(
            admit_all(&logins).len(),
            2,
            "one, grown by the last success"
        );
    }

    #[tokio::test]
    async fn answers_that_say_nothing_of_the_token_widen_only_within_the_failures_left() {
        let logins = Logins::new(256);
        for _ in 0..10 {
            admit_all(&logins)
                .into_iter()
                .for_each(|a| a.end(Ended::Neutral));
        }
        let now = admit_all(&logins);
        assert_eq!(now.len(), AUTH_FAILURE_LIMIT);
        now.into_iter().for_each(|a| a.end(Ended::LoginFailed));
        assert!(
            logins.admit().await.is_err(),
            "no more than the limit failed"
        );
    }
}
