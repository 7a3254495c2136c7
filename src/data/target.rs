//! The plain data that `plan`, `apply` and `validate` share: a target is one (account, Region)
//! pair; what was observed there; what would be or was done; and how it ended.

use std::fmt;
use std::sync::Arc;

use aws_smithy_types::date_time::{DateTime, Format};
use serde::{Deserialize, Serialize};

/// One (account, Region) pair of the rollout matrix, for one upstream: each upstream's rule in
/// the pair is worked on, and reported, on its own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Target {
    pub account_id: String,
    pub account_name: String,
    pub region: String,
    /// The upstream's name in the rollout file (`gitlab` for the single `[upstream]` form, and in
    /// plans saved before there were several). One `Arc` per upstream, shared by its targets.
    #[serde(default = "single_form")]
    pub upstream: Arc<str>,
    /// The account's parent OU, when the listing walked the Organization's tree to name it
    /// (the HTML matrix). One `Arc` shared by every target of the OU's accounts, so 100,000
    /// targets hold one pointer each; not saved in plan files.
    #[serde(skip)]
    pub ou: Option<Arc<Ou>>,
}

fn single_form() -> Arc<str> {
    Arc::from("gitlab")
}

/// An organizational unit (or a root) of the Organization, as a parent of accounts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ou {
    /// `ou-...`, or `r-...` for a root.
    pub id: String,
    pub name: String,
}

/// The secret named in the rollout file, as found in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SecretState {
    Absent,
    Present { arn: String, managed: bool },
    PendingDeletion { arn: String, managed: bool },
}

impl SecretState {
    pub(crate) fn arn(&self) -> Option<&str> {
        match self {
            SecretState::Absent => None,
            SecretState::Present { arn, .. } | SecretState::PendingDeletion { arn, .. } => {
                Some(arn)
            }
        }
    }

    /// Whether a secret exists that ptc-rollout did not create (it is used, never overwritten).
    pub(crate) fn is_unmanaged(&self) -> bool {
        matches!(
            self,
            SecretState::Present { managed: false, .. }
                | SecretState::PendingDeletion { managed: false, .. }
        )
    }
}

/// The pull through cache rule for the rollout file's prefix, as found in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RuleState {
    Absent,
    Present {
        upstream_registry_url: String,
        credential_arn: Option<String>,
        /// ECR-to-ECR: the central registry's namespace the rule caches, when not all of it
        /// (`ROOT`). ECR cannot change it on a rule.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upstream_repository_prefix: Option<String>,
    },
}

/// Everything `plan` reads in a target. Two observations are equal when nothing `apply` would
/// act on has changed, which is how a saved plan is found stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    pub secret: SecretState,
    pub rule: RuleState,
    /// The repository creation template, when the rollout file has `[repository_template]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateState>,
    /// ptc-rollout's statement in the registry policy, when the rollout file has `[pull_access]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pull_access: Option<PullAccessState>,
    /// The customer managed KMS key encrypting the secret, if one does: ECR cannot read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) secret_kms_key: Option<String>,
    /// ECR-to-ECR: the role the rule names in the target account (IAM GetRole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) custom_role: Option<RoleState>,
}

/// ECR-to-ECR: the upstream's `custom_role_name` in the target account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RoleState {
    Present,
    /// IAM answered NoSuchEntity for the role (its ARN): a rule naming it could not pull.
    Absent {
        role_arn: String,
    },
    /// The target is the central registry itself (its account and Region): ECR is not asked
    /// to cache a registry into itself, and no role is read.
    CentralRegistry,
}

/// The repository creation template for the prefix, compared with the rollout file's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateState {
    Absent,
    Matches,
    Differs,
}

/// ptc-rollout's own statement in the Region's registry permissions policy, compared with the
/// one the rollout file asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PullAccessState {
    Absent,
    Matches,
    Differs,
    /// Absent or differing, and the policy with it would be `chars` characters, over ECR's
    /// limit: `apply` would not write it (a conflict in `plan`).
    TooLong {
        chars: usize,
    },
}

impl PullAccessState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PullAccessState::Absent => "absent",
            PullAccessState::Matches => "ok",
            PullAccessState::Differs => "differs",
            PullAccessState::TooLong { .. } => "too long",
        }
    }
}

/// One change `apply` makes in a target, in the order it makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    CreateSecret,
    RestoreSecret,
    /// Store the token in the managed secret, which holds another one that the rule cannot
    /// log in with (a restore killed before its PutSecretValue), or that a rule is about to use.
    UpdateToken,
    CreateRule,
    UpdateRuleCredential,
    /// `--adopt-rules`: point a rule that uses a secret of another name (another team's, or an
    /// earlier `secret_name`) at the managed secret; said apart so a reviewed plan shows it.
    AdoptRule,
    CreateTemplate,
    UpdateTemplate,
    /// Put ptc-rollout's statement into the registry policy (`[pull_access]`).
    AddPullAccess,
    UpdatePullAccess,
    /// `rotate`: store the new token as the secret's current version.
    RotateSecret,
    /// `destroy`.
    DeleteRule,
    DeleteSecret,
    /// `destroy`: take ptc-rollout's statement out of the registry policy.
    RemovePullAccess,
}

impl Action {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Action::CreateSecret => "create secret",
            Action::RestoreSecret => "restore secret",
            Action::UpdateToken => "update token",
            Action::CreateRule => "create rule",
            Action::UpdateRuleCredential => "update rule credential",
            Action::AdoptRule => "adopt rule of another secret",
            Action::CreateTemplate => "create repository template",
            Action::UpdateTemplate => "update repository template",
            Action::RotateSecret => "write new token version",
            Action::DeleteRule => "delete rule",
            Action::DeleteSecret => "delete secret",
            Action::AddPullAccess => "add pull access",
            Action::UpdatePullAccess => "update pull access",
            Action::RemovePullAccess => "remove pull access",
        }
    }

    /// Whether the action writes the token (the canary guards those).
    pub(crate) fn writes_token(self) -> bool {
        matches!(
            self,
            Action::CreateSecret
                | Action::RestoreSecret
                | Action::UpdateToken
                | Action::RotateSecret
        )
    }
}

/// What `apply` should do in a target, decided from an observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// The actions to take; empty when the target has converged.
    Change { actions: Vec<Action> },
    /// Something ptc-rollout must not touch holds the place; nothing is done.
    Conflict { reason: String },
}

impl Decision {
    pub fn actions(&self) -> &[Action] {
        match self {
            Decision::Change { actions } => actions,
            Decision::Conflict { .. } => &[],
        }
    }
}

/// How a target ended. Every target of a run ends in exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// `plan`: changes would be made.
    Pending,
    Created,
    Updated,
    /// `destroy`: the managed rule and secret were removed.
    Deleted,
    Unchanged,
    Failed,
    Conflict,
    Skipped,
    Stale,
    NotAttempted,
    Interrupted,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Deleted => "deleted",
            Outcome::Unchanged => "unchanged",
            Outcome::Failed => "failed",
            Outcome::Conflict => "conflict",
            Outcome::Skipped => "skipped",
            Outcome::Stale => "stale",
            Outcome::NotAttempted => "not attempted",
            Outcome::Interrupted => "interrupted",
        }
    }

    /// Whether this outcome makes the run unsuccessful.
    pub(crate) fn is_failure(self) -> bool {
        matches!(
            self,
            Outcome::Failed
                | Outcome::Conflict
                | Outcome::Stale
                | Outcome::NotAttempted
                | Outcome::Interrupted
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer of ValidatePullThroughCacheRule, or why there was nothing to validate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    pub is_valid: bool,
    pub failure: Option<String>,
    pub(crate) upstream_registry_url: Option<String>,
    pub(crate) credential_arn: Option<String>,
    /// Whether ECR was asked in this run. A row whose rule was not validated (circuit breaker,
    /// an error, a canary stop) shows `is_valid` empty: not checked, not false.
    #[serde(default = "yes")]
    pub(crate) checked: bool,
    /// Not validated because the target is out of reach for good (an opt-in Region the account
    /// has not enabled): the row is `skipped`, not failed.
    #[serde(skip)]
    pub(crate) skipped: bool,
}

fn yes() -> bool {
    true
}

impl Validation {
    /// A rule that could not be validated, with why.
    pub(crate) fn not_checked(reason: String) -> Self {
        Self {
            is_valid: false,
            failure: Some(reason),
            upstream_registry_url: None,
            credential_arn: None,
            checked: false,
            skipped: false,
        }
    }

    /// Not validated: the target is skipped, with why.
    pub(crate) fn skipped(reason: String) -> Self {
        Self {
            skipped: true,
            ..Self::not_checked(reason)
        }
    }

    /// `true`/`false` when ECR was asked in this run; `None` otherwise.
    pub(crate) fn answer(&self) -> Option<bool> {
        self.checked.then_some(self.is_valid)
    }
}

/// What one pull through the cache found in a target (`probe`, `validate --probe-image`).
/// Every field is what this run saw; `None` is "not checked", never a guess.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Probe {
    /// The image as pulled from the registry: `PREFIX/GROUP/PROJECT/IMAGE:TAG`.
    pub(crate) image: String,
    /// The role that pulled, when not the member role (`--as-role`).
    pub(crate) pulled_as: Option<String>,
    pub(crate) ok: bool,
    /// The registry's HTTP status for the manifest request.
    pub(crate) status: Option<u16>,
    /// The manifest digest (`Docker-Content-Digest`).
    pub(crate) digest: Option<String>,
    /// How long the pull took, from the manifest request to the last blob.
    pub(crate) ms: Option<u64>,
    /// Blobs downloaded and checked against their digests (the config and the smallest layer).
    #[serde(default)]
    pub(crate) blobs: Option<u32>,
    /// Bytes of those blobs.
    #[serde(default)]
    pub(crate) bytes: Option<u64>,
    /// What the pull left out on purpose (a blob over `--max-blob-mib`), or which platform an
    /// index resolved to.
    #[serde(default)]
    pub(crate) note: Option<String>,
    /// Whether the cached repository existed before this probe (then ECR served the cache).
    pub(crate) cached: Option<bool>,
    /// Why the pull failed, in words.
    pub(crate) failure: Option<String>,
    /// The cached repository's tag mutability and lifecycle policy, read after the pull.
    pub(crate) repository_tag_mutability: Option<String>,
    pub(crate) repository_lifecycle_policy: Option<String>,
}

/// What only the compliance inspection reads about the secret: when it last changed, and the
/// token's expiry date from the secret's tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SecretDates {
    /// Unix seconds.
    pub(crate) last_changed: Option<i64>,
    /// `YYYY-MM-DD`.
    pub(crate) expires_on: Option<String>,
    /// Whether the secret's current version is the current registry token's; `None` when the
    /// run was not given the token.
    pub(crate) holds_current: Option<bool>,
}

/// A time, kept as Unix seconds (one per report row, so small), shown and saved as RFC 3339.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct CheckedAt(pub i64);

impl CheckedAt {
    pub(crate) fn from_system(t: std::time::SystemTime) -> Self {
        CheckedAt(DateTime::from(t).secs())
    }
}

impl fmt::Display for CheckedAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = DateTime::from_secs(self.0)
            .fmt(Format::DateTime)
            .map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for CheckedAt {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CheckedAt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::from_str(&text, Format::DateTime)
            .map(|t| CheckedAt(t.secs()))
            .map_err(serde::de::Error::custom)
    }
}

/// Everything known about one target at the end of a pass: one report row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetResult {
    pub target: Target,
    pub outcome: Outcome,
    pub(crate) observed: Option<Observed>,
    /// `plan`: the decision; `apply`: what was decided before converging.
    pub(crate) decision: Option<Decision>,
    /// Actions actually carried out (apply).
    pub taken: Vec<Action>,
    pub(crate) validation: Option<Validation>,
    /// Why the target ended as it did when that was not plain success: the error that stopped
    /// it, the conflict, staleness, skip or not-attempted reason.
    pub error: Option<String>,
    /// When the target's state was last read.
    pub(crate) checked_at: CheckedAt,
    /// `report`: the secret's dates, which only the inspection reads.
    #[serde(skip)]
    pub(crate) secret_dates: Option<Box<SecretDates>>,
    /// `probe`, `validate --probe-image`: the pull through the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) probe: Option<Box<Probe>>,
    /// How long the target's work took in this pass (the JUnit report's time); `None` for a
    /// target never started or abandoned in flight. Not saved in a plan: it is this run's.
    #[serde(skip)]
    pub(crate) elapsed: Option<std::time::Duration>,
}

impl TargetResult {
    pub(crate) fn new(target: Target, outcome: Outcome, checked_at: CheckedAt) -> Self {
        Self {
            target,
            outcome,
            observed: None,
            decision: None,
            taken: Vec::new(),
            validation: None,
            error: None,
            checked_at,
            secret_dates: None,
            probe: None,
            elapsed: None,
        }
    }

    /// Ends the row as `outcome`, saying why.
    pub(crate) fn ending(mut self, outcome: Outcome, why: impl Into<String>) -> Self {
        self.outcome = outcome;
        self.error = Some(why.into());
        self
    }

    /// Whether the row counts as a failure for the exit code: a failing outcome, a rule that
    /// was validated (or could not be) and is not known valid, or a pull that failed.
    pub fn is_failure(&self) -> bool {
        self.outcome.is_failure()
            || self.validation.as_ref().is_some_and(|v| !v.is_valid)
            || self.probe.as_ref().is_some_and(|p| !p.ok)
    }

    /// The failure column: the error that stopped the target, else the validation failure,
    /// else the pull's.
    pub(crate) fn failure(&self) -> Option<String> {
        self.error
            .clone()
            .or_else(|| {
                self.validation.as_ref().filter(|v| !v.is_valid).map(|v| {
                    v.failure
                        .clone()
                        .unwrap_or_else(|| "rule is not valid".to_owned())
                })
            })
            .or_else(|| {
                self.probe.as_ref().filter(|p| !p.ok).map(|p| {
                    p.failure
                        .clone()
                        .unwrap_or_else(|| "pull failed".to_owned())
                })
            })
    }
}
