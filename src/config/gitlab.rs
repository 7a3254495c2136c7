//! `[gitlab]`: the GitLab side of the token's life (the `token` commands, and the expiry date
//! `report` reads from GitLab). Optional: without it the token is made and dated by hand.

use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

use super::{Problem, ENV_NAME_RE};

/// GitLab.com's API, the only GitLab ECR pulls from.
const GITLAB_COM_API: &str = "https://gitlab.com/api/v4";
/// The API token's variable when `api_token_env` is not given.
pub(super) const DEFAULT_API_TOKEN_ENV: &str = "GITLAB_API_TOKEN";

/// GitLab's rule for a CI/CD variable's key.
static VARIABLE_KEY_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_]{1,255}$").expect("valid regex"));
/// One segment of a group's full path, as GitLab's `Gitlab::PathRegex.namespace_format_regex`
/// allows it: letters, digits, `_`, `-` and `.`, starting with anything but `-` and ending in
/// anything but `.` (a single character: a letter, digit or `_`). Its other rule, no `.git` or
/// `.atom` at the end, is checked apart (the regex crate has no look-behind).
static GROUP_SEGMENT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[A-Za-z0-9_.][A-Za-z0-9_.-]*[A-Za-z0-9_-]|[A-Za-z0-9_])$")
        .expect("valid regex")
});
/// GitLab's limit on a namespace's path (`Namespace::URL_MAX_LENGTH`) and its nesting
/// (`NUMBER_OF_ANCESTORS_ALLOWED` = 20 ancestors).
const GROUP_SEGMENT_MAX: usize = 255;
const GROUP_DEPTH_MAX: usize = 21;

/// GitLab's Reporter access level: the least that pulls a private project's images. A Guest
/// member (10) pulls only from public projects: GitLab's doc/user/packages/container_registry
/// visibility table, and app/policies/project_policy.rb, which grants `read_container_image`
/// in a private project from Reporter up. A group access token is a bot member of its role.
pub(crate) const REPORTER: u64 = 20;

/// GitLab's name for an access level.
pub(crate) fn role_name(level: u64) -> Option<&'static str> {
    Some(match level {
        10 => "Guest",
        15 => "Planner",
        20 => "Reporter",
        30 => "Developer",
        40 => "Maintainer",
        50 => "Owner",
        _ => return None,
    })
}

/// The role `token mint` gives the registry token (`gitlab.token_role`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum TokenRole {
    /// Pulls from private and public projects of the group.
    #[default]
    Reporter,
    /// Pulls from public projects only: for groups whose images are all public.
    Guest,
}

impl TokenRole {
    /// GitLab's access level for the role.
    pub(crate) fn access_level(self) -> u64 {
        match self {
            TokenRole::Reporter => REPORTER,
            TokenRole::Guest => 10,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        role_name(self.access_level()).expect("a named level")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGitlab {
    group: String,
    api_url: Option<String>,
    api_token_env: Option<String>,
    ci_variable: Option<String>,
    token_role: Option<String>,
    /// The `[[upstreams]]` entry whose token this table manages (the only GitLab entry if unset).
    upstream: Option<String>,
}

/// The validated `[gitlab]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GitlabSide {
    /// The group's numeric id or full path.
    pub(crate) group: String,
    /// The REST API's base, e.g. `https://gitlab.com/api/v4`.
    pub(crate) api_url: url::Url,
    pub(crate) api_token_env: String,
    /// The group CI/CD variable `token mint` stores the new registry token in.
    pub(crate) ci_variable: Option<String>,
    /// The role `token mint` gives the registry token.
    pub(crate) token_role: TokenRole,
    /// `gitlab.upstream` as written; resolved against the upstreams by the file's check.
    pub(crate) upstream: Option<String>,
}

pub(super) fn check_gitlab(g: RawGitlab, p: &mut Vec<Problem>) -> GitlabSide {
    let group = g.group.trim().to_owned();
    if group.is_empty() {
        p.push(Problem::new(
            "gitlab.group",
            "is empty",
            "set the full path (e.g. \"my-group/sub\") or numeric id of the group that owns the registry token",
        ));
    } else if let Err(why) = check_group_path(&group) {
        p.push(Problem::new(
            "gitlab.group",
            format!("{group:?} is not a GitLab group path or id: {why}"),
            "use the group's full path as in its URL (e.g. \"my-group/sub\": letters, digits, _ . - \
             and / between segments), or its numeric id",
        ));
    }
    let api_token_env = g
        .api_token_env
        .unwrap_or_else(|| DEFAULT_API_TOKEN_ENV.to_owned());
    if !ENV_NAME_RE.is_match(&api_token_env) || api_token_env.starts_with("gl") {
        // Never echo the value: a user may have pasted the token itself here.
        p.push(Problem::new(
            "gitlab.api_token_env",
            "is not an environment variable name",
            "set the NAME of the variable holding the API token, e.g. \"GITLAB_API_TOKEN\", never the token itself",
        ));
    }
    if let Some(key) = &g.ci_variable {
        if !VARIABLE_KEY_RE.is_match(key) {
            p.push(Problem::new(
                "gitlab.ci_variable",
                format!("{key:?} is not a CI/CD variable key"),
                "use 1 to 255 letters, digits and _ (GitLab's rule), e.g. \"GITLAB_REGISTRY_TOKEN\"",
            ));
        }
    }
    let token_role = match g
        .token_role
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("reporter") => TokenRole::Reporter,
        Some("guest") => TokenRole::Guest,
        Some(other) => {
            p.push(Problem::new(
                "gitlab.token_role",
                format!("{other:?} is not a role ptc-rollout mints"),
                "use \"reporter\" (the default: pulls private and public projects' images) or \"guest\" (public projects only)",
            ));
            TokenRole::Reporter
        }
    };
    let api_url = g.api_url.as_deref().unwrap_or(GITLAB_COM_API);
    let api_url = check_api_url(api_url).unwrap_or_else(|problem| {
        p.push(problem);
        url::Url::parse(GITLAB_COM_API).expect("valid URL")
    });
    GitlabSide {
        group,
        api_url,
        api_token_env,
        ci_variable: g.ci_variable,
        token_role,
        upstream: g.upstream,
    }
}

/// A numeric id, or a full path whose every segment GitLab would accept as a namespace path.
/// The path goes into API URLs (URL-encoded, as one segment, but a server or proxy may decode
/// it): `.`, `..`, an empty segment or a separator at either end would name another resource.
fn check_group_path(group: &str) -> Result<(), String> {
    if group.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    if group.starts_with('/') || group.ends_with('/') {
        return Err("it starts or ends with /".to_owned());
    }
    let segments: Vec<&str> = group.split('/').collect();
    if segments.len() > GROUP_DEPTH_MAX {
        return Err(format!(
            "GitLab nests groups at most {GROUP_DEPTH_MAX} deep"
        ));
    }
    for (i, s) in segments.iter().enumerate() {
        let n = i + 1;
        let why = match *s {
            "" => "is empty (two / in a row)".to_owned(),
            "." | ".." => format!("is {s:?}, which names no group"),
            _ if s.len() > GROUP_SEGMENT_MAX => {
                format!("is longer than {GROUP_SEGMENT_MAX} characters")
            }
            _ if s.ends_with(".git") || s.ends_with(".atom") => {
                "ends in .git or .atom, which GitLab does not allow".to_owned()
            }
            _ if !GROUP_SEGMENT_RE.is_match(s) => "holds a character GitLab does not allow in a \
                 path, starts with - or ends with ."
                .to_owned(),
            _ => continue,
        };
        return Err(format!("segment {n} {why}"));
    }
    Ok(())
}

/// HTTPS only: the tokens travel in headers. Plain HTTP only to this machine (tests).
fn check_api_url(raw: &str) -> Result<url::Url, Problem> {
    let field = "gitlab.api_url";
    let fix = "use GitLab's REST API base over HTTPS, e.g. \"https://gitlab.com/api/v4\"";
    // A URL with `user:password@` is never repeated back.
    let shown = if raw.contains('@') {
        "the URL".to_owned()
    } else {
        format!("{raw:?}")
    };
    let url = url::Url::parse(raw)
        .map_err(|e| Problem::new(field, format!("{shown} is not a URL ({e})"), fix))?;
    let host = url.host_str().unwrap_or_default();
    let bad = match url.scheme() {
        _ if !url.username().is_empty() || url.password().is_some() => {
            Some("holds credentials; the API token comes from gitlab.api_token_env")
        }
        _ if url.query().is_some() || url.fragment().is_some() => Some("has a query or fragment"),
        "https" => None,
        "http" if crate::http::is_loopback(host) => None,
        "http" => Some("is plain HTTP to a host off this machine; tokens go only over HTTPS"),
        _ => Some("is not an http(s) URL"),
    };
    match bad {
        Some(why) => Err(Problem::new(field, format!("{shown} {why}"), fix)),
        None => Ok(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(group: &str, api_url: Option<&str>) -> Vec<Problem> {
        let mut p = Vec::new();
        check_gitlab(
            RawGitlab {
                group: group.into(),
                api_url: api_url.map(Into::into),
                api_token_env: None,
                ci_variable: Some("GITLAB_REGISTRY_TOKEN".into()),
                token_role: None,
                upstream: None,
            },
            &mut p,
        );
        p
    }

    #[test]
    fn groups_and_urls() {
        assert!(checked("my-group/sub.team", None).is_empty());
        assert!(checked("4242", Some("http://127.0.0.1:8080/_gitlab/api/v4")).is_empty());
        assert!(checked("g", Some("https://gitlab.example.com/api/v4")).is_empty());
        assert_eq!(checked("  ", None)[0].field, "gitlab.group");
        assert_eq!(checked("a b", None)[0].field, "gitlab.group");
        for good in [
            "g",
            "_",
            "a.b-c_d",
            ".hidden",
            "a/b/c",
            "my-group/sub-",
            "4242",
            "a.gitx",
        ] {
            assert!(checked(good, None).is_empty(), "{good}");
        }
        for (bad, why) in [
            (".", "segment 1 is \".\""),
            ("..", "segment 1 is \"..\""),
            ("a/../b", "segment 2 is \"..\""),
            ("a/./b", "segment 2 is \".\""),
            ("/a", "starts or ends with /"),
            ("a/", "starts or ends with /"),
            ("a//b", "segment 2 is empty"),
            ("-a", "segment 1 holds"),
            ("a.", "segment 1 holds"),
            ("a/b.git", "segment 2 ends in .git"),
            ("a.atom", "segment 1 ends in .git or .atom"),
            ("a%2Fb", "segment 1 holds"),
            ("a?b", "segment 1 holds"),
        ] {
            let p = checked(bad, None);
            assert_eq!(p.len(), 1, "{bad}");
            assert!(p[0].message.contains(why), "{bad}: {}", p[0].message);
        }
        let deep = vec!["a"; 22].join("/");
        assert!(checked(&deep, None)[0].message.contains("at most 21 deep"));
        for bad in [
            "http://gitlab.com/api/v4",
            "ftp://gitlab.com",
            "gitlab.com/api/v4",
            "https://user:pw@gitlab.com/api/v4",
        ] {
            let p = checked("g", Some(bad));
            assert_eq!(p.len(), 1, "{bad}");
            assert_eq!(p[0].field, "gitlab.api_url");
            assert!(!p[0].to_string().contains("pw@"));
        }
    }
}
