//! `--image`, `--probe-image`: an image as the user gives it, parsed, matched to its upstream
//! and refused with the fix before any AWS call (input, so it lives with the rollout file's
//! checks). With `[[upstreams]]` the image is named as it is pulled from the cache,
//! `PREFIX/PATH:TAG`, and its prefix picks the upstream; the single `[upstream]` form's image
//! is the path on registry.gitlab.com, as it has always been.

use std::sync::LazyLock;

use regex::Regex;

use crate::config::upstreams::Upstream;
use crate::config::{Problem, Rollout, GITLAB_REGISTRY_URL};

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

/// Docker Hub's names for itself that a user may paste before an image.
const DOCKER_HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// An image on an upstream: `PATH:TAG` or `PATH@sha256:...`, the path as the upstream's
/// rule sees it (without the ECR prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef {
    /// The path after the rule's prefix (on registry.gitlab.com for the single form).
    pub(crate) path: String,
    /// A tag, or a digest.
    pub(crate) reference: String,
}

impl ImageRef {
    /// Parses `flag`'s value as the single form takes it (a path on registry.gitlab.com),
    /// refusing anything a registry would not take.
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
        let (path, reference) = split(flag, text, example)?;
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

    /// Parses `flag`'s value for `rollout` and picks its upstream: the single `[upstream]`
    /// form's only one, else the upstream with the longest `ecr_repository_prefix` the image
    /// starts with (a `ROOT` upstream takes what no prefix matches). Returns the upstream's name.
    pub(crate) fn locate(
        flag: &str,
        text: &str,
        rollout: &Rollout,
    ) -> Result<(String, Self), Problem> {
        let ups = &rollout.upstreams;
        if let [only] = ups.as_slice() {
            if only.at == "upstream" {
                return Ok((only.name.clone(), Self::parse(flag, text)?));
            }
        }
        let prefixes: Vec<String> = ups.iter().map(|u| format!("{}/", prefix_of(u))).collect();
        let example = format!(
            "give the image as it is pulled from the cache, PREFIX/PATH:TAG, PREFIX being an upstream's ecr_repository_prefix ({}), e.g. {}",
            prefixes.join(", "),
            example_of(ups)
        );
        let host = text.split('/').next().unwrap_or_default();
        let named = ups.iter().find(|u| {
            u.url == host || (u.kind.registry == "docker-hub" && DOCKER_HUB_HOSTS.contains(&host))
        });
        if let Some(u) = named.filter(|_| !prefixes.iter().any(|p| text.starts_with(p.as_str()))) {
            let rest = text[host.len()..].trim_start_matches('/');
            return Err(Problem::new(
                flag,
                format!("{text:?} names the registry host"),
                format!(
                    "give the image as it is pulled from the cache, under the upstream's prefix: {}",
                    join(prefix_of(u), rest)
                ),
            ));
        }
        let (path, reference) = split(flag, text, &example)?;
        if !PATH_RE.is_match(path) || path.len() > 200 {
            return Err(Problem::new(
                flag,
                format!("{path:?} is not an image path"),
                "use lowercase PREFIX/PATH, as the image is named in the cache",
            ));
        }
        let Some((u, rest)) = pick(ups, path) else {
            return Err(Problem::new(
                flag,
                format!("{text:?} starts with no upstream's ecr_repository_prefix"),
                example,
            ));
        };
        // ECR's user guide (pull-through-cache-working.html): a Docker Hub official image is
        // pulled with its library/ namespace, which `docker pull nginx` adds silently.
        if u.kind.registry == "docker-hub" && !rest.contains('/') {
            let fixed = format!(
                "{}{}{reference}",
                join(prefix_of(u), &format!("library/{rest}")),
                if reference.starts_with("sha256:") {
                    '@'
                } else {
                    ':'
                }
            );
            return Err(Problem::new(
                flag,
                format!("{text:?} has no namespace: Docker Hub's official images are under library/, and ECR pulls them only by that path"),
                format!("give {fixed}"),
            ));
        }
        Ok((
            u.name.clone(),
            ImageRef {
                path: rest.to_owned(),
                reference: reference.to_owned(),
            },
        ))
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

/// The path and the tag or digest of `text`, or why it has none a registry would take.
fn split<'a>(flag: &str, text: &'a str, example: &str) -> Result<(&'a str, &'a str), Problem> {
    match text.split_once('@') {
        Some((path, digest)) if DIGEST_RE.is_match(digest) => Ok((path, digest)),
        Some(_) => Err(Problem::new(
            flag,
            format!("{text:?} has a malformed digest"),
            "use @sha256: and 64 hex digits, or a tag",
        )),
        None => match text.rsplit_once(':') {
            Some((path, tag)) if !tag.contains('/') && TAG_RE.is_match(tag) => Ok((path, tag)),
            Some(_) => Err(Problem::new(
                flag,
                format!("{text:?} has a malformed tag"),
                example,
            )),
            None => Err(Problem::new(flag, format!("{text:?} has no tag"), example)),
        },
    }
}

/// An upstream's prefix as an image begins with it (`ROOT`: nothing).
fn prefix_of(u: &Upstream) -> &str {
    u.ecr_repository_prefix.trim_end_matches('/')
}

fn join(prefix: &str, path: &str) -> String {
    match prefix {
        "ROOT" => path.to_owned(),
        p => format!("{p}/{path}"),
    }
}

/// The upstream whose prefix `path` starts with (the longest, as prefixes may nest: `team`
/// and `team/hub`), and the rest of the path; else the `ROOT` upstream with the whole path.
fn pick<'u, 'p>(ups: &'u [Upstream], path: &'p str) -> Option<(&'u Upstream, &'p str)> {
    ups.iter()
        .filter(|u| prefix_of(u) != "ROOT")
        .filter_map(|u| {
            let rest = path.strip_prefix(prefix_of(u))?.strip_prefix('/')?;
            Some((u, rest))
        })
        .max_by_key(|(u, _)| prefix_of(u).len())
        .or_else(|| {
            ups.iter()
                .find(|u| prefix_of(u) == "ROOT")
                .map(|u| (u, path))
        })
}

/// An image of the file's first upstream, for messages.
fn example_of(ups: &[Upstream]) -> String {
    let first = ups.first().map_or("gitlab", |u| prefix_of(u));
    let path = match ups.first().map(|u| u.kind.registry) {
        Some("docker-hub") => "library/nginx:latest",
        Some("ecr-public") => "docker/library/busybox:latest",
        _ => "my-group/my-project/app:1.0",
    };
    join(first, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_rollouts::{rollout, single, DOCKER_HUB, ECR_PUBLIC, GITLAB};

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

    fn several() -> Rollout {
        let mirror = ECR_PUBLIC
            .replace("\"ecr-public\"\nregistry", "\"hub-mirror\"\nregistry")
            .replace("prefix = \"ecr-public\"", "prefix = \"docker-hub/public\"");
        rollout(&[GITLAB, DOCKER_HUB, &mirror])
    }

    #[test]
    fn the_prefix_picks_the_upstream() {
        let r = several();
        let (u, i) = ImageRef::locate("--image", "docker-hub/library/nginx:latest", &r).unwrap();
        assert_eq!((u.as_str(), i.path.as_str()), ("hub", "library/nginx"));
        assert_eq!(i.display("docker-hub"), "docker-hub/library/nginx:latest");
        // The longest prefix wins.
        let (u, i) =
            ImageRef::locate("--image", "docker-hub/public/docker/library/busybox:1", &r).unwrap();
        assert_eq!(
            (u.as_str(), i.path.as_str()),
            ("hub-mirror", "docker/library/busybox")
        );
        let (u, _) = ImageRef::locate("--image", "gitlab/g/p/app:1.0", &r).unwrap();
        assert_eq!(u, "gitlab");
        for (bad, says) in [
            (
                "docker-hub/nginx:latest",
                "give docker-hub/library/nginx:latest",
            ),
            ("g/p/app:1.0", "starts with no upstream"),
            ("docker.io/library/nginx:1", "docker-hub/library/nginx:1"),
            ("registry.gitlab.com/g/p/app:1", "gitlab/g/p/app:1"),
            ("gitlab/g/p/app", "no tag"),
        ] {
            let p = ImageRef::locate("--image", bad, &r).unwrap_err();
            assert!(
                format!("{} {}", p.message, p.fix).contains(says),
                "{bad}: {p:?}"
            );
        }
    }

    #[test]
    fn the_single_form_takes_the_path_on_gitlab() {
        let r = single();
        let (u, i) = ImageRef::locate("--image", "gitlab/p/app:1.0", &r).unwrap();
        assert_eq!((u.as_str(), i.path.as_str()), ("gitlab", "gitlab/p/app"));
    }
}
