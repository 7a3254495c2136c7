//! `--image`, `--probe-image`: an image on registry.gitlab.com as the user gives it, parsed and
//! refused with the fix before any AWS call (input, so it lives with the rollout file's checks).

use std::sync::LazyLock;

use regex::Regex;

use crate::config::{Problem, GITLAB_REGISTRY_URL};

/// A repository path as the distribution spec allows it (lowercase components).
static PATH_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$",
    )
    .expect("valid regex")
});
static TAG_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\w][\w.-]{0,127}$").expect("valid regex"));
static DIGEST_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^sha256:[a-f0-9]{64}$").expect("valid regex"));

/// An image on registry.gitlab.com: `GROUP/PROJECT/IMAGE:TAG` or `...@sha256:...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef {
    /// The path on registry.gitlab.com.
    pub(crate) path: String,
    /// A tag, or a digest.
    pub(crate) reference: String,
}

impl ImageRef {
    /// Parses `flag`'s value, refusing anything a registry would not take.
    pub(crate) fn parse(flag: &str, text: &str) -> Result<Self, Problem> {
        let example = "give the image's path on registry.gitlab.com with a tag, e.g. my-group/my-project/app:1.0";
        if let Some(rest) = text.strip_prefix(GITLAB_REGISTRY_URL) {
            return Err(Problem::new(
                flag,
                format!("{text:?} names the registry host"),
                format!(
                    "leave out {GITLAB_REGISTRY_URL}/ and give only the path: {}",
                    rest.trim_start_matches('/')
                ),
            ));
        }
        let (path, reference) = match text.split_once('@') {
            Some((path, digest)) if DIGEST_RE.is_match(digest) => (path, digest),
            Some(_) => {
                return Err(Problem::new(
                    flag,
                    format!("{text:?} has a malformed digest"),
                    "use @sha256: and 64 hex digits, or a tag",
                ))
            }
            None => match text.rsplit_once(':') {
                Some((path, tag)) if !tag.contains('/') && TAG_RE.is_match(tag) => (path, tag),
                Some(_) => {
                    return Err(Problem::new(
                        flag,
                        format!("{text:?} has a malformed tag"),
                        example,
                    ))
                }
                None => return Err(Problem::new(flag, format!("{text:?} has no tag"), example)),
            },
        };
        if !PATH_RE.is_match(path) || path.len() > 200 {
            return Err(Problem::new(
                flag,
                format!("{path:?} is not an image path"),
                "use lowercase GROUP/PROJECT/IMAGE, as on registry.gitlab.com",
            ));
        }
        Ok(ImageRef {
            path: path.to_owned(),
            reference: reference.to_owned(),
        })
    }

    /// The cached repository's name in ECR: the rule's prefix, then the upstream path.
    pub(crate) fn repository(&self, prefix: &str) -> String {
        match prefix.trim_end_matches('/') {
            "ROOT" => self.path.clone(),
            p => format!("{p}/{}", self.path),
        }
    }

    /// As `docker pull` would name it, without the registry host.
    pub(crate) fn display(&self, prefix: &str) -> String {
        let sep = if self.reference.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        format!("{}{sep}{}", self.repository(prefix), self.reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_parsed_and_refused_with_the_fix() {
        let i = ImageRef::parse("--image", "my-group/my-project/app:1.0").unwrap();
        assert_eq!(i.repository("gitlab"), "gitlab/my-group/my-project/app");
        assert_eq!(i.display("gitlab"), "gitlab/my-group/my-project/app:1.0");
        assert_eq!(i.repository("ROOT"), "my-group/my-project/app");
        let d = format!("g/p/app@sha256:{}", "a".repeat(64));
        assert_eq!(
            ImageRef::parse("--image", &d).unwrap().reference,
            format!("sha256:{}", "a".repeat(64))
        );
        for bad in [
            "g/p/app",
            "G/P/app:1",
            "g/p/app:",
            "registry.gitlab.com/g/p/app:1",
            "g/p/app@sha256:12",
            "g//app:1",
        ] {
            let p = ImageRef::parse("--image", bad).unwrap_err();
            assert_eq!(p.field, "--image", "{bad}");
        }
    }
}
