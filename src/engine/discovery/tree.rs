//! Walking the Organization's tree: the accounts under a set of roots or OUs, every level
//! walked in parallel. A named walk also reads each OU's name (for the HTML matrix) and gives
//! every account its parent. It makes the calls an unnamed walk makes
//! (ListOrganizationalUnitsForParent returns the child OUs' names where ListChildren returns
//! their ids), plus one to name each OU it starts from; without an OU filter it walks the whole
//! tree from the roots instead of paging through ListAccounts: about two calls more per OU.

use std::collections::HashSet;
use std::sync::Arc;

use aws_sdk_organizations::types::ChildType;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;

use super::{account, each_page, Account, Pacer, PAGE_SIZE};
use crate::aws::error::ApiError;
use crate::data::target::Ou;

/// Whether a walk reads the OUs' names and gives each account its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Names {
    Read,
    Skip,
}

/// The roots of an unnamed walk: the ids as they are.
pub(super) fn unnamed(ids: &[String]) -> Vec<Arc<Ou>> {
    ids.iter()
        .map(|id| {
            Arc::new(Ou {
                id: id.clone(),
                name: String::new(),
            })
        })
        .collect()
}

/// The roots of a named walk: the given OU (or root) ids with their names, or, with none
/// given, the Organization's roots.
pub(super) async fn named_roots(
    orgs: &aws_sdk_organizations::Client,
    pacer: &Pacer,
    ids: &[String],
) -> Result<Vec<Arc<Ou>>, ApiError> {
    let mut roots = Vec::new();
    if ids.is_empty() || ids.iter().any(|id| id.starts_with("r-")) {
        each_page(
            pacer,
            |token| async move {
                let page = orgs
                    .list_roots()
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| ApiError::from_sdk("", "", "organizations:ListRoots", e))?;
                Ok((
                    page.roots().iter().map(|r| ou(r.id(), r.name())).collect(),
                    page.next_token().map(str::to_owned),
                ))
            },
            |page| roots.extend(page),
        )
        .await?;
    }
    if ids.is_empty() {
        return Ok(roots);
    }
    let mut named = Vec::new();
    for id in ids {
        if let Some(root) = roots.iter().find(|r| r.id == *id) {
            named.push(root.clone());
            continue;
        }
        pacer.wait().await;
        let out = orgs
            .describe_organizational_unit()
            .organizational_unit_id(id)
            .send()
            .await
            .map_err(|e| {
                ApiError::from_sdk("", "", "organizations:DescribeOrganizationalUnit", e)
            })?;
        let unit = out.organizational_unit();
        named.push(ou(Some(id), unit.and_then(|u| u.name())));
    }
    Ok(named)
}

fn ou(id: Option<&str>, name: Option<&str>) -> Arc<Ou> {
    Arc::new(Ou {
        id: id.unwrap_or_default().to_owned(),
        name: name.unwrap_or_default().to_owned(),
    })
}

/// The accounts in the subtrees of `roots`, every OU level walked in parallel, handed to
/// `on_page` as they are found. Returns every OU walked, `roots` included.
pub(super) async fn walk(
    orgs: &aws_sdk_organizations::Client,
    pacer: &Pacer,
    roots: Vec<Arc<Ou>>,
    names: Names,
    mut on_page: impl FnMut(Vec<Account>),
) -> Result<HashSet<String>, ApiError> {
    let mut walked: HashSet<String> = roots.iter().map(|ou| ou.id.clone()).collect();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut pending: FuturesUnordered<_> = roots
        .into_iter()
        .map(|ou| children(orgs, pacer, ou, names, tx.clone()))
        .collect();
    while !pending.is_empty() {
        tokio::select! {
            Some(page) = rx.recv() => on_page(page),
            Some(result) = pending.next() => {
                for ou in result? {
                    walked.insert(ou.id.clone());
                    pending.push(children(orgs, pacer, ou, names, tx.clone()));
                }
            }
        }
    }
    drop(tx);
    while let Some(page) = rx.recv().await {
        on_page(page);
    }
    Ok(walked)
}

/// Sends the accounts directly under `parent`, page by page, and returns its child OUs.
async fn children(
    orgs: &aws_sdk_organizations::Client,
    pacer: &Pacer,
    parent: Arc<Ou>,
    names: Names,
    found: mpsc::UnboundedSender<Vec<Account>>,
) -> Result<Vec<Arc<Ou>>, ApiError> {
    let id = parent.id.as_str();
    let named_parent = (names == Names::Read).then(|| parent.clone());
    let accounts = each_page(
        pacer,
        |token| async move {
            let page = orgs
                .list_accounts_for_parent()
                .parent_id(id)
                .max_results(PAGE_SIZE)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    ApiError::from_sdk("", "", "organizations:ListAccountsForParent", e)
                })?;
            Ok((
                page.accounts().iter().map(account).collect(),
                page.next_token().map(str::to_owned),
            ))
        },
        |mut page: Vec<Account>| {
            for a in &mut page {
                a.parent.clone_from(&named_parent);
            }
            let _ = found.send(page);
        },
    );
    let mut ous = Vec::new();
    let child_ous = async {
        match names {
            Names::Read => {
                each_page(
                    pacer,
                    |token| named_children(orgs, id, token),
                    |page| ous.extend(page),
                )
                .await
            }
            Names::Skip => {
                each_page(
                    pacer,
                    |token| child_ids(orgs, id, token),
                    |page| ous.extend(page),
                )
                .await
            }
        }
    };
    futures::try_join!(accounts, child_ous)?;
    Ok(ous)
}

/// One page of the OUs directly under `parent`, with their names.
async fn named_children(
    orgs: &aws_sdk_organizations::Client,
    parent: &str,
    token: Option<String>,
) -> Result<(Vec<Arc<Ou>>, Option<String>), ApiError> {
    let page = orgs
        .list_organizational_units_for_parent()
        .parent_id(parent)
        .max_results(PAGE_SIZE)
        .set_next_token(token)
        .send()
        .await
        .map_err(|e| {
            ApiError::from_sdk("", "", "organizations:ListOrganizationalUnitsForParent", e)
        })?;
    Ok((
        page.organizational_units()
            .iter()
            .map(|u| ou(u.id(), u.name()))
            .collect(),
        page.next_token().map(str::to_owned),
    ))
}

/// One page of the ids of the OUs directly under `parent`.
async fn child_ids(
    orgs: &aws_sdk_organizations::Client,
    parent: &str,
    token: Option<String>,
) -> Result<(Vec<Arc<Ou>>, Option<String>), ApiError> {
    let page = orgs
        .list_children()
        .parent_id(parent)
        .child_type(ChildType::OrganizationalUnit)
        .max_results(PAGE_SIZE)
        .set_next_token(token)
        .send()
        .await
        .map_err(|e| ApiError::from_sdk("", "", "organizations:ListChildren", e))?;
    Ok((
        page.children().iter().map(|c| ou(c.id(), None)).collect(),
        page.next_token().map(str::to_owned),
    ))
}
