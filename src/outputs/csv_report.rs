//! The run report: one CSV row per target (RFC 4180), written atomically, with every cell
//! neutralised against spreadsheet formulas. Plain data in, bytes out: it never prints.

use std::io::{self, Write};
use std::path::Path;

use crate::config::Rollout;
use crate::data::target::{Probe, RuleState, SecretState, TargetResult, Validation};
use crate::data::waves::Waves;

/// Every result of a pass, one allocation each: a flat `Vec<TargetResult>` of 100,000 rows would
/// double through 64 MB while growing.
pub(crate) type Results = Vec<Box<TargetResult>>;

/// The CSV report's columns, in order.
const CSV_HEADER: &[&str] = &[
    "account_id",
    "account_name",
    "region",
    "upstream",
    "ecr_repository_prefix",
    "upstream_registry_url",
    "credential_arn",
    "secret_name",
    "secret_state",
    "secret_managed",
    "outcome",
    "actions",
    "is_valid",
    "failure",
    "checked_at",
];

/// The pull's columns, after [`CSV_HEADER`]'s (`probe`, `validate --probe-image`).
const PROBE_HEADER: &[&str] = &[
    "image",
    "pulled_as",
    "pull_ok",
    "pull_status",
    "pull_digest",
    "pull_ms",
    "pull_blobs",
    "pull_bytes",
    "cached",
    "pull_failure",
    "pull_note",
    "repository_tag_mutability",
    "repository_lifecycle_policy",
];

/// The report's optional columns: the pull's (`probe`, `validate --probe-image`), after
/// [`CSV_HEADER`]'s; then, for a run in waves (`apply`, `rotate`), `wave`, the target's wave.
/// Without them the columns are [`CSV_HEADER`]'s alone, as they have always been.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Columns<'a> {
    pub(crate) probe: bool,
    pub(crate) waves: Option<&'a Waves>,
}

/// The pull's cells of a row: all empty when no pull was made there.
fn probe_cells(p: Option<&Probe>) -> Vec<String> {
    let Some(p) = p else {
        return vec![String::new(); PROBE_HEADER.len()];
    };
    let text = |v: Option<String>| v.unwrap_or_default();
    vec![
        p.image.clone(),
        text(p.pulled_as.clone()),
        p.ok.to_string(),
        text(p.status.map(|s| s.to_string())),
        text(p.digest.clone()),
        text(p.ms.map(|m| m.to_string())),
        text(p.blobs.map(|b| b.to_string())),
        text(p.bytes.map(|b| b.to_string())),
        text(p.cached.map(|c| c.to_string())),
        text(p.failure.clone()),
        text(p.note.clone()),
        text(p.repository_tag_mutability.clone()),
        text(p.repository_lifecycle_policy.clone()),
    ]
}

/// The cells of [`CSV_HEADER`] for one row. The rule's URL and credential come from the
/// validation when there was one, else from what was observed. The prefix and secret are the
/// row's upstream's; an upstream without a secret has empty secret cells (none is read there).
fn cells(r: &TargetResult, rollout: &Rollout) -> Vec<String> {
    let upstream = crate::outputs::upstream_of(rollout, &r.target).unwrap_or(&rollout.upstream);
    let has_secret = upstream.secret.is_some();
    let (secret_state, secret_managed) = match r.observed.as_ref().map(|o| &o.secret) {
        _ if !has_secret => ("", ""),
        None => ("", ""),
        Some(SecretState::Absent) => ("absent", ""),
        Some(SecretState::Present { managed, .. }) => {
            ("present", if *managed { "true" } else { "false" })
        }
        Some(SecretState::PendingDeletion { managed, .. }) => {
            ("pending_deletion", if *managed { "true" } else { "false" })
        }
    };
    let observed_rule = r.observed.as_ref().and_then(|o| match &o.rule {
        RuleState::Present {
            upstream_registry_url,
            credential_arn,
            ..
        } => Some((upstream_registry_url.clone(), credential_arn.clone())),
        RuleState::Absent => None,
    });
    let v = r.validation.as_ref();
    let url = v
        .and_then(|v| v.upstream_registry_url.clone())
        .or_else(|| observed_rule.as_ref().map(|o| o.0.clone()));
    let arn = v
        .and_then(|v| v.credential_arn.clone())
        .or_else(|| observed_rule.and_then(|o| o.1));
    vec![
        r.target.account_id.clone(),
        r.target.account_name.clone(),
        r.target.region.clone(),
        r.target.upstream.to_string(),
        upstream.ecr_repository_prefix.clone(),
        url.unwrap_or_default(),
        arn.unwrap_or_default(),
        upstream
            .secret
            .as_ref()
            .map_or(String::new(), |s| s.secret_name.clone()),
        secret_state.to_owned(),
        secret_managed.to_owned(),
        r.outcome.to_string(),
        r.taken
            .iter()
            .map(|a| a.label())
            .collect::<Vec<_>>()
            .join("; "),
        v.and_then(Validation::answer)
            .map(|v| v.to_string())
            .unwrap_or_default(),
        r.failure().unwrap_or_default(),
        r.checked_at.to_string(),
    ]
}

/// Writes the CSV report (RFC 4180) to `out`, rows in the given order, with the optional
/// `columns` asked for.
pub(crate) fn write_csv<W: Write>(
    out: W,
    rollout: &Rollout,
    results: &[Box<TargetResult>],
    columns: Columns<'_>,
) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut header = CSV_HEADER.to_vec();
    if columns.probe {
        header.extend_from_slice(PROBE_HEADER);
    }
    if columns.waves.is_some() {
        header.push("wave");
    }
    w.write_record(&header)?;
    for r in results {
        let mut record = cells(r, rollout);
        if columns.probe {
            record.extend(probe_cells(r.probe.as_deref()));
        }
        if let Some(waves) = columns.waves {
            let wave = waves.name_of(&r.target.account_id).unwrap_or_default();
            record.push(wave.to_owned());
        }
        w.write_record(record.iter().map(|c| neutralise(c).into_owned()))?;
    }
    w.flush()?;
    Ok(())
}

/// Writes the CSV report to `path` atomically: a reader never sees half a report.
pub(crate) fn save_csv(
    path: &Path,
    rollout: &Rollout,
    results: &[Box<TargetResult>],
    columns: Columns<'_>,
) -> io::Result<()> {
    if path == Path::new("-") {
        return write_csv(io::stdout().lock(), rollout, results, columns).map_err(io::Error::other);
    }
    crate::outputs::atomic_file::write_atomically(path, |w| {
        write_csv(w, rollout, results, columns).map_err(io::Error::other)
    })
}

/// Neutralises a cell that a spreadsheet would run as a formula (account names are chosen by
/// account owners): a leading `=`, `+`, `-`, `@`, tab or carriage return gets a `'` in front.
pub(crate) fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::test_rollouts::{row, two};

    #[test]
    fn each_row_has_its_upstream_prefix_and_secret() {
        let mut out = Vec::new();
        let results = vec![row("gitlab"), row("ecr-public")];
        write_csv(&mut out, &two(), &results, Columns::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("account_id,account_name,region,upstream,ecr_repository_prefix,"),
            "{text}"
        );
        assert!(
            lines[1].starts_with(
                "111111111111,dev,us-east-1,gitlab,gitlab,,,ecr-pullthroughcache/gitlab,absent,"
            ),
            "{text}"
        );
        // No secret there: empty secret cells, not "absent".
        assert!(
            lines[2].starts_with("111111111111,dev,us-east-1,ecr-public,ecr-public,,,,,,"),
            "{text}"
        );
    }

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("-1+2"), "'-1+2");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("prod"), "prod");
        assert_eq!(neutralise(""), "");
    }
}
