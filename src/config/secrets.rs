//! The GitLab tokens: where they come from and how they are kept out of every output. The
//! registry token lives only inside [`GitlabToken`] and the API token (`token` commands) only
//! inside [`ApiToken`]; both have a redacted `Debug` and no `Display`, so neither can reach a
//! log line, an error message or a panic by accident.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use http::HeaderValue;

use crate::config::Problem;

/// A GitLab access token. The only way to the value is `GitlabToken::secret_json` (crate-private).
#[derive(Clone, PartialEq, Eq)]
pub struct GitlabToken(String);

impl fmt::Debug for GitlabToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GitlabToken(<redacted>)")
    }
}

/// Where the token is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenSource {
    /// The environment variable named by `upstream.token_env`.
    Env(String),
    /// `--token-file PATH`.
    File(PathBuf),
    /// `--token-file -`.
    Stdin,
}

impl TokenSource {
    /// `--token-file` wins over the rollout file's `token_env`.
    pub(crate) fn choose(token_file: Option<&Path>, token_env: &str) -> Self {
        match token_file {
            Some(p) if p == Path::new("-") => TokenSource::Stdin,
            Some(p) => TokenSource::File(p.to_owned()),
            None => TokenSource::Env(token_env.to_owned()),
        }
    }

    /// Reads and checks the token. Errors describe the source, never the content.
    pub(crate) fn read(&self) -> Result<GitlabToken, Problem> {
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

    /// The input a problem with this source names.
    pub(crate) fn field(&self) -> String {
        match self {
            TokenSource::Env(name) => format!("upstream.token_env ({name})"),
            TokenSource::File(path) => format!("--token-file {}", path.display()),
            TokenSource::Stdin => "--token-file -".to_owned(),
        }
    }
}

/// The registry tokens of a run, by upstream name: one for each upstream that takes a secret
/// and whose token the command read.
#[derive(Debug, Clone, Default)]
pub struct Tokens(std::collections::BTreeMap<String, GitlabToken>);

impl Tokens {
    /// One upstream's token.
    pub fn one(upstream: &str, token: GitlabToken) -> Self {
        let mut t = Tokens::default();
        t.insert(upstream, token);
        t
    }

    /// Adds (or replaces) one upstream's token.
    pub fn insert(&mut self, upstream: &str, token: GitlabToken) {
        self.0.insert(upstream.to_owned(), token);
    }

    pub(crate) fn get(&self, upstream: &str) -> Option<&GitlabToken> {
        self.0.get(upstream)
    }
}

impl GitlabToken {
    /// Accepts the token with surrounding ASCII whitespace (a trailing newline from a file, a
    /// Windows line end) trimmed. Every other character must be printable ASCII, as GitLab's
    /// tokens are: a byte order mark or a zero-width character is invisible in an editor, yet
    /// would travel as part of the token and fail every sign-in. The refusal names the
    /// character's position and kind, never the token.
    pub fn new(raw: String) -> Result<Self, String> {
        let is_space = |c: char| c.is_ascii_whitespace();
        let t = raw.trim_matches(is_space);
        // Leading ASCII whitespace is one byte a character: positions count from the raw start.
        let lead = raw.len() - raw.trim_start_matches(is_space).len();
        if t.is_empty() {
            return Err("the token is empty".to_owned());
        }
        if let Some((i, c)) = t.chars().enumerate().find(|(_, c)| !c.is_ascii_graphic()) {
            let at = lead + i + 1;
            return Err(format!(
                "character {at} of the token is {}",
                unprintable(c, at)
            ));
        }
        if t.len() > 1024 {
            return Err("the token is longer than 1024 characters".to_owned());
        }
        Ok(GitlabToken(t.to_owned()))
    }

    /// Whether `value` is this token, compared in constant time (through SHA-256 digests, so
    /// neither the length nor a common prefix shows in the time taken).
    pub(crate) fn is(&self, value: &str) -> bool {
        use sha2::{Digest, Sha256};
        let (a, b) = (
            Sha256::digest(self.0.as_bytes()),
            Sha256::digest(value.as_bytes()),
        );
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }

    /// The Secrets Manager version id for this token in one secret (`scope` names the secret:
    /// account, Region, name). Writing the same token again reuses the id, which Secrets
    /// Manager treats as the same request: no second version. Derived with SHA-256 under a
    /// domain prefix, so it reveals nothing usable about a high-entropy token.
    pub(crate) fn version_id(&self, scope: &str, username: &str) -> String {
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
    pub(crate) fn secret_json(&self, username: &str) -> String {
        serde_json::json!({ "username": username, "accessToken": self.0 }).to_string()
    }

    /// The token as GitLab's API takes it: a header marked sensitive, which `http` never shows.
    pub(crate) fn header(&self) -> HeaderValue {
        sensitive(&self.0)
    }

    /// The token as a CI/CD variable's value (sent in a request body, never logged).
    pub(crate) fn ci_value(&self) -> &str {
        &self.0
    }

    /// Writes the token alone, for `token mint --out` (the file is created 0600 by the caller).
    pub(crate) fn write_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        writeln!(w, "{}", self.0)
    }
}

/// A GitLab API token (`gitlab.api_token_env`): Owner of the group, `api` scope. Used only by
/// the `token` commands, and only as a request header.
#[derive(Clone)]
pub(crate) struct ApiToken(String);

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

impl ApiToken {
    /// Reads the variable; problems name the variable, never its content.
    pub(crate) fn from_env(name: &str) -> Result<Self, Problem> {
        let field = format!("gitlab.api_token_env ({name})");
        let raw = std::env::var(name).map_err(|_| {
            Problem::new(
                &field,
                format!("environment variable {name} is not set (or not UTF-8)"),
                format!(
                    "export {name} with a GitLab token of the group's Owner with the api scope"
                ),
            )
        })?;
        // The same rules as the registry token: one line, no spaces, at most 1024 characters.
        let checked = GitlabToken::new(raw)
            .map_err(|why| Problem::new(&field, why, "provide the API token alone"))?;
        Ok(ApiToken(checked.0))
    }

    pub(crate) fn header(&self) -> HeaderValue {
        sensitive(&self.0)
    }
}

/// What a character that cannot be in a token is, by its code point (not part of any real
/// token, so naming it reveals nothing): what the user looks for at that position.
fn unprintable(c: char, at: usize) -> String {
    let code = format!("U+{:04X}", c as u32);
    match c {
        '\u{FEFF}' if at == 1 => format!(
            "a UTF-8 byte order mark ({code}), which some editors put at the start of a file: \
             save the file as UTF-8 without BOM"
        ),
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => format!(
            "a zero-width character ({code}), invisible in most editors: type the token again"
        ),
        '\n' | '\r' => format!("a line break ({code}): the token is one line"),
        c if c.is_whitespace() => format!("whitespace ({code})"),
        c if c.is_control() => format!("a control character ({code})"),
        _ => format!(
            "not ASCII ({code}; an invisible mark or a look-alike letter): GitLab's tokens are \
             ASCII letters, digits and punctuation"
        ),
    }
}

fn sensitive(value: &str) -> HeaderValue {
    // The value was checked to hold printable ASCII only.
    let mut v = HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}

/// GitLab's answer to a new token holds its value once: read into a [`GitlabToken`] directly,
/// with an error that never repeats the value.
impl<'de> serde::Deserialize<'de> for GitlabToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        GitlabToken::new(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let t = GitlabToken::new("glpat-xyz\n".into()).unwrap();
        assert_eq!(format!("{t:?}"), "GitlabToken(<redacted>)");
        assert!(t.header().is_sensitive());
        assert!(!format!("{:?}", t.header()).contains("xyz"));
        assert_eq!(
            t.secret_json("bot"),
            r#"{"accessToken":"glpat-xyz","username":"bot"}"#
        );
    }

    #[test]
    fn the_api_token_never_shows() {
        std::env::set_var("PTC_TEST_API_TOKEN_SHOWN", "api-secret-value\n");
        let t = ApiToken::from_env("PTC_TEST_API_TOKEN_SHOWN").unwrap();
        assert_eq!(format!("{t:?}"), "ApiToken(<redacted>)");
        assert!(t.header().is_sensitive());
        assert_eq!(t.header().to_str().unwrap(), "api-secret-value");
        let p = ApiToken::from_env("PTC_TEST_SURELY_UNSET_API").unwrap_err();
        assert!(p.field.contains("gitlab.api_token_env"), "{p}");
        let minted: GitlabToken = serde_json::from_str("\"test-minted-abc\"").unwrap();
        assert_eq!(format!("{minted:?}"), "GitlabToken(<redacted>)");
        let e = serde_json::from_str::<GitlabToken>("\"two words\"").unwrap_err();
        assert!(!e.to_string().contains("words"), "{e}");
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
    fn invisible_characters_are_refused_by_position_without_the_token() {
        let refused = |raw: &str| GitlabToken::new(raw.to_owned()).unwrap_err();
        let bom = refused("\u{FEFF}secret-abc\n");
        assert!(
            bom.starts_with("character 1 of the token is a UTF-8 byte order mark"),
            "{bom}"
        );
        assert!(
            refused("secret\u{200B}-abc").starts_with("character 7 of the token is a zero-width")
        );
        assert!(refused("  secret\u{2060}").starts_with("character 9 "));
        assert!(refused("sec\u{FEFF}ret").contains("zero-width character (U+FEFF)"));
        assert!(refused("sec\u{7}ret").contains("control character (U+0007)"));
        assert!(refused("sec\u{A0}ret").contains("whitespace (U+00A0)"));
        assert!(refused("sec\u{E9}ret").contains("not ASCII (U+00E9"));
        assert!(refused("a\r\nb").contains("line break"));
        for raw in ["\u{FEFF}secret-abc", "secret\u{200B}-abc"] {
            assert!(!refused(raw).contains("secret"));
        }
        // A Windows line end and surrounding spaces are trimmed, as a trailing newline is.
        let t = GitlabToken::new(" secret-abc\r\n".into()).unwrap();
        assert!(t.is("secret-abc") && !t.is("secret-ab") && !t.is("secret-abcd"));
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
