//! Account discovery: the Organization's accounts, filtered by state, allow-list, OU subtrees and
//! exclusions. Every account that is not targeted is kept with the reason, so `accounts` can show
//! why.

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use aws_sdk_organizations::types::ChildType;
use futures::stream::{FuturesUnordered, StreamExt};

use crate::error::ApiError;
use crate::rollout::Rollout;

/// Organizations pages hold at most 20 entries.
const PAGE_SIZE: i32 = 20;

/// One account of the Organization.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// The account `State` (ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED, ...).
    pub state: String,
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
    pub unknown_ids: Vec<String>,
}

/// Lists the Organization and applies the rollout file's filters.
pub async fn discover(
    orgs: &aws_sdk_organizations::Client,
    rollout: &Rollout,
) -> Result<Discovery, ApiError> {
    let (accounts, in_ous) = futures::try_join!(list_accounts(orgs), async {
        if rollout.organizational_units.is_empty() {
            Ok(None)
        } else {
            accounts_under(orgs, &rollout.organizational_units)
                .await
                .map(Some)
        }
    })?;
    Ok(filter(accounts, in_ous.as_ref(), rollout))
}

/// Applies state and filters to a listing. Pure, so the filter rules are unit-tested directly.
pub fn filter(
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
        let reason = if a.state != "ACTIVE" {
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
        };
        match reason {
            Some(r) => d.skipped.push((a, r)),
            None => d.targeted.push(a),
        }
    }
    d
}

/// Every account of the Organization, paged until NextToken is absent (a page may be empty while
/// more follow).
async fn list_accounts(orgs: &aws_sdk_organizations::Client) -> Result<Vec<Account>, ApiError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = orgs
            .list_accounts()
            .max_results(PAGE_SIZE)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("", "", "organizations:ListAccounts", e))?;
        out.extend(page.accounts().iter().map(account));
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(out),
        }
    }
}

fn account(a: &aws_sdk_organizations::types::Account) -> Account {
    Account {
        id: a.id().unwrap_or_default().to_owned(),
        name: a.name().unwrap_or_default().to_owned(),
        state: a
            .state()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|| "UNKNOWN".to_owned()),
    }
}

/// Ids of the accounts in the subtrees of `roots`, walking every OU level in parallel.
async fn accounts_under(
    orgs: &aws_sdk_organizations::Client,
    roots: &[String],
) -> Result<HashSet<String>, ApiError> {
    let mut found = HashSet::new();
    let mut pending: FuturesUnordered<_> =
        roots.iter().map(|ou| children(orgs, ou.clone())).collect();
    while let Some(result) = pending.next().await {
        let (accounts, ous) = result?;
        found.extend(accounts);
        pending.extend(ous.into_iter().map(|ou| children(orgs, ou)));
    }
    Ok(found)
}

/// The accounts directly under `parent` and its child OUs.
async fn children(
    orgs: &aws_sdk_organizations::Client,
    parent: String,
) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let accounts = async {
        let mut ids = Vec::new();
        let mut token = None;
        loop {
            let page = orgs
                .list_accounts_for_parent()
                .parent_id(&parent)
                .max_results(PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    ApiError::from_sdk("", "", "organizations:ListAccountsForParent", e)
                })?;
            ids.extend(
                page.accounts()
                    .iter()
                    .filter_map(|a| a.id().map(str::to_owned)),
            );
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok::<_, ApiError>(ids),
            }
        }
    };
    let ous = async {
        let mut ids = Vec::new();
        let mut token = None;
        loop {
            let page = orgs
                .list_children()
                .parent_id(&parent)
                .child_type(ChildType::OrganizationalUnit)
                .max_results(PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| ApiError::from_sdk("", "", "organizations:ListChildren", e))?;
            ids.extend(
                page.children()
                    .iter()
                    .filter_map(|c| c.id().map(str::to_owned)),
            );
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok::<_, ApiError>(ids),
            }
        }
    };
    futures::try_join!(accounts, ous)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(id: &str, state: &str) -> Account {
        Account {
            id: id.into(),
            name: format!("n{id}"),
            state: state.into(),
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
