//! Rollout in waves, as plain data: the waves in order, which wave each targeted account belongs
//! to, and the rule between waves. Made once the Organization is listed
//! (`engine::discovery::partition`) and saved with a plan, so that `apply --plan` goes through
//! the waves the plan was made with.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One wave and the accounts it took, as a saved plan records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveMembers {
    pub name: String,
    /// Account ids, sorted.
    pub accounts: Vec<String>,
}

/// The waves of a run, in order. Every targeted account is in exactly one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<WaveMembers>", into = "Vec<WaveMembers>")]
pub struct Waves {
    members: Vec<WaveMembers>,
    /// Account id to its wave's index in `members`.
    of: HashMap<String, usize>,
}

impl From<Vec<WaveMembers>> for Waves {
    fn from(members: Vec<WaveMembers>) -> Self {
        let mut of = HashMap::new();
        for (i, w) in members.iter().enumerate() {
            for a in &w.accounts {
                // The first wave that holds an account is its wave, as when the waves were made.
                of.entry(a.clone()).or_insert(i);
            }
        }
        Waves { members, of }
    }
}

impl From<Waves> for Vec<WaveMembers> {
    fn from(w: Waves) -> Self {
        w.members
    }
}

impl Waves {
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub(crate) fn name(&self, i: usize) -> &str {
        &self.members[i].name
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|w| w.name.as_str())
    }

    /// The index of the wave named `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.members.iter().position(|w| w.name == name)
    }

    /// The index of the account's wave, if it is in one.
    pub(crate) fn of(&self, account_id: &str) -> Option<usize> {
        self.of.get(account_id).copied()
    }

    /// The name of the account's wave, if it is in one.
    pub(crate) fn name_of(&self, account_id: &str) -> Option<&str> {
        self.of(account_id).map(|i| self.name(i))
    }

    /// Sorts items into their waves, in order; an item whose account is in no wave is returned
    /// apart.
    pub(crate) fn split<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        account: impl Fn(&T) -> &str,
    ) -> (Vec<Vec<T>>, Vec<T>) {
        let mut waves: Vec<Vec<T>> = self.members.iter().map(|_| Vec::new()).collect();
        let mut outside = Vec::new();
        for item in items {
            match self.of(account(&item)) {
                Some(i) => waves[i].push(item),
                None => outside.push(item),
            }
        }
        (waves, outside)
    }
}

/// How a wave ended, as the rule between waves sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaveEnd {
    /// Targets that failed or are not valid (not attempted ones included).
    pub failed: usize,
    /// The failures tolerated (`--max-failures`, of the wave's own targets); `None`: none.
    pub allowed: Option<usize>,
}

impl WaveEnd {
    /// Whether the later waves may start: a wave stops the rollout when it has more failures
    /// than tolerated, and without `--max-failures` it tolerates none (as StackSets' default
    /// failure tolerance of 0).
    pub(crate) fn lets_next_start(self) -> bool {
        self.failed <= self.allowed.unwrap_or(0)
    }

    /// Why the targets of `later` were not attempted after wave `wave` ended so.
    pub(crate) fn not_started(self, later: &str, wave: &str) -> String {
        format!(
            "not attempted: wave {later:?} not started because {}",
            self.why(wave)
        )
    }

    /// Why the rollout stopped at `wave`.
    pub(crate) fn why(self, wave: &str) -> String {
        let n = self.failed;
        let targets = if n == 1 { "target" } else { "targets" };
        match self.allowed {
            Some(allowed) => format!(
                "wave {wave:?} has {n} failed {targets}, more than --max-failures {allowed}"
            ),
            None => format!("wave {wave:?} has {n} failed {targets}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waves() -> Waves {
        Waves::from(vec![
            WaveMembers {
                name: "sandbox".into(),
                accounts: vec!["111111111111".into()],
            },
            WaveMembers {
                name: "rest".into(),
                accounts: vec!["222222222222".into(), "333333333333".into()],
            },
        ])
    }

    #[test]
    fn items_are_split_by_their_accounts_wave() {
        let w = waves();
        let (split, outside) = w.split(
            [
                "333333333333",
                "111111111111",
                "999999999999",
                "222222222222",
            ],
            |a| a,
        );
        assert_eq!(
            split,
            [vec!["111111111111"], vec!["333333333333", "222222222222"]]
        );
        assert_eq!(outside, ["999999999999"]);
        assert_eq!(w.name_of("222222222222"), Some("rest"));
        assert_eq!(w.position("rest"), Some(1));
    }

    #[test]
    fn a_plan_keeps_its_waves() {
        let json = serde_json::to_string(&waves()).unwrap();
        assert!(json.starts_with("[{\"name\":\"sandbox\""), "{json}");
        let back: Waves = serde_json::from_str(&json).unwrap();
        assert_eq!(back, waves());
        assert_eq!(back.of("333333333333"), Some(1));
    }

    #[test]
    fn a_wave_with_failures_stops_the_next_unless_tolerated() {
        let end = WaveEnd {
            failed: 2,
            allowed: None,
        };
        assert!(!end.lets_next_start());
        assert_eq!(
            end.not_started("prod", "sandbox"),
            "not attempted: wave \"prod\" not started because wave \"sandbox\" has 2 failed targets"
        );
        let tolerated = WaveEnd {
            failed: 2,
            allowed: Some(2),
        };
        assert!(tolerated.lets_next_start());
        let over = WaveEnd {
            failed: 1,
            allowed: Some(0),
        };
        assert!(over
            .why("a")
            .ends_with("1 failed target, more than --max-failures 0"));
    }
}
