//! The rotate pass in one target: the token written as a new version of the managed secret
//! unless it holds it already (canary first), then the rule validated.

use super::ending::end_with;
use super::validate::validate_guarded;
use super::{open, turn_to_write, Cx};
use crate::aws::clients::Regional;
use crate::config::secrets::GitlabToken;
use crate::data::target::{Action, Observed, Outcome, RuleState, Target, TargetResult};
use crate::engine::resources::secret;

/// Writes the token as a new version of the managed secret unless it holds it already
/// (canary first), then validates.
pub(super) async fn rotate_one(
    cx: &Cx<'_>,
    t: Target,
    token: Option<&GitlabToken>,
) -> TargetResult {
    let Some(token) = token else {
        // The command rotates one upstream's token: its targets alone are scheduled.
        let now = cx.now();
        return TargetResult::new(t, Outcome::Skipped, now).ending(
            Outcome::Skipped,
            "skipped: this upstream's token is not rotated in this run",
        );
    };
    let (r, c) = match open(cx, t).await {
        Ok(opened) => opened,
        Err(row) => return row,
    };
    let details = match secret::describe_secret(&c, &r.target, cx.rollout).await {
        Ok(d) => d,
        Err(e) => return end_with(cx, r, e).await,
    };
    let mut r = r;
    let skip = |r, why| skipped_but_validated(cx, &c, r, why);
    let Some(d) = details else {
        // No secret: nothing to rotate, but a rule may still be there and broken; ECR's
        // answer makes it count against the exit code, as in apply.
        return skip(r, "skipped: no secret to rotate (run apply first)").await;
    };
    r.observed = Some(Observed {
        secret: d.state(),
        rule: RuleState::Absent,
        template: None,
        pull_access: None,
        secret_kms_key: d.kms_key_id.clone(),
        custom_role: None,
    });
    if !d.managed {
        return skip(
            r,
            "skipped: the secret was not created by ptc-rollout; listed, not touched",
        )
        .await;
    }
    if d.pending_deletion {
        return skip(
            r,
            "skipped: the secret is scheduled for deletion (run apply to restore it)",
        )
        .await;
    }
    let mut canary = None;
    if !secret::holds(&d, &r.target, cx.rollout, token) {
        match turn_to_write(cx, true).await {
            Ok(guard) => canary = guard,
            Err(why) => return r.ending(Outcome::NotAttempted, why),
        }
        let current = d.current_version.as_deref();
        if let Err(e) = secret::put_token(&c, &r.target, cx.rollout, &d.arn, token, current).await {
            return end_with(cx, r, e).await;
        }
        r.taken = vec![Action::RotateSecret];
        r.outcome = Outcome::Updated;
    }
    // Just read, present and ours: the rule's failure, if any, is GitLab.com's answer.
    r.validation = Some(validate_guarded(cx, &c, &r.target, Some(&d.arn)).await);
    r.checked_at = cx.now();
    if let Some(guard) = canary {
        guard.finish(&r);
    }
    r
}

/// A target rotate leaves alone (no secret, unmanaged, pending deletion) is still validated:
/// rotate ends with the whole matrix's validity, and a rule that is not valid fails it.
async fn skipped_but_validated(
    cx: &Cx<'_>,
    c: &Regional,
    mut r: TargetResult,
    why: &str,
) -> TargetResult {
    r.outcome = Outcome::Skipped;
    r.error = Some(why.to_owned());
    r.validation = Some(validate_guarded(cx, c, &r.target, None).await);
    r.checked_at = cx.now();
    r
}
