//! The runner's scheduler in virtual time on the simulation: an interrupt, a failed canary, the
//! drain deadline and a wave that halts the later ones, each through the real SDK and the real
//! per-target work. Time is paused, so the deadlines pass without wall-clock waits.

use std::sync::Arc;
use std::time::Duration;

use futures::stream;
use ptc_rollout::data::target::{Outcome, Target, TargetResult};
use ptc_rollout::data::waves::{WaveEnd, WaveMembers, Waves};
use ptc_rollout::{
    Access, Caller, Clients, Event, GitlabToken, Job, Limits, Overrides, Pass, Rollout, Runner,
    Setup, Stop, Tokens, Tolerance, Tuning,
};
use ptc_sim::{Fault, Sim, SimConfig};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// The runner's drain deadline (`DRAIN_DEADLINE`): how long in-flight targets may run on
/// after an interrupt.
const DRAIN: Duration = Duration::from_secs(10);

/// A run's rows and events, and why it stopped.
struct Ran {
    stop: Option<Stop>,
    events: Vec<Event>,
    /// When the interrupt was sent and when the run ended (virtual time).
    interrupted_at: Option<Instant>,
    ended_at: Instant,
}

impl Ran {
    fn rows(&self) -> Vec<&TargetResult> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::TargetFinished(r) => Some(r.as_ref()),
                _ => None,
            })
            .collect()
    }

    fn row(&self, account: &str) -> &TargetResult {
        let rows = self.rows();
        let mine: Vec<_> = rows
            .into_iter()
            .filter(|r| r.target.account_id == account)
            .collect();
        assert_eq!(mine.len(), 1, "one row for {account}");
        mine[0]
    }

    fn started(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::TargetStarted { .. }))
            .count()
    }
}

struct World {
    sim: Sim,
    runner: Arc<Runner>,
    interrupt: watch::Sender<bool>,
    members: Vec<String>,
}

/// A simulated Organization of `members` member accounts, and a runner over it. Attempts get an
/// hour, so a hung call outlasts the drain deadline rather than timing out first.
async fn world(members: usize, concurrency: usize, limits: Limits, config: SimConfig) -> World {
    let sim = Sim::new(SimConfig {
        member_accounts: members,
        ..config
    });
    let overrides = Overrides {
        http_client: Some(sim.http_client()),
        credentials: Some(sim.credentials()),
        region: Some("us-east-1".into()),
        ..Overrides::default()
    };
    let tuning = Tuning {
        max_attempts: 1,
        attempt_timeout: Duration::from_secs(3600),
        operation_timeout: Duration::from_secs(7200),
        ..Tuning::default()
    };
    let clients = Clients::load(overrides, &tuning).await;
    let caller = Caller::identify(&clients.sts(), "sim").await.unwrap();
    let rollout = Rollout::parse(
        "[targets]\nregions=[\"us-east-1\"]\nrole_name=\"OrganizationAccountAccessRole\"\n\
         [upstream]\nregistry=\"gitlab-container-registry\"\nusername=\"gitlab-user\"\ntoken_env=\"T\"\n\
         [rule]\necr_repository_prefix=\"gitlab\"\nsecret_name=\"ecr-pullthroughcache/gitlab\"\n",
    )
    .unwrap();
    let (interrupt, rx) = watch::channel(false);
    let runner = Runner::new(Setup {
        clients,
        access: Access {
            caller,
            role_name: rollout.role_name.clone(),
            external_id: None,
            duration: Duration::from_secs(3600),
            session_name: "ptc-rollout-scheduler".into(),
        },
        rollout: Arc::new(rollout),
        concurrency,
        limits,
        interrupt: rx,
    });
    let members = sim.member_ids();
    World {
        sim,
        runner,
        interrupt,
        members,
    }
}

fn target(account: &str) -> Target {
    Target {
        account_id: account.to_owned(),
        account_name: format!("acct-{account}"),
        region: "us-east-1".into(),
        upstream: "gitlab".into(),
        ou: None,
    }
}

fn jobs(accounts: &[String]) -> Vec<Job> {
    accounts.iter().map(|a| Job::fresh(target(a))).collect()
}

type Sender = mpsc::UnboundedSender<Event>;
/// The task collecting a run's events; with them, when it sent the interrupt.
type Collector = tokio::task::JoinHandle<(Vec<Event>, Option<Instant>)>;

/// When to interrupt: once this many targets have started and this many finished.
#[derive(Clone, Copy)]
struct After {
    started: usize,
    finished: usize,
}

/// Collects the run's events; sends the interrupt once the run is as `interrupt` says.
fn collect(interrupt: watch::Sender<bool>, when: Option<After>) -> (Sender, Collector) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let (mut events, mut started, mut finished, mut at) = (Vec::new(), 0, 0, None);
        while let Some(e) = rx.recv().await {
            started += usize::from(matches!(e, Event::TargetStarted { .. }));
            finished += usize::from(matches!(e, Event::TargetFinished(_)));
            let due = when.is_some_and(|w| started >= w.started && finished >= w.finished);
            if due && at.is_none() {
                at = Some(Instant::now());
                let _ = interrupt.send(true);
            }
            events.push(e);
        }
        (events, at)
    });
    (tx, task)
}

/// Interrupt once `n` targets have finished.
fn finished(n: usize) -> Option<After> {
    Some(After {
        started: 0,
        finished: n,
    })
}

async fn run(w: &World, pass: Pass, jobs: Vec<Job>, interrupt: Option<After>) -> Ran {
    collected(w, interrupt, async |tx| {
        w.runner.run(pass, stream::iter(jobs), tx).await
    })
    .await
}

async fn run_waves(
    w: &World,
    pass: Pass,
    waves: &Waves,
    jobs: Vec<Vec<Job>>,
    interrupt: Option<After>,
) -> Ran {
    collected(w, interrupt, async |tx| {
        w.runner.run_in_waves(pass, waves, jobs, None, tx).await
    })
    .await
}

/// Runs `go` with the run's event channel, its events collected (and the interrupt sent) as
/// [`collect`] does.
async fn collected(
    w: &World,
    interrupt: Option<After>,
    go: impl AsyncFnOnce(&Sender) -> Option<Stop>,
) -> Ran {
    let (tx, task) = collect(w.interrupt.clone(), interrupt);
    let stop = go(&tx).await;
    let ended_at = Instant::now();
    drop(tx);
    let (events, interrupted_at) = task.await.unwrap();
    Ran {
        stop,
        events,
        interrupted_at,
        ended_at,
    }
}

fn no_limits() -> Limits {
    Limits::default()
}

#[tokio::test(start_paused = true)]
async fn an_interrupt_starts_nothing_new_and_lets_targets_in_flight_finish() {
    let w = world(12, 2, no_limits(), SimConfig::default()).await;
    let ran = run(&w, Pass::Plan(None), jobs(&w.members), finished(3)).await;
    assert_eq!(ran.stop, Some(Stop::Interrupted));
    let rows = ran.rows();
    assert_eq!(rows.len(), 12, "every target ends in one row");
    let not_attempted: Vec<_> = rows
        .iter()
        .filter(|r| r.outcome == Outcome::NotAttempted)
        .collect();
    // Two slots: the three finished and at most the two in flight then; the rest never started.
    let planned = rows.len() - not_attempted.len();
    assert!((3..=5).contains(&planned), "planned {planned}");
    assert_eq!(
        ran.started(),
        planned,
        "no target started after the interrupt"
    );
    for r in &not_attempted {
        assert_eq!(
            r.error.as_deref(),
            Some("not attempted: the run was interrupted")
        );
    }
    // Those in flight finished their plan (within the deadline), not cut short.
    assert!(rows
        .iter()
        .all(|r| matches!(r.outcome, Outcome::Pending | Outcome::NotAttempted)));
    let waited = ran.ended_at - ran.interrupted_at.unwrap();
    assert!(waited < DRAIN, "drained in {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn max_failures_stops_at_the_failure_over_the_limit_and_starts_nothing_more() {
    let limits = Limits {
        max_failures: Some(Tolerance::Count(1)),
        ..Limits::default()
    };
    let w = world(4, 1, limits, SimConfig::default()).await;
    for m in &w.members {
        w.sim.set_fault(m, Some(Fault::Deny));
    }
    let token = Arc::new(Tokens::one(
        "gitlab",
        GitlabToken::new("glpat-the-good-one".into()).unwrap(),
    ));
    let ran = run(&w, Pass::Apply(token), jobs(&w.members), None).await;
    assert_eq!(
        ran.stop,
        Some(Stop::TooManyFailures {
            failed: 2,
            allowed: 1
        })
    );
    // One slot: the second failure stops the pass before its slot is given to a third target.
    assert_eq!(
        ran.started(),
        2,
        "no target started after the limit was passed"
    );
    let rows = ran.rows();
    assert_eq!(rows.len(), 4, "every target ends in one row");
    let failed = rows.iter().filter(|r| r.outcome == Outcome::Failed).count();
    let not_attempted = rows
        .iter()
        .filter(|r| r.outcome == Outcome::NotAttempted)
        .count();
    assert_eq!((failed, not_attempted), (2, 2));
}

#[tokio::test(start_paused = true)]
async fn a_failed_canary_stops_every_other_write() {
    let limits = Limits {
        canary: true,
        ..Limits::default()
    };
    let config = SimConfig {
        valid_tokens: Some(vec!["glpat-the-good-one".into()]),
        ..SimConfig::default()
    };
    let w = world(8, 4, limits, config).await;
    let token = Arc::new(Tokens::one(
        "gitlab",
        GitlabToken::new("glpat-revoked-one".into()).unwrap(),
    ));
    let ran = run(&w, Pass::Apply(token), jobs(&w.members), None).await;
    let rows = ran.rows();
    assert_eq!(rows.len(), 8);
    let written: Vec<_> = rows.iter().filter(|r| !r.taken.is_empty()).collect();
    assert_eq!(written.len(), 1, "only the canary wrote");
    let canary = &written[0].target;
    assert!(
        written[0].is_failure(),
        "the canary's rule does not validate"
    );
    let stop = ran.stop.clone().or_else(|| w.runner.canary_failure());
    match stop {
        Some(Stop::CanaryFailed { target, .. }) => assert_eq!(&target, canary),
        other => panic!("stopped by {other:?}"),
    }
    let prefix = format!(
        "not attempted: the canary target {} {} failed",
        canary.account_id, canary.region
    );
    for r in rows.iter().filter(|r| &r.target != canary) {
        assert_eq!(r.outcome, Outcome::NotAttempted, "{:?}", r.target);
        let why = r.error.as_deref().unwrap_or_default();
        assert!(why.starts_with(&prefix), "{why}");
        assert!(why.ends_with("nothing else was written"), "{why}");
    }
    // The canary's secret and rule: nothing else anywhere.
    assert_eq!(w.sim.metrics().mutating_calls, 2);
}

#[tokio::test(start_paused = true)]
async fn a_target_hung_past_the_drain_deadline_is_abandoned_with_its_row() {
    let w = world(4, 4, no_limits(), SimConfig::default()).await;
    let hung = w.members[0].clone();
    w.sim.set_fault(&hung, Some(Fault::Hang));
    // The three others finish; then the interrupt, with the hung one still in flight.
    let ran = run(&w, Pass::Plan(None), jobs(&w.members), finished(3)).await;
    assert_eq!(ran.stop, Some(Stop::Interrupted));
    let row = ran.row(&hung);
    assert_eq!(row.outcome, Outcome::Interrupted);
    assert_eq!(
        row.error.as_deref(),
        Some("interrupted while in flight; re-run to converge")
    );
    for other in &w.members[1..] {
        assert_eq!(ran.row(other).outcome, Outcome::Pending);
    }
    let waited = ran.ended_at - ran.interrupted_at.unwrap();
    assert!(
        waited >= DRAIN && waited < DRAIN + Duration::from_secs(1),
        "abandoned after {waited:?}"
    );
}

fn waves(names_and_accounts: &[(&str, &[String])]) -> Waves {
    Waves::from(
        names_and_accounts
            .iter()
            .map(|(name, accounts)| WaveMembers {
                name: (*name).to_owned(),
                accounts: accounts.to_vec(),
            })
            .collect::<Vec<_>>(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_failed_wave_halts_the_later_ones_and_their_rows_name_it() {
    let w = world(4, 4, no_limits(), SimConfig::default()).await;
    let m = &w.members;
    let (first, second, third) = (&m[0..2], &m[2..3], &m[3..4]);
    w.sim.set_fault(&m[1], Some(Fault::Deny));
    let waves = waves(&[("canary", first), ("early", second), ("rest", third)]);
    let jobs = vec![jobs(first), jobs(second), jobs(third)];
    let ran = run_waves(&w, Pass::Plan(None), &waves, jobs, None).await;
    let end = WaveEnd {
        failed: 1,
        allowed: None,
    };
    assert_eq!(
        ran.stop,
        Some(Stop::WaveFailed {
            wave: "canary".into(),
            end
        })
    );
    assert_eq!(ran.row(&m[0]).outcome, Outcome::Pending);
    assert_eq!(ran.row(&m[1]).outcome, Outcome::Failed);
    for (account, wave) in [(&m[2], "early"), (&m[3], "rest")] {
        let r = ran.row(account);
        assert_eq!(r.outcome, Outcome::NotAttempted);
        assert_eq!(
            r.error.as_deref(),
            Some(
                format!(
                    "not attempted: wave {wave:?} not started because wave \"canary\" has 1 failed target"
                )
                .as_str()
            )
        );
    }
    // One wave ran; it halted the two later ones, which were told as not started.
    let told: Vec<String> = ran
        .events
        .iter()
        .filter_map(|e| match e {
            Event::WaveStarted {
                name,
                index,
                of,
                targets,
            } => Some(format!("started {name} {index}/{of} {targets}")),
            Event::WaveHalted { wave, end } => Some(format!("halted {wave} {}", end.failed)),
            Event::WaveNotStarted {
                name,
                index,
                of,
                targets,
            } => Some(format!("not started {name} {index}/{of} {targets}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        told,
        [
            "started canary 0/3 2",
            "halted canary 1",
            "not started early 1/3 1",
            "not started rest 2/3 1"
        ]
    );
    assert_eq!(ran.started(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_interrupt_wins_over_a_wave_halt_at_the_same_time() {
    let w = world(3, 4, no_limits(), SimConfig::default()).await;
    let m = &w.members;
    let (first, second) = (&m[0..2], &m[2..3]);
    // In the first wave, one target fails and one hangs: the interrupt comes after the
    // failure, while the hung one is in flight, so the wave ends both failed and interrupted.
    w.sim.set_fault(&m[0], Some(Fault::Deny));
    w.sim.set_fault(&m[1], Some(Fault::Hang));
    let waves = waves(&[("first", first), ("second", second)]);
    let jobs = vec![jobs(first), jobs(second)];
    let both = Some(After {
        started: 2,
        finished: 1,
    });
    let ran = run_waves(&w, Pass::Plan(None), &waves, jobs, both).await;
    assert_eq!(ran.stop, Some(Stop::Interrupted));
    assert_eq!(ran.row(&m[0]).outcome, Outcome::Failed);
    assert_eq!(ran.row(&m[1]).outcome, Outcome::Interrupted);
    let later = ran.row(&m[2]);
    assert_eq!(later.outcome, Outcome::NotAttempted);
    assert_eq!(
        later.error.as_deref(),
        Some("not attempted: the run was interrupted")
    );
    assert!(ran.events.iter().any(
        |e| matches!(e, Event::WaveHalted { wave, end } if wave == "first" && end.failed == 2)
    ));
}
