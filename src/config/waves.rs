//! `[[waves]]`: the order of a rollout, checked as far as the file alone allows. Which targets
//! each wave takes, and whether an OU of a wave lies within the targets when
//! `targets.organizational_units` is set, is known only once the Organization is listed (see
//! the engine's `discovery::partition`); that check too is made before any write.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

use super::checks::check_accounts;
use super::{Problem, RawTargets, ACCOUNT_RE, OU_RE};

/// A wave's name is typed on the command line (`--wave NAME`) and in CI job names.
static NAME_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$").expect("valid regex"));

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWave {
    // Optional here so that a missing name is told with the wave's index, not a TOML line.
    name: Option<String>,
    organizational_units: Option<Vec<String>>,
    accounts: Option<Vec<String>>,
}

/// One wave of the rollout file. A target belongs to the first wave that matches it; a wave
/// without filters matches every target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wave {
    pub(crate) name: String,
    /// OU (or root) ids whose whole subtrees the wave takes.
    pub(crate) organizational_units: Vec<String>,
    pub(crate) accounts: BTreeSet<String>,
}

impl Wave {
    /// A wave without filters takes every target no earlier wave took.
    pub(crate) fn takes_the_rest(&self) -> bool {
        self.organizational_units.is_empty() && self.accounts.is_empty()
    }
}

/// The waves in file order; every problem is told at once.
pub(super) fn check_waves(
    raw: Vec<RawWave>,
    t: &RawTargets,
    allowed: Option<&BTreeSet<String>>,
    p: &mut Vec<Problem>,
) -> Vec<Wave> {
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut ous: HashMap<String, String> = HashMap::new();
    let mut accounts: HashMap<String, String> = HashMap::new();
    let count = raw.len();
    let mut waves = Vec::with_capacity(count);
    for (i, w) in raw.into_iter().enumerate() {
        let at = format!("waves[{i}]");
        let name = w.name.unwrap_or_default();
        check_name(&at, &name, &mut names, i, p);
        let wave_ous = check_list(
            &at,
            "organizational_units",
            w.organizational_units,
            p,
            |field, ou| {
                (!OU_RE.is_match(ou)).then(|| Problem::new(field, format!("{ou:?} is not an OU id"), "use ids like \"ou-ab12-cdef3456\" (or a root \"r-ab12\"), as `aws organizations list-organizational-units-for-parent` prints them"))
            },
        );
        for (k, ou) in wave_ous.iter().enumerate() {
            once_across(&mut ous, ou, &at, "organizational_units", k, p);
        }
        if let Some(ids) = &w.accounts {
            check_accounts(&format!("{at}.accounts"), ids, p);
        }
        let wave_accounts = check_list(&at, "accounts", w.accounts, p, |field, id| {
            targeted_account(field, id, t, allowed)
        });
        for (k, id) in wave_accounts.iter().enumerate() {
            once_across(&mut accounts, id, &at, "accounts", k, p);
        }
        let wave = Wave {
            name,
            organizational_units: wave_ous,
            accounts: wave_accounts.into_iter().collect(),
        };
        if wave.takes_the_rest() && i + 1 < count {
            p.push(Problem::new(
                at,
                format!(
                    "{:?} has neither organizational_units nor accounts, so it takes every target left and the {} wave(s) after it would be empty",
                    wave.name,
                    count - i - 1
                ),
                "make it the last wave, or give it organizational_units or accounts",
            ));
        }
        waves.push(wave);
    }
    waves
}

/// A wave's name: present, short, and its own.
fn check_name(
    at: &str,
    name: &str,
    seen: &mut HashMap<String, usize>,
    i: usize,
    p: &mut Vec<Problem>,
) {
    let field = format!("{at}.name");
    let fix = "name each wave with 1 to 32 letters, digits, - or _, e.g. name = \"sandbox\"";
    if name.is_empty() {
        p.push(Problem::new(field, "is missing or empty", fix));
    } else if !NAME_RE.is_match(name) {
        p.push(Problem::new(
            field,
            format!("{name:?} is not a short name"),
            fix,
        ));
    } else if let Some(first) = seen.get(name) {
        p.push(Problem::new(
            field,
            format!("{name:?} is also the name of waves[{first}]"),
            "give each wave its own name (`--wave NAME` chooses a wave by it)",
        ));
    } else {
        seen.insert(name.to_owned(), i);
    }
}

/// A wave's filter list, each entry checked by `check`. A key given empty is refused: it would
/// read as "no filter", which takes every target left.
fn check_list(
    at: &str,
    key: &str,
    list: Option<Vec<String>>,
    p: &mut Vec<Problem>,
    check: impl Fn(String, &str) -> Option<Problem>,
) -> Vec<String> {
    let Some(list) = list else {
        return Vec::new();
    };
    if list.is_empty() {
        p.push(Problem::new(
            format!("{at}.{key}"),
            "is empty",
            "list ids, or remove the key (a wave without filters takes every target left)",
        ));
    }
    for (k, entry) in list.iter().enumerate() {
        if let Some(problem) = check(format!("{at}.{key}[{k}]"), entry) {
            p.push(problem);
        }
    }
    list
}

/// Each OU and each account is named in one wave only: a target belongs to the first wave that
/// matches it, so a second mention would never take effect.
fn once_across(
    seen: &mut HashMap<String, String>,
    value: &str,
    at: &str,
    key: &str,
    k: usize,
    p: &mut Vec<Problem>,
) {
    let field = format!("{at}.{key}[{k}]");
    match seen.get(value) {
        Some(first) => p.push(Problem::new(
            field,
            format!("{value:?} is also in {first}"),
            "name each OU and each account in one wave only: a target belongs to the first wave that matches it",
        )),
        None => {
            seen.insert(value.to_owned(), field);
        }
    }
}

/// An account of a wave must be one the targets allow.
fn targeted_account(
    field: String,
    id: &str,
    t: &RawTargets,
    allowed: Option<&BTreeSet<String>>,
) -> Option<Problem> {
    if !ACCOUNT_RE.is_match(id) {
        None // told by check_accounts
    } else if allowed.is_some_and(|a| !a.contains(id)) {
        Some(Problem::new(
            field,
            format!("{id} is not in targets.accounts, so it is not a target"),
            "add it to targets.accounts, or remove it from the wave",
        ))
    } else if t.exclude_accounts.iter().any(|e| e == id) {
        Some(Problem::new(
            field,
            format!("{id} is in targets.exclude_accounts, so it is not a target"),
            "remove it from the wave or from targets.exclude_accounts",
        ))
    } else {
        None
    }
}
