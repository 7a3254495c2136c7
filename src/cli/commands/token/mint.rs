//! `token mint`: a new group access token (read_registry, Reporter unless `gitlab.token_role`
//! says Guest), stored where the next run reads it, never shown. The old token keeps working
//! until `token revoke-old`. A store whose answer was lost is settled by reading the variable
//! back, so the variable never ends up holding a token mint revoked.

use super::{side_and_api, today};
use crate::cli::args::TokenMintArgs;
use crate::cli::error::{refuse_if, CommandError};
use crate::cli::input::check_output_path;
use crate::cli::output::{token_mint, Finished};
use crate::config::secrets::{ApiToken, GitlabToken};
use crate::config::{GitlabSide, Problem, Rollout};
use crate::gitlab::{self, expiry_date, Gitlab, GitlabError, Holds, Stored, TokenInfo};

pub(crate) async fn run(args: TokenMintArgs) -> Result<Finished, CommandError> {
    let rollout = Rollout::load(&args.config)?;
    let (side, api) = inputs(&rollout, &args)?;
    let c = Gitlab::with_api_token(&side.api_url, &api, &side.api_token_env);
    // Read the variable first: a variable that cannot be written stops here, before a token
    // exists that would have nowhere to go.
    let existing = match &side.ci_variable {
        Some(key) => Some(gitlab::read_variable(&c, &side.group, key).await?),
        None => None,
    };
    let today = today();
    let expires_at = expiry_date(today, args.expires_in_days);
    let (info, token) = gitlab::mint(&c, &side.group, side.token_role, &expires_at).await?;
    let created = matches!(existing, Some(None));
    let mut settled = None;
    let stored = match store(&c, side, &args, existing, (&token, info.id)).await {
        Ok(stored) => stored,
        Err(StoreFailed::Refused(why)) => return Err(unstored(&c, side, &info, &args, why).await),
        Err(StoreFailed::Lost { key, error }) => {
            let mint = Minted {
                c: &c,
                side,
                info: &info,
                args: &args,
                key,
            };
            let stored = mint.settle(&token, &error, created).await?;
            settled = Some(error);
            stored
        }
    };
    Ok(Finished::Minted(Box::new(token_mint::Minted {
        lost: settled.map(|e| e.to_string()),
        name: info.name.clone(),
        id: info.id,
        // The role as GitLab answered it, which is what the token can do.
        role: info.role().unwrap_or(side.token_role.name()).to_owned(),
        reporter: info.access_level.unwrap_or(side.token_role.access_level())
            >= crate::config::REPORTER,
        group: side.group.clone(),
        expires_at,
        stored: side.ci_variable.clone().zip(stored),
        out: args.out.clone(),
    })))
}

/// The checks before any call: `[gitlab]`, the API token, and somewhere to store the token.
fn inputs<'r>(
    rollout: &'r Rollout,
    args: &TokenMintArgs,
) -> Result<(&'r GitlabSide, ApiToken), CommandError> {
    let mut problems = Vec::new();
    let (side, api) = side_and_api(rollout, &mut problems);
    if side.is_some_and(|s| s.ci_variable.is_none()) && args.out.is_none() {
        problems.push(Problem::new(
            "--out",
            "nowhere to store the new token: [gitlab] has no ci_variable",
            "set gitlab.ci_variable to the group CI/CD variable the jobs read, or pass --out FILE",
        ));
    }
    if let Err(p) = check_output_path("--out", args.out.as_deref()) {
        problems.push(p);
    }
    if args.out.as_deref() == Some(std::path::Path::new("-")) {
        problems.push(Problem::new(
            "--out",
            "the token never goes to standard output",
            "name a file (it is created with mode 0600)",
        ));
    }
    refuse_if(problems)?;
    Ok((side.expect("checked"), api.expect("checked")))
}

/// Why the new token is not known to be stored.
enum StoreFailed {
    /// Not stored, for certain: the file could not be written, or GitLab refused the write
    /// (4xx). Says what failed, never the token.
    Refused(String),
    /// GitLab's answer to the variable's write was lost (a 5xx after the retries, no answer in
    /// time): the write may have happened.
    Lost { key: String, error: GitlabError },
}

/// Writes the file, then the variable.
async fn store(
    c: &Gitlab,
    side: &GitlabSide,
    args: &TokenMintArgs,
    existing: Option<Option<Stored>>,
    (token, id): (&GitlabToken, u64),
) -> Result<Option<Stored>, StoreFailed> {
    if let Some(path) = &args.out {
        crate::outputs::atomic_file::write_atomically(path, |w| token.write_to(w))
            .map_err(|e| StoreFailed::Refused(format!("cannot write {}: {e}", path.display())))?;
    }
    match (&side.ci_variable, existing) {
        (Some(key), Some(existing)) => {
            match gitlab::store_variable(c, &side.group, key, existing, (token, id)).await {
                Ok(stored) => Ok(Some(stored)),
                // A 4xx is GitLab's refusal; a 5xx or no answer may follow an applied write.
                Err(e) if e.status.is_none_or(|s| s >= 500) => Err(StoreFailed::Lost {
                    key: key.clone(),
                    error: e,
                }),
                Err(e) => Err(StoreFailed::Refused(e.to_string())),
            }
        }
        _ => Ok(None),
    }
}

/// A minted token whose store into the variable `key` is in doubt.
struct Minted<'a> {
    c: &'a Gitlab,
    side: &'a GitlabSide,
    info: &'a TokenInfo,
    args: &'a TokenMintArgs,
    key: String,
}

impl Minted<'_> {
    /// Reads the variable back: holding the new token, the mint succeeded; holding anything
    /// else, the new token is revoked as for a refused store; unreadable, nothing is revoked,
    /// since revoking a token the variable may hold would break every job that reads it.
    async fn settle(
        &self,
        token: &GitlabToken,
        lost: &GitlabError,
        created: bool,
    ) -> Result<Option<Stored>, CommandError> {
        let (c, group, key) = (self.c, &self.side.group, &self.key);
        let held = gitlab::variable_holds(c, group, key, (token, self.info.id)).await;
        let why = match held {
            Ok(Holds::Token {
                masked,
                protected,
                hidden,
            }) => {
                return Ok(Some(Stored {
                    created,
                    masked,
                    protected,
                    hidden,
                    ours: created,
                }))
            }
            Ok(Holds::Other) => {
                let why =
                    format!("{lost}; read back, CI/CD variable {key} does not hold the new token");
                return Err(unstored(c, self.side, self.info, self.args, why).await);
            }
            Ok(Holds::Hidden) => {
                "the variable is hidden, so GitLab never shows its value to read back".to_owned()
            }
            Err(e) => format!("reading the variable back failed too ({e})"),
        };
        Err(CommandError::MintUnconfirmed(
            self.what_to_check(lost, &why),
        ))
    }

    /// The unconfirmed mint's line: what is known, and exactly what to check.
    fn what_to_check(&self, lost: &GitlabError, why: &str) -> String {
        let (name, id, key, group) = (&self.info.name, self.info.id, &self.key, &self.side.group);
        let file = match &self.args.out {
            Some(path) => format!(", and written to {}", path.display()),
            None => String::new(),
        };
        format!(
            "minted {name:?} (id {id}) and sent it to CI/CD variable {key} of group {group}, but \
             GitLab's answer was lost ({lost}) and {why}: whether the variable holds the new \
             token is unknown, so nothing was revoked. The new token is active{file}. Check the \
             variable's value in the group's Settings > CI/CD > Variables, e.g. with \
             `ptc-rollout token status` given that value as the registry token: it names the \
             token, and id {id} is the new one. If it is, go on with `ptc-rollout rotate`; if \
             not, revoke {name:?} (id {id}) in the group's Settings > Access tokens and run \
             `token mint` again"
        )
    }
}

/// The new token could not be stored: revoke it, so no token exists that nobody holds, and
/// remove the file written for it.
async fn unstored(
    c: &Gitlab,
    side: &GitlabSide,
    info: &TokenInfo,
    args: &TokenMintArgs,
    why: String,
) -> CommandError {
    if let Some(path) = &args.out {
        let _ = std::fs::remove_file(path);
    }
    let fate = match gitlab::revoke(c, &side.group, info.id).await {
        Ok(()) => "it was revoked again; nothing changed".to_owned(),
        Err(e) => format!(
            "revoking it failed too ({e}): revoke {:?} (id {}) in the group's access tokens",
            info.name, info.id
        ),
    };
    CommandError::Unstored(format!(
        "minted {:?} (id {}) but could not store it: {why}; {fate}",
        info.name, info.id
    ))
}
