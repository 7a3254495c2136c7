//! Command-line flags. Standard AWS settings (profile, Region, endpoint) deliberately have no
//! flags: they come from the usual AWS environment and config files.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine::runner::{Tolerance, DEFAULT_CONCURRENCY};

/// Roll out Amazon ECR pull through cache for the GitLab Container Registry across an AWS
/// Organization.
#[derive(Debug, Parser)]
#[command(name = "ptc-rollout", version, propagate_version = true)]
#[command(
    after_help = "AWS credentials, Region and endpoint come from the standard AWS environment \
    (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, SSO, ...).\nExit codes: 0 success, 1 a target failed \
    or is invalid or cannot pull, 2 bad input, 3 changes pending (plan --detailed-exitcode), 4 cannot \
    start (no usable AWS credentials or endpoint), 5 GitLab refused a token command's call, 130 \
    interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes, anywhere on the line.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Never draw progress bars (they are drawn only when stderr is a terminal anyway).
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Print only errors on stderr; data on stdout is unchanged.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More logging on stderr (-v info, -vv debug, -vvv SDK debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the accounts and Regions that would be targeted, and the accounts skipped with why.
    Accounts(AccountsArgs),
    /// Read every target and show what `apply` would do. Makes no change.
    Plan(PlanArgs),
    /// Converge every target (secret, then rule), validate every rule, write the report.
    Apply(ApplyArgs),
    /// Validate every target's rule and write the report. Read-only.
    Validate(ValidateArgs),
    /// Pull one image through the cache in every target, as `docker pull` starts it, and write
    /// the report: proves that principals of each account can really pull.
    Probe(ProbeArgs),
    /// Write a new token into every managed secret (canary first), validate, write the report.
    Rotate(RotateArgs),
    /// Remove the rules and secrets ptc-rollout manages; leave everything else alone.
    Destroy(DestroyArgs),
    /// Export a read-only compliance report: one row per target, compliant or why not.
    Report(ReportArgs),
    /// Print least-privilege IAM policies for this rollout (no AWS call).
    IamPolicy(IamPolicyArgs),
    /// The registry token's life on GitLab ([gitlab] in the rollout file): status, mint a new
    /// one, revoke the old ones once every target holds the new one.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// The registry token's details and days left, read from GitLab, and the other active tokens
    /// ptc-rollout minted in the group.
    Status(TokenStatusArgs),
    /// Create a new group access token (read_registry, Guest) and store it in the CI/CD variable
    /// (gitlab.ci_variable) or a file. The old token keeps working.
    Mint(TokenMintArgs),
    /// Once every target is valid and holds the current token, revoke the group's other tokens
    /// ptc-rollout minted. Otherwise revoke nothing and list the targets still behind.
    RevokeOld(TokenRevokeArgs),
}

#[derive(Debug, Args)]
pub struct TokenStatusArgs {
    /// The rollout file (TOML) with a [gitlab] table.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    /// Read the registry token from this file (- for standard input) instead of the environment
    /// variable named by upstream.token_env.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Exit 3 when the token expires within N days, is no longer active, or an older token
    /// ptc-rollout minted is still active (a rotation not finished): for a scheduled job.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..=365))]
    pub due_within_days: Option<i64>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct TokenMintArgs {
    /// The rollout file (TOML) with a [gitlab] table.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    /// The new token's lifetime in days (GitLab.com allows at most 365).
    #[arg(long, value_name = "N", default_value_t = 365,
          value_parser = clap::value_parser!(i64).range(1..=365))]
    pub expires_in_days: i64,
    /// Also (or, without gitlab.ci_variable, only) write the new token to this file, created
    /// with mode 0600: for the `rotate --token-file` that follows in the same job.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The rollout file (TOML) with a [gitlab] table. Every target is checked: there are no
    /// narrowing flags.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    /// Read the current registry token from this file (- for standard input) instead of the
    /// environment variable named by upstream.token_env.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Do not ask for confirmation (required when standard input is not a terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// Write the compliance report of the check (CSV) to this file.
    #[arg(long, value_name = "OUT.csv")]
    pub report: Option<PathBuf>,
    /// Also write the check as JUnit XML to this file (one test case per target, a target that
    /// still needs an older token a failed case), for CI test reports.
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
    /// Targets checked at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONCURRENCY as u16,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub concurrency: u16,
}

/// Which targets: the rollout file, optionally narrowed for this run.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The rollout file (TOML), e.g. plans/gitlab.toml.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    /// Only these Regions of the rollout file (comma-separated).
    #[arg(long, value_name = "REGION,...", value_delimiter = ',')]
    pub regions: Option<Vec<String>>,
    /// Only these accounts (comma-separated ids), within the rollout file's filters.
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    pub accounts: Option<Vec<String>>,
    /// Only this upstream of the rollout file (its `name`); `rotate` needs it when several
    /// upstreams take a token.
    #[arg(long, value_name = "NAME")]
    pub upstream: Option<String>,
    /// Targets worked on at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONCURRENCY as u16,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub concurrency: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct AccountsArgs {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Save the plan as JSON, for `apply --plan`.
    #[arg(long, value_name = "PLAN.json")]
    pub out: Option<PathBuf>,
    /// Exit 0 when nothing would change, 3 when changes are pending (1 on failures), for CI.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Read the registry token from this file (- for standard input) instead of the environment
    /// variable named by upstream.token_env. With a token (from either), the plan also shows a
    /// managed secret that does not hold it and whose rule fails as `update token`.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Also write the plan as JUnit XML to this file (one test case per target, a target with
    /// changes pending skipped with them), for CI test reports.
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
    /// Only this wave of the rollout file's [[waves]] (e.g. one manual CI job per wave). The
    /// waves before it are neither run nor checked: order the jobs (`needs:`) in CI.
    #[arg(long, value_name = "NAME")]
    pub wave: Option<String>,
    /// Take over another team's GitLab rule for the prefix (one whose secret is not
    /// secret_name): point it at ptc-rollout's secret. Without this, such a rule is a conflict
    /// and left alone.
    #[arg(long)]
    pub adopt_rules: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Carry out this saved plan; targets changed since it was made are refused as stale.
    #[arg(long, value_name = "PLAN.json")]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation (required when standard input is not a terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// Write the CSV report to this file (- for stdout).
    #[arg(long, value_name = "OUT.csv")]
    pub report: Option<PathBuf>,
    /// Read the GitLab token from this file (- for standard input) instead of the environment
    /// variable named by upstream.token_env.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Stop scheduling new targets once more than N (or N% of the targets) have failed; the
    /// rest are reported as not attempted. Default: no limit.
    #[arg(long, value_name = "N|N%", value_parser = parse_tolerance)]
    pub max_failures: Option<Tolerance>,
    /// Skip the canary: by default one target is converged and validated before all others,
    /// and the run stops if it fails (a wrong token is then written to one account only).
    #[arg(long)]
    pub no_canary: bool,
    /// Also write the results as JUnit XML to this file (one test case per target, a failed
    /// target a failed case), for CI test reports.
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
    /// Only this wave of the rollout file's [[waves]] (e.g. one manual CI job per wave). The
    /// waves before it are neither run nor checked: order the jobs (`needs:`) in CI.
    #[arg(long, value_name = "NAME")]
    pub wave: Option<String>,
    /// Take over another team's GitLab rule for the prefix (one whose secret is not
    /// secret_name): point it at ptc-rollout's secret. Without this, such a rule is a conflict
    /// and left alone.
    #[arg(long)]
    pub adopt_rules: bool,
}

fn parse_tolerance(s: &str) -> Result<Tolerance, String> {
    let bad = || format!("{s:?} is not a count or a percentage: use e.g. 10 or 5%");
    match s.strip_suffix('%') {
        Some(p) => match p.parse::<u8>() {
            Ok(p) if p <= 100 => Ok(Tolerance::Percent(p)),
            _ => Err(bad()),
        },
        None => s.parse().map(Tolerance::Count).map_err(|_| bad()),
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Stop scheduling new targets once more than N (or N%) have failed or are invalid.
    #[arg(long, value_name = "N|N%", value_parser = parse_tolerance)]
    pub max_failures: Option<Tolerance>,
    /// Write the CSV report to this file (- for stdout).
    #[arg(long, value_name = "OUT.csv")]
    pub report: Option<PathBuf>,
    /// After validating, pull this image through each valid rule of its upstream, as `probe`
    /// does: PREFIX/PATH:TAG, the prefix picking the upstream (the single [upstream] form:
    /// GROUP/PROJECT/IMAGE:TAG on registry.gitlab.com). Once per upstream at most; the rules of
    /// upstreams without one are validated only.
    #[arg(long, value_name = "PREFIX/PATH:TAG")]
    pub probe_image: Vec<String>,
    /// Pull the --probe-image as this role of each account (assumed from the member role), the
    /// role the workloads pull as, instead of as the member role.
    #[arg(long, value_name = "ROLE_NAME", requires = "probe_image")]
    pub probe_as_role: Option<String>,
    #[command(flatten)]
    pub pull: PullOptions,
    /// Also write the results as JUnit XML to this file (one test case per target, a failed
    /// target a failed case), for CI test reports.
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// The image as it is pulled from the cache: PREFIX/PATH:TAG (or PREFIX/PATH@sha256:...),
    /// the prefix (an upstream's ecr_repository_prefix) picking the upstream whose targets pull
    /// it; a Docker Hub official image is PREFIX/library/NAME:TAG. The single [upstream] form
    /// takes GROUP/PROJECT/IMAGE:TAG on registry.gitlab.com, pulled as PREFIX/GROUP/PROJECT/IMAGE.
    #[arg(long, value_name = "PREFIX/PATH:TAG")]
    pub image: String,
    /// Pull as this role of each account (assumed from the member role), e.g. a node or runner
    /// role, instead of as the member role.
    #[arg(long, value_name = "ROLE_NAME")]
    pub as_role: Option<String>,
    #[command(flatten)]
    pub pull: PullOptions,
    /// Write the CSV report to this file (- for stdout).
    #[arg(long, value_name = "OUT.csv")]
    pub report: Option<PathBuf>,
    /// Stop scheduling new targets once more than N (or N%) have failed to pull.
    #[arg(long, value_name = "N|N%", value_parser = parse_tolerance)]
    pub max_failures: Option<Tolerance>,
    /// Also write the results as JUnit XML to this file (one test case per target, a failed
    /// target a failed case), for CI test reports.
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
}

/// How much of the image a pull (`probe`, `validate --probe-image`) fetches.
#[derive(Debug, Args)]
pub struct PullOptions {
    /// For an image index, pull this platform's manifest, as `docker pull --platform` does
    /// [default: linux/amd64].
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// Download blobs up to this size; for a larger one only the request and ECR's redirect to
    /// S3 are checked [default: 64].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10240))]
    pub max_blob_mib: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Do not ask for confirmation (required when standard input is not a terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// Write the CSV report to this file (- for stdout).
    #[arg(long, value_name = "OUT.csv")]
    pub report: Option<PathBuf>,
    /// Read the new GitLab token from this file (- for standard input) instead of the
    /// environment variable named by upstream.token_env.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Stop scheduling new targets once more than N (or N%) have failed.
    #[arg(long, value_name = "N|N%", value_parser = parse_tolerance)]
    pub max_failures: Option<Tolerance>,
    /// Skip the canary (one secret rotated and validated before all others).
    #[arg(long)]
    pub no_canary: bool,
    /// Also write the results as JUnit XML to this file (one test case per target, a failed
    /// target a failed case), for CI test reports.
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
    /// Only this wave of the rollout file's [[waves]] (e.g. one manual CI job per wave). The
    /// waves before it are neither run nor checked: order the jobs (`needs:`) in CI.
    #[arg(long, value_name = "NAME")]
    pub wave: Option<String>,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Do not ask for confirmation (required when standard input is not a terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// Days Secrets Manager keeps a deleted secret recoverable (7 to 30).
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(i64).range(7..=30))]
    pub recovery_days: i64,
    /// Delete secrets without a recovery window (ForceDeleteWithoutRecovery), and purge the
    /// managed secrets already scheduled for deletion too. AWS deletes asynchronously: the name
    /// may stay taken for a few seconds.
    #[arg(long = "force-delete-secrets", alias = "force-delete")]
    pub force_delete_secrets: bool,
    /// Write the CSV report to this file (- for stdout).
    #[arg(long, value_name = "OUT.csv")]
    pub report: Option<PathBuf>,
    /// Also write the results as JUnit XML to this file (one test case per target, a target an
    /// error stopped an error case), for CI test reports.
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Csv,
    Json,
    /// One self-contained page: the accounts by Regions matrix (needs --out).
    Html,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub targets: TargetArgs,
    #[arg(long, value_enum, default_value_t = ReportFormat::Csv)]
    pub format: ReportFormat,
    /// Write the export to this file instead of stdout (required with --format html).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// A token expiring within this many days makes its targets non-compliant.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub expiry_warning_days: i64,
    /// With [gitlab]: read the registry token (whose expiry GitLab is asked) from this file (-
    /// for standard input) instead of the environment variable named by upstream.token_env.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Also write the export as JUnit XML to this file (one test case per target, a
    /// non-compliant target a failed case with its reasons), for CI test reports.
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    /// The rollout file (TOML).
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    /// The role that runs ptc-rollout, trusted by the member role (placeholder if omitted).
    #[arg(long, value_name = "ARN")]
    pub caller_role_arn: Option<String>,
    /// The Organization's id, required of callers by the trust policy (placeholder if omitted).
    #[arg(long, value_name = "ID")]
    pub org_id: Option<String>,
    /// The role `probe --as-role` will pull as: the member role may then assume it.
    #[arg(long, value_name = "ROLE_NAME")]
    pub probe_as_role: Option<String>,
}
