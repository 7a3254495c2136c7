//! The checks of single values of the rollout file, each against the AWS rule it will meet.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use super::{Problem, RawTuning, ACCOUNT_RE, SECRET_NAME_PREFIX, SECRET_NAME_RE, SUFFIX_LIKE_RE};
use crate::clients::Tuning;
use crate::regions;

pub(super) fn check_region(field: &str, r: &str, allow_unknown: bool) -> Option<Problem> {
    if regions::is_known(r) {
        None
    } else if !regions::is_well_formed(r) {
        Some(Problem::new(
            field,
            format!("{r:?} is not a Region code"),
            "use a code like \"us-east-1\"",
        ))
    } else if !allow_unknown {
        Some(Problem::new(field, format!("{r:?} is not a known AWS Region"), "check the spelling, or set targets.allow_unknown_regions = true for a Region newer than this tool"))
    } else {
        None
    }
}

pub(super) fn check_tuning(t: &RawTuning, p: &mut Vec<Problem>) -> Tuning {
    use std::time::Duration;
    let d = Tuning::default();
    let mut in_range = |field: &str, value: Option<u64>, range: std::ops::RangeInclusive<u64>| {
        if let Some(v) = value.filter(|v| !range.contains(v)) {
            p.push(Problem::new(
                format!("tuning.{field}"),
                format!("{v} is outside {} to {}", range.start(), range.end()),
                "choose a value in that range, or remove the key for the default",
            ));
        }
        value
    };
    let max_attempts = in_range("max_attempts", t.max_attempts.map(u64::from), 1..=20);
    let initial = in_range("initial_backoff_ms", t.initial_backoff_ms, 1..=60_000);
    let max = in_range("max_backoff_ms", t.max_backoff_ms, 1..=300_000);
    let attempt = in_range(
        "attempt_timeout_seconds",
        t.attempt_timeout_seconds,
        1..=900,
    );
    let operation = in_range(
        "operation_timeout_seconds",
        t.operation_timeout_seconds,
        1..=3600,
    );
    let tuning = Tuning {
        max_attempts: max_attempts.map_or(d.max_attempts, |v| v as u32),
        initial_backoff: initial.map_or(d.initial_backoff, Duration::from_millis),
        max_backoff: max.map_or(d.max_backoff, Duration::from_millis),
        connect_timeout: d.connect_timeout,
        attempt_timeout: attempt.map_or(d.attempt_timeout, Duration::from_secs),
        operation_timeout: operation.map_or(d.operation_timeout, Duration::from_secs),
    };
    if tuning.operation_timeout < tuning.attempt_timeout {
        p.push(Problem::new(
            "tuning.operation_timeout_seconds",
            "is shorter than one attempt",
            "make it at least tuning.attempt_timeout_seconds",
        ));
    }
    tuning
}

pub(super) fn check_accounts(
    field: &str,
    ids: &[String],
    p: &mut Vec<Problem>,
) -> BTreeSet<String> {
    for (i, id) in ids.iter().enumerate() {
        if !ACCOUNT_RE.is_match(id) {
            p.push(Problem::new(
                format!("{field}[{i}]"),
                format!("{id:?} is not an AWS account id"),
                "use the 12-digit account id, as a string, e.g. \"111111111111\"",
            ));
        }
    }
    ids.iter().cloned().collect()
}

pub(super) fn check_secret_name(name: &str, p: &mut Vec<Problem>) {
    let field = "rule.secret_name";
    if !name.starts_with(SECRET_NAME_PREFIX) || name.len() == SECRET_NAME_PREFIX.len() {
        p.push(Problem::new(field, format!("{name:?} does not start with {SECRET_NAME_PREFIX:?}"), format!("ECR reads only secrets named {SECRET_NAME_PREFIX}..., e.g. \"{SECRET_NAME_PREFIX}gitlab\"")));
    } else if name.len() > 512 || !SECRET_NAME_RE.is_match(name) {
        p.push(Problem::new(
            field,
            format!("{name:?} breaks Secrets Manager's name rules"),
            "use at most 512 ASCII letters, digits and /_+=.@-",
        ));
    } else if SUFFIX_LIKE_RE.is_match(name) {
        p.push(Problem::new(
            field,
            format!("{name:?} ends in a hyphen and six characters"),
            "Secrets Manager mistakes that for an ARN suffix: choose another ending",
        ));
    }
}

/// Turns a TOML error into a problem without echoing values (the text may hold anything).
pub(super) fn toml_problem(text: &str, e: &toml::de::Error) -> Problem {
    static QUOTED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(string|integer|float) (`[^`]*`|"[^"]*")"#).expect("valid regex")
    });
    let message = QUOTED.replace_all(e.message().trim(), "$1").into_owned();
    let (line, table) = match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let table = before
                .lines()
                .rev()
                .map(str::trim)
                .find(|l| l.starts_with('[') && l.ends_with(']'))
                .map(|l| l.trim_matches(['[', ']']).to_owned());
            (Some(line), table)
        }
        None => (None, None),
    };
    let field = match (line, &table) {
        (Some(l), Some(t)) => format!("line {l}, in [{t}]"),
        (Some(l), None) => format!("line {l}"),
        _ => "file".to_owned(),
    };
    let fix = if message.starts_with("unknown field") {
        "remove the key or correct its spelling (see plans/gitlab.toml for every key)"
    } else if message.starts_with("missing field") {
        "add the key (see plans/gitlab.toml for an example)"
    } else {
        "correct the TOML at that place (see plans/gitlab.toml)"
    };
    Problem::new(field, message, fix)
}
