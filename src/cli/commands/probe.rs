//! `probe`: pull one image through the cache in every target of its upstream, as `docker pull`
//! does for one platform (manifest, config and smallest layer through S3), and write the report.
//! Exit 1 if any target cannot pull. The image's prefix picks the upstream (see
//! [`ImageRef::locate`]); the other upstreams' targets are not scheduled, as they have nothing
//! to pull.

use std::collections::BTreeMap;

use tokio::sync::watch;

use crate::aws::registry::manifest::Platform;
use crate::cli::args::{ProbeArgs, PullOptions};
use crate::cli::context::{open, Context, Listed, Ran};
use crate::cli::error::{refuse_if, CommandError};
use crate::cli::input::{check_junit_path, check_output_path};
use crate::cli::output::printer::Printer;
use crate::cli::output::results::Concluded;
use crate::cli::output::{token_role, Finished};
use crate::config::image_ref::ImageRef;
use crate::config::secrets::GitlabToken;
use crate::config::{is_role_name, Problem, Rollout};
use crate::engine::pull::PullSpec;
use crate::engine::runner::{Limits, Pass, ProbeSpec, Tolerance};

pub(crate) async fn run(
    args: ProbeArgs,
    output: Printer,
    interrupt: watch::Receiver<bool>,
) -> Result<Finished, CommandError> {
    let (ctx, spec) = open(&args.targets, output, interrupt, |rollout| {
        let mut problems = Vec::new();
        let pull = pull_spec("--image", &args.image, &args.pull, rollout, &mut problems);
        check_role("--as-role", args.as_role.as_deref(), &mut problems);
        problems.extend(check_output_path("--report", args.report.as_deref()).err());
        problems.extend(
            check_junit_path(args.junit.as_deref(), ("--report", args.report.as_deref())).err(),
        );
        refuse_if(problems)?;
        let (upstream, pull) = pull.expect("checked above");
        let token = registry_token(rollout, &[upstream.as_str()]);
        rollout
            .only_upstream(&upstream)
            .map_err(|p| CommandError::Refused(vec![p]))?;
        Ok((BTreeMap::from([(upstream, pull)]), token))
    })
    .await?;
    let (pulls, token) = spec;
    let spec = ProbeSpec {
        token_level: token_level(&ctx.rollout, token, output).await,
        pulls,
        as_role: args.as_role.clone(),
    };
    let ran = checking_pass(&ctx, Pass::Probe(spec), args.max_failures).await;
    Ok(Concluded {
        probe: true,
        ..Concluded::new(&ctx, "Probe", ran).to(args.report.as_deref(), args.junit.as_deref())
    }
    .finished())
}

/// A pass that writes nothing (`validate`, `probe`) over every target as listed: no canary,
/// no rule adopted.
pub(crate) async fn checking_pass(
    ctx: &Context,
    pass: Pass,
    max_failures: Option<Tolerance>,
) -> (Ran, Listed) {
    let runner = ctx.runner(Limits {
        max_failures,
        canary: false,
        adopt_rules: false,
    });
    ctx.pass_listed(&runner, pass).await
}

/// What to pull and from which upstream (its name), from the image flag and the pull options;
/// problems are noted.
pub(super) fn pull_spec(
    flag: &str,
    image: &str,
    options: &PullOptions,
    rollout: &Rollout,
    problems: &mut Vec<Problem>,
) -> Option<(String, PullSpec)> {
    let located = ImageRef::locate(flag, image, rollout)
        .map_err(|p| problems.push(p))
        .ok();
    let platform = match &options.platform {
        None => Some(Platform::default()),
        Some(text) => Platform::parse("--platform", text)
            .map_err(|p| problems.push(p))
            .ok(),
    };
    let (upstream, image) = located?;
    Some((
        upstream,
        PullSpec {
            image,
            platform: platform?,
            max_blob_bytes: options.max_blob_mib.unwrap_or(DEFAULT_MAX_BLOB_MIB) * 1024 * 1024,
        },
    ))
}

/// The largest blob a pull downloads unless `--max-blob-mib` says otherwise.
const DEFAULT_MAX_BLOB_MIB: u64 = 64;

/// The pull's flags mean nothing without a pull (`validate` without `--probe-image`).
pub(super) fn check_unused(options: &PullOptions, problems: &mut Vec<Problem>) {
    for (flag, given) in [
        ("--platform", options.platform.is_some()),
        ("--max-blob-mib", options.max_blob_mib.is_some()),
    ] {
        if given {
            problems.push(Problem::new(
                flag,
                "is given without --probe-image, so there is no pull for it to shape",
                "add --probe-image GROUP/PROJECT/IMAGE:TAG, or leave the flag out",
            ));
        }
    }
}

/// A role to pull as must be a role's name, which exists in each account.
pub(super) fn check_role(flag: &str, role: Option<&str>, problems: &mut Vec<Problem>) {
    if let Some(role) = role.filter(|r| !is_role_name(r)) {
        problems.push(Problem::new(
            flag,
            format!("{role:?} is not an IAM role name"),
            "give the role's name in each account (not its ARN), e.g. eks-node-role",
        ));
    }
}

/// The registry token of `[gitlab]`'s upstream, to ask GitLab its role: what the run has of
/// it when that upstream is `probed` (`None`: GitLab is not asked).
pub(super) struct TokenAsk {
    /// Where the token would be, for the note when it is not there.
    env: String,
    token: Option<GitlabToken>,
}

/// The registry token, when `[gitlab]` can say its role, its upstream is among those the run
/// works on (`probed`) and the token is in the environment (or its file): optional here, as a
/// pull does not need it.
pub(super) fn registry_token(rollout: &Rollout, probed: &[&str]) -> Option<TokenAsk> {
    rollout.gitlab.as_ref()?;
    let u = rollout.token_upstream()?;
    let s = u.secret.as_ref()?;
    if !probed.contains(&u.name.as_str()) {
        return None;
    }
    let mut ignored = Vec::new();
    let given = s.token_file.is_some() || std::env::var_os(&s.token_env).is_some();
    Some(TokenAsk {
        env: s.token_env.clone(),
        token: given
            .then(|| crate::cli::input::read_token(rollout, None, &mut ignored))
            .flatten(),
    })
}

/// The registry token's access level, asked of GitLab with `[gitlab]`: what decides whether a
/// refused pull of a private image is the token's role. Unknown (said once) otherwise.
pub(super) async fn token_level(
    rollout: &Rollout,
    ask: Option<TokenAsk>,
    output: Printer,
) -> Option<u64> {
    let side = rollout.gitlab.as_ref()?;
    let ask = ask?;
    let Some(token) = ask.token else {
        token_role::unknown(output, format_args!("{} is not set", ask.env));
        return None;
    };
    let info = match crate::cli::commands::token::registry_token_info(side, &token).await {
        Ok(Some(info)) => info,
        Ok(None) => return None,
        Err(e) => {
            token_role::unread(output, &e);
            return None;
        }
    };
    let level = crate::cli::commands::token::token_level(side, info.id, output).await;
    if let Some(w) = crate::cli::commands::token::role_warning(side, level) {
        token_role::warning(output, &w);
    }
    level
}
