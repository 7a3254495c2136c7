//! How `token status` reads: the registry token as GitLab sees it (name, scopes, role, dates)
//! and the other active tokens ptc-rollout minted in the group, as lines or a JSON document.

use serde::Serialize;

use crate::cli::args::Format;
use crate::cli::exit;
use crate::cli::output::printer::Printer;

/// What `token status` found: what it returns.
pub(crate) struct Status {
    pub format: Format,
    pub group: String,
    /// `gitlab.api_token_env`, named when the role or the group's list could not be read.
    pub api_token_env: String,
    /// The registry token, `None` when GitLab refuses it.
    pub current: Option<Shown>,
    /// The group's other active tokens ptc-rollout minted; `None` without the API token.
    pub others: Option<Vec<Shown>>,
    /// What a role below Reporter cannot do.
    pub warning: Option<String>,
    /// `--due-within-days`: the rotation is due.
    pub due: bool,
}

/// A token in `status`'s output.
#[derive(Serialize)]
pub(crate) struct Shown {
    pub id: u64,
    pub name: String,
    pub scopes: Vec<String>,
    pub role: Option<&'static str>,
    #[serde(skip)]
    pub access_level: Option<u64>,
    pub created_on: Option<String>,
    pub expires_on: Option<String>,
    pub days_left: Option<i64>,
    pub active: bool,
}

/// The registry token's details and the other tokens ptc-rollout minted on stdout (a JSON
/// document or lines), a role too low for private images warned of; 3 when the rotation is
/// due (`--due-within-days`), else 0.
pub(crate) fn render(output: Printer, s: &Status) -> i32 {
    tell(output, s);
    if s.due {
        exit::CHANGES_PENDING
    } else {
        exit::SUCCESS
    }
}

fn tell(output: Printer, s: &Status) {
    let (format, current, others, warning) = (
        s.format,
        s.current.as_ref(),
        s.others.as_deref(),
        s.warning.as_deref(),
    );
    if let Some(w) = warning {
        // Even when quiet, as ever: `status` is how a scheduled job learns of it.
        output.always(format_args!("warning: {w}"));
    }
    if format == Format::Json {
        let doc = serde_json::json!({
            "group": s.group,
            "registry_token": current,
            "registry_token_active": current.is_some(),
            "other_minted_tokens": others,
            "warnings": warning.into_iter().collect::<Vec<_>>(),
        });
        output.data_line(format_args!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("plain data")
        ));
        return;
    }
    match current {
        None => output.data_line(format_args!(
            "registry token: not active on GitLab (revoked, expired or wrong): run `ptc-rollout token mint`, then `rotate`"
        )),
        Some(c) => {
            output.data_line(format_args!("registry token: {} (id {})", c.name, c.id));
            output.data_line(format_args!("  scopes:  {}", c.scopes.join(", ")));
            match c.role {
                Some(role) => output.data_line(format_args!("  role:    {role}")),
                None => output.data_line(format_args!("  role:    not read (GitLab says it in the group's list: set {} to read it)", s.api_token_env)),
            }
            output.data_line(format_args!("  created: {}", c.created_on.as_deref().unwrap_or("unknown")));
            output.data_line(format_args!("  expires: {}", expiry(c)));
        }
    }
    match others {
        None => output.data_line(format_args!(
            "other tokens ptc-rollout minted in group {}: not listed (set {} to list them)",
            s.group, s.api_token_env
        )),
        Some([]) => output.data_line(format_args!(
            "other tokens ptc-rollout minted in group {}: none active",
            s.group
        )),
        Some(others) => {
            output.data_line(format_args!(
                "other tokens ptc-rollout minted in group {} (active):",
                s.group
            ));
            for o in others {
                output.data_line(format_args!(
                    "  {} (id {}): expires {}",
                    o.name,
                    o.id,
                    expiry(o)
                ));
            }
            // A rotation left half done (a failed job after its mint) shows here.
            output.data_line(format_args!("  once every target holds the current token (`rotate`), `token revoke-old` revokes them"));
        }
    }
}

fn expiry(t: &Shown) -> String {
    match (&t.expires_on, t.days_left) {
        // Expired at 00:00 UTC that day (GitLab's rule), whatever GitLab's answer said.
        (Some(date), Some(d)) if d <= 0 => format!("{date} (expired)"),
        (Some(date), Some(d)) => format!("{date} ({d} days left)"),
        (Some(date), None) => date.clone(),
        (None, _) => "never".to_owned(),
    }
}
