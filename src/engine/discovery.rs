//! Account discovery: the Organization's accounts, filtered by state, allow-list, OU subtrees and
//! exclusions, and streamed as (account, Region) targets while the listing goes on. Every account
//! that is not targeted is kept with the reason, so `accounts` can show why.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{BoxStream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::aws::error::ApiError;
use crate::config::Rollout;
use crate::data::target::{Ou, Target};
pub(crate) use waves::{partition, Partition, PartitionError};

mod tree;
mod waves;

pub(crate) use tree::Names;

/// Organizations pages hold at most 20 entries.
const PAGE_SIZE: i32 = 20;

/// One account of the Organization.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// The account `State` (ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED, ...).
    pub state: String,
    /// The parent OU (or root), when the listing walked the tree reading names.
    pub(crate) parent: Option<Arc<Ou>>,
}

/// Why an account of the Organization is not a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Only ACTIVE accounts can be entered.
    NotActive(String),
    NotInAllowList,
    OutsideOrganizationalUnits,
    Excluded,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotActive(state) => write!(f, "account state is {state}"),
            SkipReason::NotInAllowList => f.write_str("not in the accounts allow-list"),
            SkipReason::OutsideOrganizationalUnits => {
                f.write_str("outside the organizational_units subtrees")
            }
            SkipReason::Excluded => f.write_str("listed in exclude_accounts"),
        }
    }
}

/// What discovery found.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Targeted accounts, sorted by id.
    pub targeted: Vec<Account>,
    /// Accounts left out, with why, sorted by id.
    pub skipped: Vec<(Account, SkipReason)>,
    /// Allow-listed or excluded ids that the Organization does not hold (likely typos).
    pub(crate) unknown_ids: Vec<String>,
    /// With `targets.organizational_units`: every OU of their subtrees, themselves included.
    walked_ous: Option<HashSet<String>>,
}

/// Organizations throttles its listing calls at about 8 requests per second; pacing below that
/// keeps a long listing free of throttling retries.
const LISTING_RATE: f64 = 8.0;

/// Lists the whole Organization and applies the rollout file's filters (for `accounts`, which
/// shows every account with why it is or is not targeted).
pub async fn discover(
    orgs: &aws_sdk_organizations::Client,
    rollout: &Rollout,
) -> Result<Discovery, ApiError> {
    let pacer = Pacer::new(LISTING_RATE);
    let mut accounts = Vec::new();
    let listing = list_accounts(orgs, &pacer, |page| accounts.extend(page));
    let (listed, in_ous) = futures::join!(listing, async {
        if rollout.organizational_units.is_empty() {
            Ok(None)
        } else {
            let mut set = HashSet::new();
            let roots = tree::unnamed(&rollout.organizational_units);
            tree::walk(orgs, &pacer, roots, Names::Skip, |page| {
                set.extend(page.into_iter().map(|a| a.id))
            })
            .await
            .map(|walked| Some((set, walked)))
        }
    });
    listed?;
    let (in_ous, walked_ous) = in_ous?.unzip();
    Ok(Discovery {
        walked_ous,
        ..filter(accounts, in_ous.as_ref(), rollout)
    })
}

/// What a streaming listing found besides the targeted accounts it sent.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub(crate) targeted: usize,
    pub(crate) skipped: usize,
    /// Allow-listed or excluded ids that the listing did not meet (likely typos).
    pub(crate) unknown_ids: Vec<String>,
}

/// Streams the targeted accounts as the listing finds them, so work can start on the first
/// account while the rest are still being listed. With OU filters, the OU subtrees are walked
/// in parallel (ListChildren, ListAccountsForParent) instead of listing the whole Organization.
/// With [`Names::Read`] the tree is walked in any case (from the Organization's roots when there
/// is no OU filter), naming each account's parent OU.
pub(crate) fn stream(
    orgs: aws_sdk_organizations::Client,
    rollout: Arc<Rollout>,
    names: Names,
) -> (mpsc::UnboundedReceiver<Account>, ListingTask) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let pacer = Pacer::new(LISTING_RATE);
        let mut listing = Listing::default();
        let mut seen = HashSet::new();
        let send = |page: Vec<Account>| {
            for a in page {
                // Nested OU filters (a root and an OU below it) reach an account twice.
                if !seen.insert(a.id.clone()) {
                    continue;
                }
                // OU walks already stand for the OU filter.
                match skip_reason(&a, None, &rollout) {
                    None => {
                        listing.targeted += 1;
                        let _ = tx.send(a);
                    }
                    Some(why) => {
                        tracing::debug!(account = %a.id, %why, "account skipped");
                        listing.skipped += 1;
                    }
                }
            }
        };
        let ous = &rollout.organizational_units;
        match names {
            Names::Read => {
                let roots = tree::named_roots(&orgs, &pacer, ous).await?;
                tree::walk(&orgs, &pacer, roots, names, send).await?;
            }
            Names::Skip if ous.is_empty() => list_accounts(&orgs, &pacer, send).await?,
            Names::Skip => {
                tree::walk(&orgs, &pacer, tree::unnamed(ous), names, send).await?;
            }
        }
        let named = rollout
            .accounts
            .iter()
            .flatten()
            .chain(&rollout.exclude_accounts);
        listing.unknown_ids = named.filter(|id| !seen.contains(*id)).cloned().collect();
        listing.unknown_ids.sort();
        listing.unknown_ids.dedup();
        Ok(listing)
    });
    (rx, task)
}

/// The listing task of [`stream`], ending with what it found.
type ListingTask = tokio::task::JoinHandle<Result<Listing, ApiError>>;

/// The (account, Region) targets of the rollout, streamed as `stream` lists the accounts.
pub fn stream_targets(
    orgs: aws_sdk_organizations::Client,
    rollout: Arc<Rollout>,
) -> (BoxStream<'static, Target>, ListingTask) {
    stream_targets_with(orgs, rollout, Names::Skip)
}

/// [`stream_targets`], each target with its account's OU when `names` says so.
pub(crate) fn stream_targets_with(
    orgs: aws_sdk_organizations::Client,
    rollout: Arc<Rollout>,
    names: Names,
) -> (BoxStream<'static, Target>, ListingTask) {
    let matrix = Matrix::of(&rollout);
    let (accounts, task) = stream(orgs, rollout, names);
    let accounts = futures::stream::unfold(accounts, |mut rx| async move {
        rx.recv().await.map(|a| (a, rx))
    });
    let targets = accounts
        .flat_map(move |a| futures::stream::iter(matrix.targets(&a)))
        .boxed();
    (targets, task)
}

/// Each account's targets: one per Region and upstream, an account's Regions in the file's
/// order and a Region's upstreams next to each other.
#[derive(Clone)]
pub(crate) struct Matrix {
    regions: Vec<String>,
    upstreams: Vec<Arc<str>>,
}

impl Matrix {
    pub(crate) fn of(rollout: &Rollout) -> Self {
        Matrix {
            regions: rollout.regions.clone(),
            upstreams: rollout
                .upstreams
                .iter()
                .map(|u| Arc::from(u.name.as_str()))
                .collect(),
        }
    }

    pub(crate) fn targets(&self, a: &Account) -> Vec<Target> {
        let mut targets = Vec::with_capacity(self.regions.len() * self.upstreams.len());
        for region in &self.regions {
            for upstream in &self.upstreams {
                targets.push(Target {
                    account_id: a.id.clone(),
                    account_name: a.name.clone(),
                    region: region.clone(),
                    upstream: upstream.clone(),
                    ou: a.parent.clone(),
                });
            }
        }
        targets
    }
}

/// Applies state and filters to a listing. Pure, so the filter rules are unit-tested directly.
pub(crate) fn filter(
    mut accounts: Vec<Account>,
    in_ous: Option<&HashSet<String>>,
    rollout: &Rollout,
) -> Discovery {
    accounts.sort();
    let mut d = Discovery::default();
    let known: BTreeSet<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    let named = rollout
        .accounts
        .iter()
        .flatten()
        .chain(&rollout.exclude_accounts);
    d.unknown_ids = named
        .filter(|id| !known.contains(id.as_str()))
        .cloned()
        .collect();
    d.unknown_ids.sort();
    d.unknown_ids.dedup();
    for a in accounts {
        match skip_reason(&a, in_ous, rollout) {
            Some(r) => d.skipped.push((a, r)),
            None => d.targeted.push(a),
        }
    }
    d
}

/// Why an account is not a target, or `None` when it is.
fn skip_reason(
    a: &Account,
    in_ous: Option<&HashSet<String>>,
    rollout: &Rollout,
) -> Option<SkipReason> {
    if a.state != "ACTIVE" {
        Some(SkipReason::NotActive(a.state.clone()))
    } else if rollout
        .accounts
        .as_ref()
        .is_some_and(|allow| !allow.contains(&a.id))
    {
        Some(SkipReason::NotInAllowList)
    } else if in_ous.is_some_and(|set| !set.contains(&a.id)) {
        Some(SkipReason::OutsideOrganizationalUnits)
    } else if rollout.exclude_accounts.contains(&a.id) {
        Some(SkipReason::Excluded)
    } else {
        None
    }
}

/// Spaces requests so that they stay under a rate, shared by concurrent listers.
struct Pacer {
    gap: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    fn new(per_second: f64) -> Self {
        Self {
            gap: Duration::from_secs_f64(1.0 / per_second),
            next: Mutex::new(None),
        }
    }

    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().expect("not poisoned");
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.gap);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// Fetches pages until NextToken is absent (a page may be empty while more follow), handing
/// each page to `on_page` as it arrives.
async fn each_page<T, F, Fut>(
    pacer: &Pacer,
    mut fetch: F,
    mut on_page: impl FnMut(Vec<T>),
) -> Result<(), ApiError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), ApiError>>,
{
    let mut token = None;
    loop {
        pacer.wait().await;
        let (items, next) = fetch(token.take()).await?;
        on_page(items);
        match next {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(()),
        }
    }
}

/// Every account of the Organization.
async fn list_accounts(
    orgs: &aws_sdk_organizations::Client,
    pacer: &Pacer,
    on_page: impl FnMut(Vec<Account>),
) -> Result<(), ApiError> {
    let fetch = |token| async move {
        let page = orgs
            .list_accounts()
            .max_results(PAGE_SIZE)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("", "", "organizations:ListAccounts", e))?;
        Ok((
            page.accounts().iter().map(account).collect(),
            page.next_token().map(str::to_owned),
        ))
    };
    each_page(pacer, fetch, on_page).await
}

fn account(a: &aws_sdk_organizations::types::Account) -> Account {
    Account {
        id: a.id().unwrap_or_default().to_owned(),
        name: a.name().unwrap_or_default().to_owned(),
        state: a
            .state()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|| "UNKNOWN".to_owned()),
        parent: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(id: &str, state: &str) -> Account {
        Account {
            id: id.into(),
            name: format!("n{id}"),
            state: state.into(),
            parent: None,
        }
    }

    fn rollout(extra: &str) -> Rollout {
        Rollout::parse(&format!(
            "[targets]\nregions=[\"us-east-1\"]\nrole_name=\"R\"\n{extra}\n[upstream]\nregistry=\"gitlab-container-registry\"\nusername=\"u\"\ntoken_env=\"T\"\n[rule]\necr_repository_prefix=\"gitlab\"\nsecret_name=\"ecr-pullthroughcache/gitlab\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn only_active_accounts_are_targets() {
        let d = filter(
            vec![
                acct("222222222222", "SUSPENDED"),
                acct("111111111111", "ACTIVE"),
                acct("333333333333", "CLOSED"),
            ],
            None,
            &rollout(""),
        );
        assert_eq!(d.targeted, [acct("111111111111", "ACTIVE")]);
        assert_eq!(d.skipped.len(), 2);
        assert_eq!(d.skipped[0].1, SkipReason::NotActive("SUSPENDED".into()));
    }

    #[test]
    fn filters_combine() {
        let r = rollout(
            "accounts=[\"111111111111\",\"222222222222\",\"999999999999\"]\nexclude_accounts=[\"222222222222\"]",
        );
        let ous: HashSet<String> = ["111111111111", "222222222222"].map(String::from).into();
        let d = filter(
            vec![
                acct("111111111111", "ACTIVE"),
                acct("222222222222", "ACTIVE"),
                acct("333333333333", "ACTIVE"),
            ],
            Some(&ous),
            &r,
        );
        assert_eq!(d.targeted, [acct("111111111111", "ACTIVE")]);
        assert_eq!(d.skipped[0].1, SkipReason::Excluded);
        assert_eq!(d.skipped[1].1, SkipReason::NotInAllowList);
        assert_eq!(d.unknown_ids, ["999999999999"]);
    }
}
