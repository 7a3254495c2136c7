//! The GitLab token: where it comes from and how it is kept out of every output. The value lives
//! only inside [`GitlabToken`], whose `Debug` is redacted and which has no `Display`, so it cannot
//! reach a log line, an error message or a panic by accident.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::rollout::Problem;

/// A GitLab access token. The only way to the value is [`GitlabToken::secret_json`].
#[derive(Clone, PartialEq, Eq)]
pub struct GitlabToken(String);

impl fmt::Debug for GitlabToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GitlabToken(<redacted>)")
    }
}

/// Where the token is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// The environment variable named by `upstream.token_env`.
    Env(String),
    /// `--token-file PATH`.
    File(PathBuf),
    /// `--token-file -`.
    Stdin,
}

impl TokenSource {
    /// `--token-file` wins over the rollout file's `token_env`.
    pub fn choose(token_file: Option<&Path>, token_env: &str) -> Self {
        match token_file {
            Some(p) if p == Path::new("-") => TokenSource::Stdin,
            Some(p) => TokenSource::File(p.to_owned()),
            None => TokenSource::Env(token_env.to_owned()),
        }
    }

    /// Reads and checks the token. Errors describe the source, never the content.
    pub fn read(&self) -> Result<GitlabToken, Problem> {
        let raw = match self {
            TokenSource::Env(name) => match std::env::var(name) {
                Ok(v) => v,
                Err(std::env::VarError::NotPresent) => {
                    return Err(Problem::new(
                        "upstream.token_env",
                        format!("environment variable {name} is not set"),
                        format!("export {name} with the GitLab token, or pass --token-file PATH (- for standard input)"),
                    ))
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(Problem::new("upstream.token_env", format!("environment variable {name} is not valid UTF-8"), "set it to the GitLab token"))
                }
            },
            TokenSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
                Problem::new("--token-file", format!("cannot read {}: {e}", path.display()), "pass a readable file holding only the token")
            })?,
            TokenSource::Stdin => {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s).map_err(|e| {
                    Problem::new("--token-file -", format!("cannot read standard input: {e}"), "pipe the token into standard input")
                })?;
                s
            }
        };
        GitlabToken::new(raw).map_err(|why| {
            Problem::new(
                self.field(),
                why,
                "provide the GitLab token alone (read_registry scope)",
            )
        })
    }

    fn field(&self) -> String {
        match self {
            TokenSource::Env(name) => format!("upstream.token_env ({name})"),
            TokenSource::File(path) => format!("--token-file {}", path.display()),
            TokenSource::Stdin => "--token-file -".to_owned(),
        }
    }
}

impl GitlabToken {
    /// Accepts the token with surrounding whitespace (a trailing newline from a file) trimmed.
    pub fn new(raw: String) -> Result<Self, &'static str> {
        let t = raw.trim();
        if t.is_empty() {
            Err("the token is empty")
        } else if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Err("the token holds whitespace or control characters (more than one line?)")
        } else if t.len() > 1024 {
            Err("the token is longer than 1024 characters")
        } else {
            Ok(GitlabToken(t.to_owned()))
        }
    }

    /// The Secrets Manager version id for this token in one secret (`scope` names the secret:
    /// account, Region, name). Writing the same token again reuses the id, which Secrets
    /// Manager treats as the same request: no second version. Derived with SHA-256 under a
    /// domain prefix, so it reveals nothing usable about a high-entropy token.
    pub fn version_id(&self, scope: &str, username: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"ptc-rollout/secret-version/v1\0")
            .chain_update(scope.as_bytes())
            .chain_update(b"\0")
            .chain_update(username.as_bytes())
            .chain_update(b"\0")
            .chain_update(self.0.as_bytes())
            .finalize();
        let h: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// The secret value ECR expects: `{"username": ..., "accessToken": ...}`.
    pub fn secret_json(&self, username: &str) -> String {
        serde_json::json!({ "username": username, "accessToken": self.0 }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let t = GitlabToken::new("glpat-xyz\n".into()).unwrap();
        assert_eq!(format!("{t:?}"), "GitlabToken(<redacted>)");
        assert_eq!(
            t.secret_json("bot"),
            r#"{"accessToken":"glpat-xyz","username":"bot"}"#
        );
    }

    #[test]
    fn version_ids_are_stable_per_token_and_secret() {
        let a = GitlabToken::new("glpat-a".into()).unwrap();
        let b = GitlabToken::new("glpat-b".into()).unwrap();
        let id = a.version_id("1/us-east-1/s", "u");
        assert_eq!(id.len(), 36);
        assert_eq!(id, a.version_id("1/us-east-1/s", "u"));
        assert_ne!(id, b.version_id("1/us-east-1/s", "u"));
        assert_ne!(id, a.version_id("2/us-east-1/s", "u"));
        assert!(!id.contains("glpat"));
    }

    #[test]
    fn empty_and_multiline_tokens_are_refused() {
        assert!(GitlabToken::new(" \n".into()).is_err());
        assert!(GitlabToken::new("a\nb".into()).is_err());
    }

    #[test]
    fn unset_variable_names_the_variable() {
        let p = TokenSource::Env("PTC_TEST_SURELY_UNSET".into())
            .read()
            .unwrap_err();
        assert!(p.message.contains("PTC_TEST_SURELY_UNSET"));
    }

    #[test]
    fn unreadable_file_is_refused() {
        let p = TokenSource::File("/nonexistent/token".into())
            .read()
            .unwrap_err();
        assert!(p.field.starts_with("--token-file"));
    }
}
