//! What each pass does in one target, one file per pass: [`plan`], [`apply`], [`validate`],
//! [`probe`], [`rotate`], [`destroy`], [`inspect`]. Each is a function of the target and a small
//! context ([`Cx`]: the accounts and the clock, the rollout, the limits, the canary gate, the
//! login window); how every failed row ends is in [`ending`]. [`run`] sends a pass's job to its
//! function.

pub(super) mod apply;
pub(super) mod destroy;
pub(super) mod ending;
pub(super) mod inspect;
pub(super) mod plan;
pub(super) mod probe;
pub(super) mod rotate;
pub(super) mod validate;

use super::accounts::Accounts;
use super::canary::{CanaryGuard, Gate, Turn};
use super::{Job, Limits, Pass};
use crate::aws::clients::Regional;
use crate::aws::error::ApiError;
use crate::config::secrets::{GitlabToken, Tokens};
use crate::config::Rollout;
use crate::data::target::{CheckedAt, Outcome, Target, TargetResult};
use crate::engine::resources;
use probe::Prober;
use validate::login_window::Logins;

/// A pass made ready to run: the pass, and what its targets share (a probe's registry client,
/// with its connection pool).
pub(super) struct Step {
    pass: Pass,
    prober: Option<Prober>,
}

impl Step {
    pub(super) fn new(pass: Pass, rollout: &Rollout) -> Self {
        let spec = match &pass {
            Pass::Probe(spec) | Pass::Validate(Some(spec)) => Some(spec.clone()),
            _ => None,
        };
        Step {
            prober: spec.map(|spec| Prober::new(spec, rollout)),
            pass,
        }
    }
}

/// What a step in one target works with: the run's accounts (and clock), the rollout, the
/// run's limits, the canary gate and the login window.
pub(super) struct Cx<'a> {
    pub(super) accounts: &'a Accounts,
    pub(super) rollout: &'a Rollout,
    pub(super) limits: &'a Limits,
    pub(super) gate: &'a Gate,
    pub(super) logins: &'a Logins,
}

impl Cx<'_> {
    /// Now, from the SDK's time source (virtual in simulations).
    pub(super) fn now(&self) -> CheckedAt {
        self.accounts.now()
    }

    /// The target's Region's clients, in its account.
    pub(super) async fn regional(&self, t: &Target) -> Result<Regional, ApiError> {
        self.accounts.regional(t).await
    }
}

/// One target's work in a pass.
pub(super) async fn run(cx: &Cx<'_>, step: &Step, job: Job) -> TargetResult {
    let prober = step.prober.as_ref();
    let upstream = job.target.upstream.clone();
    let token = |tokens| token_of(tokens, &upstream);
    // ECR-to-ECR: the central registry's own account and Region are no target of its upstream,
    // in any pass (no call is made there).
    if let Some(why) = resources::role::skip_reason(&job.target, cx.rollout) {
        return TargetResult::new(job.target, Outcome::Skipped, cx.now())
            .ending(Outcome::Skipped, why);
    }
    match &step.pass {
        Pass::Plan(tokens) => plan::plan_one(cx, job.target, None, token(tokens.as_deref())).await,
        Pass::Apply(tokens) => apply::apply_one(cx, job, token(Some(tokens))).await,
        Pass::Validate(_) => validate::validate_one(cx, job.target, prober).await,
        Pass::Probe(_) => {
            probe::probe_one(cx, job.target, prober.expect("made with the pass")).await
        }
        Pass::Rotate(tokens) => rotate::rotate_one(cx, job.target, token(Some(tokens))).await,
        Pass::PlanDestroy(removal) => plan::plan_one(cx, job.target, Some(*removal), None).await,
        Pass::Destroy(removal) => destroy::destroy_one(cx, job, *removal).await,
        Pass::Inspect(tokens) => {
            inspect::inspect_one(cx, job.target, token(tokens.as_deref())).await
        }
    }
}

/// The target's upstream's token, when the pass has tokens.
fn token_of<'a>(tokens: Option<&'a Tokens>, upstream: &str) -> Option<&'a GitlabToken> {
    tokens.and_then(|t| t.get(upstream))
}

/// A new row for the target, with its Region's clients; or the row ended with why the account
/// could not be entered.
pub(super) async fn open(cx: &Cx<'_>, t: Target) -> Result<(TargetResult, Regional), TargetResult> {
    let r = TargetResult::new(t, Outcome::Unchanged, cx.now());
    match cx.regional(&r.target).await {
        Ok(c) => Ok((r, c)),
        Err(e) => Err(ending::end_with(cx, r, e).await),
    }
}

/// Waits for this target's turn to write (see [`super::Gate`]): the guard when this target is
/// the canary, or why nothing may be written when the canary failed.
pub(super) async fn turn_to_write(
    cx: &Cx<'_>,
    writes_token: bool,
) -> Result<Option<CanaryGuard>, String> {
    match cx.gate.turn(writes_token).await {
        Turn::Canary(guard) => Ok(Some(guard)),
        Turn::Go => Ok(None),
        Turn::Stop(why) => Err(why),
    }
}

/// The Region's clients: those the plan just used, or new ones.
pub(super) async fn clients_for(
    cx: &Cx<'_>,
    known: Option<Regional>,
    t: &Target,
) -> Result<Regional, ApiError> {
    match known {
        Some(c) => Ok(c),
        None => cx.regional(t).await,
    }
}
