//! Opt-in Regions: which ones there are, and which accounts have enabled which.

use std::collections::HashMap;

/// The Regions AWS accounts must opt in to: the tool's own list, so the two cannot drift.
pub use ptc_rollout::data::regions::OPT_IN_REGIONS;

/// Whether GetRegionOptStatus knows the Region here: the commercial partition's, as in the
/// tool's Region list.
pub(crate) fn is_commercial(region: &str) -> bool {
    ptc_rollout::data::regions::is_known(region)
        && ptc_rollout::data::regions::partition(region) == "aws"
}

/// Which accounts have which opt-in Regions enabled: settings for one account and Region, one
/// account, one Region or everything, each numbered; the latest setting that applies wins.
/// Nothing set: disabled, as on a new AWS account.
#[derive(Default)]
pub(crate) struct OptIn {
    seq: u64,
    all: Option<(bool, u64)>,
    accounts: HashMap<u32, (bool, u64)>,
    /// Per Region index.
    regions: Vec<Option<(bool, u64)>>,
    pairs: HashMap<(u32, u8), (bool, u64)>,
}

impl OptIn {
    pub(crate) fn enabled(&self, account: u32, region: u8) -> bool {
        [
            self.all,
            self.accounts.get(&account).copied(),
            self.regions.get(region as usize).copied().flatten(),
            self.pairs.get(&(account, region)).copied(),
        ]
        .into_iter()
        .flatten()
        .max_by_key(|(_, seq)| *seq)
        .is_some_and(|(enabled, _)| enabled)
    }

    pub(crate) fn set(&mut self, account: Option<u32>, region: Option<u8>, enabled: bool) {
        self.seq += 1;
        let v = Some((enabled, self.seq));
        match (account, region) {
            (Some(a), Some(r)) => {
                self.pairs.insert((a, r), (enabled, self.seq));
            }
            (Some(a), None) => {
                self.accounts.insert(a, (enabled, self.seq));
            }
            (None, Some(r)) => {
                let r = r as usize;
                if self.regions.len() <= r {
                    self.regions.resize(r + 1, None);
                }
                self.regions[r] = v;
            }
            (None, None) => {
                // Everything before is overridden: forget it.
                *self = OptIn {
                    seq: self.seq,
                    all: v,
                    ..OptIn::default()
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_opt_in_setting_that_applies_wins() {
        let mut o = OptIn::default();
        assert!(!o.enabled(1, 0));
        o.set(None, None, true);
        o.set(Some(1), None, false);
        assert!(o.enabled(2, 0) && !o.enabled(1, 0));
        o.set(Some(1), Some(3), true);
        assert!(o.enabled(1, 3) && !o.enabled(1, 4));
        o.set(None, Some(3), false);
        assert!(!o.enabled(1, 3) && !o.enabled(2, 3) && o.enabled(2, 4));
        o.set(None, None, false);
        assert!(!o.enabled(2, 4));
    }
}
