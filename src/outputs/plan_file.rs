//! Saved plans (`plan --out`, `apply --plan`): the targets, what was observed in each and what
//! would be done, as JSON. Never the token: observations hold ARNs and states, not values.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Problem, Rollout, Upstream};
use crate::data::waves::Waves;

/// Bumped whenever the format changes incompatibly.
const FORMAT_VERSION: u32 = 1;

/// The rollout settings a plan was made for; `apply --plan` refuses a plan made for others.
/// Plans written before `[[upstreams]]` hold the single upstream's `username`,
/// `ecr_repository_prefix` and `secret_name` at the top instead of `upstreams`: they still load
/// for a rollout of that one GitLab upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PlannedFor {
    role_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    upstreams: Vec<PlannedUpstream>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ecr_repository_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_name: Option<String>,
}

/// One upstream as a plan was made for it: what its rule and secret are made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PlannedUpstream {
    name: String,
    registry: String,
    url: String,
    ecr_repository_prefix: String,
    upstream_repository_prefix: Option<String>,
    secret_name: Option<String>,
    username: Option<String>,
    custom_role_name: Option<String>,
}

impl PlannedUpstream {
    fn of(u: &Upstream) -> Self {
        Self {
            name: u.name.clone(),
            registry: u.kind.registry.to_owned(),
            url: u.url.clone(),
            ecr_repository_prefix: u.ecr_repository_prefix.clone(),
            upstream_repository_prefix: u.upstream_repository_prefix.clone(),
            secret_name: u.secret.as_ref().map(|s| s.secret_name.clone()),
            username: u.secret.as_ref().map(|s| s.username.clone()),
            custom_role_name: u.custom_role_name.clone(),
        }
    }
}

impl PlannedFor {
    fn of(r: &Rollout) -> Self {
        Self {
            role_name: r.role_name.clone(),
            upstreams: r.upstreams.iter().map(PlannedUpstream::of).collect(),
            username: None,
            ecr_repository_prefix: None,
            secret_name: None,
        }
    }

    /// Why the plan was made for other settings than the rollout's, if it was.
    fn differs(&self, r: &Rollout) -> Option<String> {
        if self.role_name != r.role_name {
            return Some(format!("role {:?}, not {:?}", self.role_name, r.role_name));
        }
        let now = Self::of(r).upstreams;
        if self.upstreams.is_empty() {
            // A plan of the single form: the one GitLab upstream of that time.
            let single = match now.as_slice() {
                [u] => {
                    u.registry == crate::config::GITLAB_REGISTRY
                        && u.username == self.username
                        && Some(&u.ecr_repository_prefix) == self.ecr_repository_prefix.as_ref()
                        && u.secret_name == self.secret_name
                }
                _ => false,
            };
            return (!single).then(|| {
                "one GitLab upstream with another username, prefix or secret name, or not the rollout's upstreams".to_owned()
            });
        }
        let names = |us: &[PlannedUpstream]| {
            us.iter()
                .map(|u| u.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(u) = self
            .upstreams
            .iter()
            .find(|p| now.iter().any(|n| n.name == p.name && n != *p))
        {
            return Some(format!(
                "upstream {:?} with other settings (registry, URL, prefix, secret, username or role)",
                u.name
            ));
        }
        (self.upstreams != now)
            .then(|| format!("upstreams {}, not {}", names(&self.upstreams), names(&now)))
    }
}

/// A saved plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PlanFile {
    format_version: u32,
    tool_version: String,
    pub(crate) created_at: String,
    planned_for: PlannedFor,
    /// With `[[waves]]`: each wave and its accounts, so that `apply --plan` goes through the
    /// waves the plan was made with.
    #[serde(default, skip_serializing_if = "Waves::is_empty")]
    pub(crate) waves: Waves,
    pub(crate) targets: crate::outputs::csv_report::Results,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot write plan {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Invalid(Problem),
}

impl PlanFile {
    pub(crate) fn new(
        rollout: &Rollout,
        created_at: String,
        waves: Waves,
        targets: crate::outputs::csv_report::Results,
    ) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at,
            planned_for: PlannedFor::of(rollout),
            waves,
            targets,
        }
    }

    /// Writes the plan atomically, so a failed write leaves no half plan behind.
    pub(crate) fn save(&self, path: &Path) -> Result<(), PlanFileError> {
        crate::outputs::atomic_file::write_atomically(path, |w| {
            serde_json::to_writer_pretty(w, self).map_err(io::Error::other)
        })
        .map_err(|source| PlanFileError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads a plan and checks that it was made for this rollout file.
    pub(crate) fn load(path: &Path, rollout: &Rollout) -> Result<Self, PlanFileError> {
        let bad = |message: String, fix: &str| {
            PlanFileError::Invalid(Problem::new("--plan", message, fix))
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            bad(
                format!("cannot read {}: {e}", path.display()),
                "pass a plan written by `ptc-rollout plan --out`",
            )
        })?;
        let plan: PlanFile = serde_json::from_str(&text).map_err(|e| {
            bad(
                format!("{} is not a ptc-rollout plan: {e}", path.display()),
                "pass a plan written by `ptc-rollout plan --out`",
            )
        })?;
        if plan.format_version != FORMAT_VERSION {
            return Err(bad(
                format!(
                    "plan format {} is not supported (this tool reads {FORMAT_VERSION})",
                    plan.format_version
                ),
                "make the plan again with this version of ptc-rollout",
            ));
        }
        if let Some(why) = plan.planned_for.differs(rollout) {
            return Err(bad(
                format!("the plan was made for other rollout settings: {why}"),
                "plan again with this rollout file (and the same --upstream), or pass the rollout file the plan was made with",
            ));
        }
        plan.check_waves(rollout)
            .map_err(|m| bad(m, "plan again with this rollout file"))?;
        Ok(plan)
    }

    /// The plan's waves are the rollout file's, in order, and hold every planned target.
    fn check_waves(&self, rollout: &Rollout) -> Result<(), String> {
        let planned: Vec<&str> = self.waves.names().collect();
        let wanted: Vec<&str> = rollout.waves.iter().map(|w| w.name.as_str()).collect();
        if planned != wanted {
            let list = |names: &[&str]| match names {
                [] => "none".to_owned(),
                _ => names.join(", "),
            };
            return Err(format!(
                "the plan was made with waves {}, the rollout file has {}",
                list(&planned),
                list(&wanted)
            ));
        }
        let outside = self
            .targets
            .iter()
            .find(|t| !self.waves.is_empty() && self.waves.of(&t.target.account_id).is_none());
        match outside {
            Some(t) => Err(format!(
                "the plan's waves do not hold account {}",
                t.target.account_id
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
