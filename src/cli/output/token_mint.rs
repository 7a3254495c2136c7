//! How `token mint` reads once the new token is stored: what was minted, its role, where it
//! is, and what to do next, on stderr. The token itself is never shown.

use std::path::PathBuf;

use crate::cli::exit;
use crate::cli::output::printer::Printer;
use crate::gitlab::Stored;

/// The token minted and stored: what `token mint` returns.
pub(crate) struct Minted {
    /// GitLab's answer to the store that was lost, the variable read back holding the token.
    pub lost: Option<String>,
    pub name: String,
    pub id: u64,
    /// The role as GitLab answered it.
    pub role: String,
    /// Reporter or above: pulls from private projects work.
    pub reporter: bool,
    pub group: String,
    pub expires_at: String,
    /// The CI/CD variable's key and how the token was stored there.
    pub stored: Option<(String, Stored)>,
    /// `--out`, written with mode 0600.
    pub out: Option<PathBuf>,
}

/// What was minted and where it went; always 0.
pub(crate) fn render(output: Printer, m: &Minted) -> i32 {
    if let Some(lost) = &m.lost {
        output.note(format_args!(
            "GitLab's answer to storing the token was lost ({lost}); read back, the variable holds the new token"
        ));
    }
    let role = &m.role;
    output.status_line(format_args!(
        "Minted {:?} (id {}, read_registry, {role}) in group {}, expiring {}.",
        m.name, m.id, m.group, m.expires_at
    ));
    if !m.reporter {
        output.note(format_args!(
            "a {role} token pulls only images of public projects (gitlab.token_role = \"guest\"); pulls from private projects need Reporter"
        ));
    } else {
        output.status_line(format_args!(
            "{role}, not the Guest of GitLab's tutorial: a Guest pulls only from public projects, so its first pull of a private project's image fails."
        ));
    }
    say_where(output, m);
    output.status_line(
        "The old token keeps working. Next: `ptc-rollout rotate` with the new token, then `ptc-rollout token revoke-old`.",
    );
    exit::SUCCESS
}

fn say_where(output: Printer, m: &Minted) {
    if let Some((key, s)) = &m.stored {
        let how = if s.created { "created" } else { "updated" };
        output.status_line(format_args!(
            "Stored in CI/CD variable {key} of group {} ({how}; masked: {}, hidden: {}, protected: {}).",
            m.group, s.masked, s.hidden, s.protected
        ));
        if !s.masked {
            output.warning(format_args!(
                "CI/CD variable {key} is not masked: GitLab shows its value in job logs that print it; mark it Masked in the group's CI/CD settings"
            ));
        }
    }
    if let Some(path) = &m.out {
        output.status_line(format_args!("Written to {} (mode 0600).", path.display()));
    }
}
