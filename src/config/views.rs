//! The rollout seen from one upstream: what a target's work reads ([`Rollout::views`]), and
//! narrowing a run to one upstream (`--upstream NAME`).

use std::collections::BTreeMap;

use super::secrets::{GitlabToken, Tokens};
use super::{Problem, Rollout, SecretSpec, Upstream};

impl Rollout {
    /// One rollout per upstream, each the whole file seen from that upstream: what a target's
    /// work for that upstream reads. Only the first keeps `[pull_access]`: the one statement
    /// in each Region's registry policy covers every upstream's prefix, so one writer owns it.
    pub(crate) fn views(&self) -> Vec<Rollout> {
        self.upstreams
            .iter()
            .map(|u| Rollout {
                upstream: u.clone(),
                pull_access: self
                    .pull_access
                    .clone()
                    .filter(|_| u.name == self.policy_owner),
                ..self.clone()
            })
            .collect()
    }

    /// Keeps only the named upstream (`--upstream NAME`).
    pub(crate) fn only_upstream(&mut self, name: &str) -> Result<(), Problem> {
        let Some(u) = self.upstreams.iter().find(|u| u.name == name).cloned() else {
            let names: Vec<_> = self.upstreams.iter().map(|u| u.name.as_str()).collect();
            return Err(Problem::new(
                "--upstream",
                format!("{name:?} is not an upstream of the rollout file"),
                format!("choose among {}", names.join(",")),
            ));
        };
        self.narrowed = self.upstreams.len() > 1;
        // The one upstream of the run writes the statement (for every prefix of the file).
        self.policy_owner = u.name.clone();
        self.upstreams = vec![u.clone()];
        self.upstream = u;
        Ok(())
    }

    /// Whether `--upstream` narrowed the run to one of the file's several upstreams.
    pub(crate) fn narrowed(&self) -> bool {
        self.narrowed
    }

    /// The upstream whose token the GitLab side manages and `report` compares: `[gitlab]`'s,
    /// else the first that takes a token.
    pub(crate) fn token_upstream(&self) -> Option<&Upstream> {
        let named = self.gitlab.as_ref().and_then(|g| g.upstream.as_deref());
        match named {
            Some(name) => self.upstreams.iter().find(|u| u.name == name),
            None => self.upstreams.iter().find(|u| u.secret.is_some()),
        }
    }

    /// The GitLab registry token as the token of [`Self::token_upstream`].
    pub(crate) fn tokens_of(&self, token: GitlabToken) -> Tokens {
        match self.token_upstream() {
            Some(u) => Tokens::one(&u.name, token),
            None => Tokens::default(),
        }
    }

    /// Whether this view's targets own ptc-rollout's registry policy statement (see
    /// [`Self::views`]).
    pub(crate) fn owns_registry_policy(&self) -> bool {
        self.upstream.name == self.policy_owner
    }

    /// The view's ECR prefix.
    pub(crate) fn prefix(&self) -> &str {
        &self.upstream.ecr_repository_prefix
    }

    /// The view's secret, when its upstream takes one.
    pub(crate) fn secret(&self) -> Option<&SecretSpec> {
        self.upstream.secret.as_ref()
    }

    /// The view's secret name ("" for an upstream without one, which no secret call reaches).
    pub(crate) fn secret_name(&self) -> &str {
        self.secret().map_or("", |s| s.secret_name.as_str())
    }

    /// The user the view's token belongs to.
    pub(crate) fn username(&self) -> &str {
        self.secret().map_or("", |s| s.username.as_str())
    }

    /// The view's token expiry date, as the user set it.
    pub(crate) fn token_expires_on(&self) -> Option<&str> {
        self.upstream.token_expires_on.as_deref()
    }

    /// The variable holding the token of [`Self::token_upstream`].
    pub(crate) fn gitlab_token_env(&self) -> &str {
        self.token_upstream()
            .and_then(|u| u.secret.as_ref())
            .map_or("", |s| s.token_env.as_str())
    }

    /// The tags for the view's secret, besides ptc-rollout's own.
    pub(crate) fn tags(&self) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.secret().map_or(&NONE, |s| &s.tags)
    }
}
