//! The simulated AWS's state, kept compact: 100,000 targets with a secret and a rule each fit in
//! a few tens of megabytes. Strings that repeat across targets (secret names, values, tags, rule
//! prefixes and URLs) are interned and shared; a rule's credential that names a secret of its
//! own target is stored as that secret's name and suffix, not as a full ARN.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use super::model::{Api, Bucket, Quotas};
use super::regions::{OptIn, OPT_IN_REGIONS};
use super::templates::Template;
use super::versions::Secret;
use super::Fault;

/// Members get ids `MEMBER_ID_BASE + i`.
pub(crate) const MEMBER_ID_BASE: u64 = 200_000_000_000;
pub(crate) const ROOT_ID: &str = "r-root";
pub(crate) const ORG_ID: &str = "o-simulated1";

pub(crate) type Tags = Arc<[(Arc<str>, Arc<str>)]>;

/// Interned strings and tag sets.
#[derive(Default)]
pub(crate) struct Interner {
    strings: HashSet<Arc<str>>,
    tags: HashSet<Tags>,
}

impl Interner {
    pub(crate) fn str(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(a.clone());
        a
    }

    pub(crate) fn tags(&mut self, tags: Vec<(Arc<str>, Arc<str>)>) -> Tags {
        if let Some(t) = self.tags.get(&tags[..]) {
            return t.clone();
        }
        let t: Tags = Arc::from(tags);
        self.tags.insert(t.clone());
        t
    }
}

/// A rule's credential: a secret of the same target, by name and suffix (ECR accepts only a
/// secret it finds in the rule's account and Region).
pub(crate) struct Cred {
    pub name: Arc<str>,
    pub suffix: [u8; 6],
}

impl Cred {
    pub(crate) fn arn(&self, ctx: &Ctx) -> String {
        SecretArn {
            ctx,
            name: &self.name,
            suffix: &self.suffix,
        }
        .to_string()
    }
}

pub(crate) struct Rule {
    pub prefix: Arc<str>,
    pub url: Arc<str>,
    pub registry: Option<Arc<str>>,
    pub cred: Option<Cred>,
    pub created: u32,
    pub updated: u32,
}

/// One (account, Region): its secrets, its rules, its repository creation templates, and its
/// per-target quota buckets.
#[derive(Default)]
pub(crate) struct Target {
    pub secrets: Vec<Secret>,
    pub rules: Vec<Rule>,
    pub templates: Vec<Template>,
    pub writes: Bucket,
    pub reads: Bucket,
}

impl Target {
    /// Forgets secrets whose recovery window has passed.
    pub(crate) fn purge(&mut self, now: u32) {
        if self
            .secrets
            .iter()
            .any(|s| s.deleted != 0 && s.purge_at <= now)
        {
            self.secrets.retain(|s| s.deleted == 0 || s.purge_at > now);
        }
    }

    pub(crate) fn secret_index(&self, ctx: &Ctx, id: &str) -> Option<usize> {
        match split_secret_arn(ctx, id) {
            Some((name, Some(suffix))) => self
                .secrets
                .iter()
                .position(|s| &*s.name == name && s.suffix == suffix),
            Some((name, None)) => self.secrets.iter().position(|s| &*s.name == name),
            None => self.secrets.iter().position(|s| &*s.name == id),
        }
    }

    pub(crate) fn rule_index(&self, prefix: &str) -> Option<usize> {
        self.rules.iter().position(|r| &*r.prefix == prefix)
    }

    /// The secret a credential names, if it is in this target.
    pub(crate) fn cred_secret(&self, cred: &Cred) -> Option<&Secret> {
        self.secrets
            .iter()
            .find(|s| s.name == cred.name && s.suffix == cred.suffix)
    }
}

/// Where a call happens and when: the account index (0 = management), the Region index, and
/// the virtual wall clock.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub account: u32,
    pub account_id: u64,
    pub region: u8,
    pub region_name: &'a str,
    pub now_secs: f64,
    pub now_nanos: u64,
}

impl Ctx<'_> {
    pub(crate) fn now(&self) -> u32 {
        self.now_secs as u32
    }
}

/// `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME` (with or without the 6-character
/// suffix) in this target: the name and, when present, the suffix. `None` for anything that is
/// not an ARN of this target.
pub(crate) fn split_secret_arn<'s>(ctx: &Ctx, arn: &'s str) -> Option<(&'s str, Option<[u8; 6]>)> {
    let rest = arn.strip_prefix("arn:aws:secretsmanager:")?;
    let rest = rest.strip_prefix(ctx.region_name)?.strip_prefix(':')?;
    let (account, rest) = rest.split_at_checked(12)?;
    if account.parse::<u64>().ok()? != ctx.account_id {
        return None;
    }
    let full = rest.strip_prefix(":secret:")?;
    let b = full.as_bytes();
    if b.len() > 7
        && b[b.len() - 7] == b'-'
        && b[b.len() - 6..].iter().all(u8::is_ascii_alphanumeric)
    {
        let mut suffix = [0u8; 6];
        suffix.copy_from_slice(&b[b.len() - 6..]);
        Some((&full[..full.len() - 7], Some(suffix)))
    } else {
        Some((full, None))
    }
}

/// Writes a secret's ARN.
pub(crate) struct SecretArn<'a> {
    pub ctx: &'a Ctx<'a>,
    pub name: &'a str,
    pub suffix: &'a [u8; 6],
}

impl fmt::Display for SecretArn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:aws:secretsmanager:{}:{:012}:secret:{}-{}",
            self.ctx.region_name,
            self.ctx.account_id,
            self.name,
            std::str::from_utf8(self.suffix).unwrap_or("AAAAAA")
        )
    }
}

/// The Organization's shape, all derived from a few numbers.
pub(crate) struct Org {
    pub management: u64,
    pub members: usize,
    pub ous: usize,
    pub suspended_every: usize,
}

/// A parent in the Organization.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parent {
    Root,
    Ou(usize),
}

impl Org {
    pub(crate) fn accounts(&self) -> usize {
        self.members + 1
    }

    /// Account id of index `i` (0 = management).
    pub(crate) fn account_id(&self, i: usize) -> u64 {
        if i == 0 {
            self.management
        } else {
            MEMBER_ID_BASE + (i as u64 - 1)
        }
    }

    pub(crate) fn is_active(&self, i: usize) -> bool {
        i == 0 || self.suspended_every == 0 || !i.is_multiple_of(self.suspended_every)
    }

    pub(crate) fn ou_id(k: usize) -> String {
        format!("ou-root-{k:08}")
    }

    pub(crate) fn parent(&self, id: &str) -> Option<Parent> {
        if id == ROOT_ID {
            return Some(Parent::Root);
        }
        let k: usize = id.strip_prefix("ou-root-")?.parse().ok()?;
        (k < self.ous && id.len() == 16).then_some(Parent::Ou(k))
    }

    /// Accounts directly under `parent`, as account indexes `start + n * step` for n below
    /// `count`: `(count, start, step)`.
    pub(crate) fn accounts_under(&self, parent: Parent) -> (usize, usize, usize) {
        match parent {
            Parent::Root if self.ous == 0 => (self.accounts(), 0, 1),
            Parent::Root => (1, 0, 1),
            Parent::Ou(k) if k < self.members => {
                ((self.members - k).div_ceil(self.ous), 1 + k, self.ous)
            }
            Parent::Ou(_) => (0, 0, 1),
        }
    }
}

/// Counters behind [`super::Metrics`].
#[derive(Default, Clone)]
pub(crate) struct Counters {
    pub calls: [u64; Api::COUNT],
    pub throttled: u64,
    pub failed_injected: u64,
}

/// Settings a test may change while the simulation runs.
pub(crate) struct Knobs {
    /// Every role's MaxSessionDuration, in seconds.
    pub max_session_duration: i64,
    /// How long a name stays taken after DeleteSecret with ForceDeleteWithoutRecovery.
    pub force_delete_delay_nanos: u64,
    /// Whether DescribeSecret still shows a force-deleted secret during that delay.
    pub force_delete_visible: bool,
    /// DescribeSecret of an absent secret is AccessDeniedException (see the config's).
    pub describe_secret_by_arn_only: bool,
    /// Whether the caller's own keys are an assumed role's session (AssumeRole is then role
    /// chaining, capped at one hour).
    pub caller_assumed_role: bool,
}

/// Names still taken after forced deletions, with the virtual time (nanos) each is free at.
pub(crate) type Tombstones = Vec<(Arc<str>, u64)>;

/// Everything mutable, behind the simulation's one lock.
pub(crate) struct State {
    pub org: Org,
    pub account_index: HashMap<u64, u32>,
    pub regions: Vec<Arc<str>>,
    /// Per Region index: whether it is an opt-in Region.
    pub region_opt_in: Vec<bool>,
    pub opt_in: OptIn,
    pub targets: HashMap<(u32, u8), Target>,
    /// Names still taken after a forced deletion, per target.
    pub tombstones: HashMap<(u32, u8), Tombstones>,
    pub interner: Interner,
    pub quotas: Quotas,
    pub knobs: Knobs,
    pub org_bucket: Bucket,
    pub assume_buckets: HashMap<u32, Bucket>,
    pub counters: Counters,
    /// Accounts whose ECR and Secrets Manager calls fail or never answer ([`Sim::set_fault`]).
    ///
    /// [`Sim::set_fault`]: crate::Sim::set_fault
    pub faults: HashMap<u32, Fault>,
}

impl State {
    pub(crate) fn new(org: Org, quotas: Quotas, knobs: Knobs) -> Self {
        let mut account_index = HashMap::with_capacity(org.accounts());
        for i in 0..org.accounts() {
            let prev = account_index.insert(org.account_id(i), i as u32);
            assert!(
                prev.is_none(),
                "management account {:012} collides with a member id",
                org.management
            );
        }
        State {
            org_bucket: Bucket::default(),
            org,
            account_index,
            regions: Vec::new(),
            region_opt_in: Vec::new(),
            opt_in: OptIn::default(),
            targets: HashMap::new(),
            tombstones: HashMap::new(),
            interner: Interner::default(),
            quotas,
            knobs,
            assume_buckets: HashMap::new(),
            counters: Counters::default(),
            faults: HashMap::new(),
        }
    }

    /// The Region's index, interning a new Region (at most 256).
    pub(crate) fn region(&mut self, name: &str) -> Option<u8> {
        if let Some(i) = self.regions.iter().position(|r| &**r == name) {
            return Some(i as u8);
        }
        if self.regions.len() >= 256 {
            return None;
        }
        self.regions.push(Arc::from(name));
        self.region_opt_in.push(OPT_IN_REGIONS.contains(&name));
        Some((self.regions.len() - 1) as u8)
    }

    /// Whether the account has the Region enabled: always, unless it is an opt-in Region.
    pub(crate) fn region_enabled(&self, account: u32, region: u8) -> bool {
        !self.region_opt_in[region as usize] || self.opt_in.enabled(account, region)
    }

    /// Enables or disables opt-in Regions: `account` is an account index and `region` a Region
    /// name, `None` for all. The latest setting that applies wins.
    pub(crate) fn set_region_opt(
        &mut self,
        account: Option<u32>,
        region: Option<&str>,
        enabled: bool,
    ) {
        let region = match region {
            Some(name) => match self.region(name) {
                Some(r) => Some(r),
                None => return,
            },
            None => None,
        };
        self.opt_in.set(account, region, enabled);
    }
}

/// Pushes without the spare capacity `Vec` growth leaves: most targets hold one secret and
/// one rule for ever.
pub(crate) fn push_exact<T>(v: &mut Vec<T>, x: T) {
    v.reserve_exact(1);
    v.push(x);
}

/// FNV-1a, for ClientRequestTokens (idempotency needs equality, not the token itself).
pub(crate) fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}
