//! Which wave each targeted account belongs to, found once the Organization is listed: the
//! accounts under each wave's OUs are listed (their subtrees walked), and each targeted account
//! goes to the first wave that matches it. What only the listing can tell is checked here, and
//! refused as bad input before anything is written: an OU of a wave outside the targets (or not
//! in the Organization), an account of a wave the Organization does not hold or the targets'
//! OUs leave out, and targeted accounts no wave takes.

use std::collections::HashSet;

use futures::future::join_all;

use super::{tree, Discovery, Names, Pacer, SkipReason, LISTING_RATE};
use crate::aws::error::ApiError;
use crate::config::{Problem, Rollout, Wave};
use crate::data::waves::{WaveMembers, Waves};

/// The targets in waves, and the waves that took no target (worth a warning, not a refusal:
/// `--accounts` or `--regions` may narrow a wave to nothing on purpose).
#[derive(Debug, Clone, Default)]
pub(crate) struct Partition {
    pub(crate) waves: Waves,
    pub(crate) empty: Vec<String>,
}

/// Why the targets could not be put in waves.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PartitionError {
    /// The waves do not fit the Organization: bad input, though found by listing.
    #[error("the waves do not fit the Organization")]
    Refused(Vec<Problem>),
    #[error(transparent)]
    Listing(#[from] ApiError),
}

/// Puts every targeted account of `d` in its wave (see the module's comment).
pub(crate) async fn partition(
    orgs: &aws_sdk_organizations::Client,
    rollout: &Rollout,
    d: &Discovery,
) -> Result<Partition, PartitionError> {
    let mut p = Vec::new();
    check_known(rollout, d, &mut p);
    let pacer = Pacer::new(LISTING_RATE);
    let walks = rollout.waves.iter().enumerate().map(|(i, w)| {
        let pacer = &pacer;
        async move { walk_wave(orgs, pacer, i, w, d.walked_ous.as_ref()).await }
    });
    let mut under = Vec::with_capacity(rollout.waves.len());
    for walked in join_all(walks).await {
        match walked {
            Ok(accounts) => under.push(accounts),
            Err(Walk::Refused(problem)) => {
                p.push(problem);
                under.push(HashSet::new());
            }
            Err(Walk::Failed(e)) => return Err(PartitionError::Listing(e)),
        }
    }
    let mut members: Vec<WaveMembers> = rollout
        .waves
        .iter()
        .map(|w| WaveMembers {
            name: w.name.clone(),
            accounts: Vec::new(),
        })
        .collect();
    let mut in_no_wave = Vec::new();
    for a in &d.targeted {
        let wave = rollout.waves.iter().zip(&under).position(|(w, under)| {
            w.takes_the_rest() || w.accounts.contains(&a.id) || under.contains(&a.id)
        });
        match wave {
            Some(i) => members[i].accounts.push(a.id.clone()),
            None => in_no_wave.push(format!("{} ({})", a.id, a.name)),
        }
    }
    if !in_no_wave.is_empty() {
        let n = in_no_wave.len();
        let shown = in_no_wave
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = if n > 5 { ", ..." } else { "" };
        p.push(Problem::new(
            "waves",
            format!("{n} targeted account(s) are in no wave: {shown}{more}"),
            "add a last wave without organizational_units or accounts (e.g. name = \"rest\") to take every target left, or name them in a wave",
        ));
    }
    if !p.is_empty() {
        return Err(PartitionError::Refused(p));
    }
    let empty = members
        .iter()
        .filter(|w| w.accounts.is_empty())
        .map(|w| w.name.clone())
        .collect();
    // `d.targeted` is sorted by id, so each wave's accounts are too.
    Ok(Partition {
        waves: Waves::from(members),
        empty,
    })
}

/// The accounts of the waves, against what the listing found.
fn check_known(rollout: &Rollout, d: &Discovery, p: &mut Vec<Problem>) {
    for (i, w) in rollout.waves.iter().enumerate() {
        for (k, id) in w.accounts.iter().enumerate() {
            let field = format!("waves[{i}].accounts[{k}]");
            let skipped = d.skipped.iter().find(|(a, _)| a.id == *id);
            let known = skipped.is_some() || d.targeted.iter().any(|a| a.id == *id);
            if !known {
                p.push(Problem::new(
                    field,
                    format!("{id} is not an account of the Organization"),
                    "correct the id, or remove it from the wave",
                ));
            } else if matches!(skipped, Some((_, SkipReason::OutsideOrganizationalUnits))) {
                p.push(Problem::new(
                    field,
                    format!("{id} is outside targets.organizational_units, so it is not a target"),
                    "remove it from the wave, or target its OU in targets.organizational_units",
                ));
            }
        }
    }
}

/// Why a wave's OUs could not be walked.
enum Walk {
    Refused(Problem),
    Failed(ApiError),
}

/// The accounts under the wave's OUs. An OU outside the targets' OU subtrees is refused
/// without a call; one the Organization does not hold is refused on Organizations' answer.
async fn walk_wave(
    orgs: &aws_sdk_organizations::Client,
    pacer: &Pacer,
    i: usize,
    w: &Wave,
    targets_ous: Option<&HashSet<String>>,
) -> Result<HashSet<String>, Walk> {
    let field = |k: usize| format!("waves[{i}].organizational_units[{k}]");
    if let Some(targets_ous) = targets_ous {
        if let Some(k) = w
            .organizational_units
            .iter()
            .position(|ou| !targets_ous.contains(ou))
        {
            let ou = &w.organizational_units[k];
            return Err(Walk::Refused(Problem::new(
                field(k),
                format!("{ou} is outside targets.organizational_units (neither one of them nor below one)"),
                "name an OU within the targets, or add it to targets.organizational_units",
            )));
        }
    }
    let mut accounts = HashSet::new();
    for (k, ou) in w.organizational_units.iter().enumerate() {
        let roots = tree::unnamed(std::slice::from_ref(ou));
        let walked = tree::walk(orgs, pacer, roots, Names::Skip, |page| {
            accounts.extend(page.into_iter().map(|a| a.id))
        })
        .await;
        match walked {
            Ok(_) => {}
            Err(e) if e.code.as_deref() == Some("ParentNotFoundException") => {
                return Err(Walk::Refused(Problem::new(
                    field(k),
                    format!("{ou} is not an OU (or root) of the Organization"),
                    "correct the id, as `aws organizations list-organizational-units-for-parent` prints it",
                )))
            }
            Err(e) => return Err(Walk::Failed(e)),
        }
    }
    Ok(accounts)
}
