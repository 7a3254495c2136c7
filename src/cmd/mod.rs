//! The commands. Each checks all of its input before the first AWS call (exit 2 on bad input),
//! then discovers targets, runs passes with the runner, and prints through the reporter: data
//! on stdout, progress, failures and summaries on stderr.

mod accounts;
pub mod reporter;
mod apply;
mod compliance;
mod destroy;
mod iam_policy;
mod plan;
mod probe;
mod rotate;
mod validate;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::stream::BoxStream;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::sync::watch;

use crate::cli::{Cli, Command, GlobalArgs, TargetArgs};
use crate::clients::{Clients, Overrides};
use crate::credentials::{Access, Caller, CHAINED_SESSION_LIMIT};
use crate::discovery::{self, Discovery};
use crate::exit;
use reporter::{Destination, Output};
use crate::rollout::{Problem, Rollout};
use crate::runner::{Event, Limits, Runner, Setup, Stop};
use crate::target::{Target, TargetResult};
use crate::token::{GitlabToken, TokenSource};

/// Runs the command and returns the process exit code. `shutdown` resolving is an interrupt:
/// the runner stops scheduling, lets in-flight targets finish for a short while, and the
/// command writes its complete report and returns 130. A second Ctrl-C exits at once.
pub async fn run(cli: Cli, shutdown: impl Future<Output = ()> + Send + 'static) -> i32 {
    let output = Output {
        no_progress: cli.global.no_progress,
        quiet: cli.global.quiet,
    };
    let (interrupt_tx, interrupt) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = interrupt_tx.send(true);
        eprintln!("interrupted: finishing targets in flight, then writing the report (Ctrl-C again to exit now)");
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted again: exiting now");
            std::process::exit(exit::INTERRUPTED);
        }
    });
    match cli.command {
        Command::Accounts(args) => accounts::run(args, output).await,
        Command::Plan(args) => plan::run(args, output, interrupt).await,
        Command::Apply(args) => apply::run(args, output, interrupt).await,
        Command::Validate(args) => validate::run(args, output, interrupt).await,
        Command::Probe(args) => probe::run(args, output, interrupt).await,
        Command::Rotate(args) => rotate::run(args, output, interrupt).await,
        Command::Destroy(args) => destroy::run(args, output, interrupt).await,
        Command::Report(args) => compliance::run(args, output, interrupt).await,
        Command::IamPolicy(args) => iam_policy::run(args),
    }
}

/// Logs go to stderr. The SDK is never logged at TRACE, where it prints whole request bodies
/// (a CreateSecret body holds the token), whatever the verbosity or RUST_LOG.
pub fn init_logging(g: &GlobalArgs) {
    let filter = match (g.quiet, g.verbose) {
        (true, _) => "off,ptc_rollout=error",
        // The SDK's own warnings (a config file that is not there, ...) are not the user's
        // concern at the default verbosity: what matters reaches them as errors.
        (false, 0) => "off,ptc_rollout=warn",
        (false, 1) => "warn,ptc_rollout=info",
        (false, 2) => "warn,ptc_rollout=debug,aws_config=info",
        _ => "info,ptc_rollout=trace,aws_config=debug,aws_smithy_runtime=debug,aws_sdk_sts=debug",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(true)
        .try_init();
}

/// Prints input problems and returns the bad-input exit code.
pub(crate) fn refuse(problems: &[Problem]) -> i32 {
    for p in problems {
        eprintln!("error: {p}");
    }
    exit::USAGE
}

/// Loads the rollout file and applies the narrowing flags.
pub(crate) fn load_rollout(args: &TargetArgs) -> Result<Rollout, i32> {
    let mut rollout = match Rollout::load(&args.config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(exit::USAGE);
        }
    };
    rollout
        .narrow(args.regions.as_deref(), args.accounts.as_deref())
        .map_err(|p| refuse(&p))?;
    Ok(rollout)
}

/// Refuses an output path whose directory does not exist, before any AWS call.
pub(crate) fn check_output_path(flag: &str, path: Option<&Path>) -> Result<(), Problem> {
    let Some(path) = path.filter(|p| *p != Path::new("-")) else {
        return Ok(());
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(Problem::new(
            flag,
            format!("directory {} does not exist", dir.display()),
            "create it or choose another path",
        ));
    }
    if path.is_dir() {
        return Err(Problem::new(
            flag,
            format!("{} is a directory", path.display()),
            "name a file",
        ));
    }
    Ok(())
}

/// Asks on the terminal, as Terraform does: only "yes" proceeds.
pub(crate) async fn confirm(question: &str) -> bool {
    use std::io::Write;
    eprint!("{question} Only 'yes' will be accepted: ");
    let _ = std::io::stderr().flush();
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).is_ok() && line.trim() == "yes"
    })
    .await
    .unwrap_or(false)
}

/// A command that changes things refuses to start without `--yes` when it cannot ask.
pub(crate) fn confirmation_possible(yes: bool, fix: &str) -> Option<Problem> {
    use std::io::IsTerminal;
    (!yes && !std::io::stdin().is_terminal()).then(|| {
        Problem::new(
            "--yes",
            "standard input is not a terminal, so the command cannot ask for confirmation",
            fix,
        )
    })
}

/// What every AWS-touching command needs once its input is valid.
pub(crate) struct Session {
    pub rollout: Arc<Rollout>,
    pub clients: Clients,
    pub access: Access,
}

impl Session {
    /// Loads the AWS configuration and identifies the caller (the first AWS call).
    pub async fn start(rollout: Rollout) -> Result<Self, i32> {
        let clients = Clients::load(Overrides::default(), &rollout.tuning).await;
        let caller = Caller::identify(&clients.sts(), &clients.sts_endpoint())
            .await
            .map_err(|e| {
                eprintln!("error: {e}");
                exit::CANNOT_START
            })?;
        tracing::info!(account = %caller.account_id, arn = %caller.arn, "caller identified");
        let run_started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut duration = Duration::from_secs(rollout.session_duration_seconds as u64);
        // A caller that is itself a role session (GitLab CI through OIDC, SSO) chains roles, and
        // AWS allows a chained session one hour at most: ask for what AWS will grant.
        if caller.is_role_session() && duration > CHAINED_SESSION_LIMIT {
            tracing::warn!(
                "targets.session_duration_seconds = {} is more than AWS allows a role assumed by another role's session ({}): using {} s",
                duration.as_secs(),
                caller.arn,
                CHAINED_SESSION_LIMIT.as_secs()
            );
            duration = CHAINED_SESSION_LIMIT;
        }
        let access = Access {
            caller,
            role_name: rollout.role_name.clone(),
            external_id: rollout.external_id.clone(),
            duration,
            session_name: format!("ptc-rollout-{run_started}"),
        };
        Ok(Session {
            rollout: Arc::new(rollout),
            clients,
            access,
        })
    }

    /// Lists and filters the Organization; warns about ids the Organization does not hold.
    pub async fn discover(&self) -> Result<Discovery, i32> {
        let d = discovery::discover(&self.clients.organizations(), &self.rollout)
            .await
            .map_err(|e| {
                eprintln!("error: cannot list the Organization's accounts: {e}");
                exit::TARGET_FAILED
            })?;
        warn_unknown(&d.unknown_ids);
        tracing::info!(
            targeted = d.targeted.len(),
            skipped = d.skipped.len(),
            "accounts discovered"
        );
        Ok(d)
    }

    /// The (account, Region) targets, streamed as the Organization is listed, and the
    /// listing task (see [`finish_listing`]).
    pub fn list_targets(&self) -> (BoxStream<'static, Target>, Listing) {
        discovery::stream_targets(self.clients.organizations(), self.rollout.clone())
    }

    pub fn runner(
        &self,
        concurrency: usize,
        limits: Limits,
        interrupt: &watch::Receiver<bool>,
    ) -> Arc<Runner> {
        Runner::new(Setup {
            clients: self.clients.clone(),
            access: self.access.clone(),
            rollout: self.rollout.clone(),
            concurrency,
            limits,
            interrupt: interrupt.clone(),
        })
    }
}

/// Warns of account ids the rollout file names that the Organization does not hold.
fn warn_unknown(ids: &[String]) {
    for id in ids {
        tracing::warn!("account {id} is named in the rollout file but is not in the Organization");
    }
}

/// The task listing the Organization for a streamed pass.
pub(crate) type Listing =
    tokio::task::JoinHandle<Result<discovery::Listing, crate::error::ApiError>>;

/// Waits for the listing to end: warns about ids the Organization does not hold, and turns a
/// failed listing into exit code 1 (the targets listed before it failed were still worked on).
pub(crate) async fn finish_listing(listing: Listing) -> Result<(), i32> {
    match listing.await {
        Ok(Ok(l)) => {
            warn_unknown(&l.unknown_ids);
            tracing::info!(
                targeted = l.targeted,
                skipped = l.skipped,
                "accounts listed"
            );
            Ok(())
        }
        Ok(Err(e)) => {
            eprintln!("error: cannot list the Organization's accounts: {e}");
            Err(exit::TARGET_FAILED)
        }
        // Aborted with the run (interrupt past its deadline): the report says what was done.
        Err(_) => Ok(()),
    }
}

/// Runs one pass with a reporter attached; returns the results sorted for the report, and why
/// the pass stopped early if it did.
pub(crate) async fn with_reporter<F, Fut>(
    output: Output,
    pass: F,
) -> (crate::rows::Results, Option<Stop>)
where
    F: FnOnce(UnboundedSender<Event>) -> Fut,
    Fut: Future<Output = Option<Stop>>,
{
    let (tx, rx) = unbounded_channel();
    let reporter = tokio::spawn(reporter::consume(output, rx));
    let stop = pass(tx).await;
    (reporter.await.expect("reporter task"), stop)
}

/// Says on stderr why a pass stopped early.
pub(crate) fn print_stop(stop: Option<&Stop>) {
    match stop {
        None => {}
        Some(Stop::Interrupted) => {
            eprintln!("interrupted: targets never started are reported as not attempted")
        }
        Some(Stop::TooManyFailures { failed, allowed }) => {
            eprintln!("stopped: {failed} targets failed, more than --max-failures {allowed}; the rest were not attempted")
        }
        Some(Stop::CanaryFailed { target, reason }) => eprintln!(
            "stopped: the canary target {} {} failed ({reason}); nothing else was written",
            target.account_id, target.region
        ),
    }
}

/// Prints failure lines and the summary on stderr, unless quiet (failures are always printed).
pub(crate) fn print_outcome(output: Output, title: &str, results: &[Box<TargetResult>]) {
    for line in reporter::failure_lines(results) {
        eprintln!("error: {line}");
    }
    if !output.quiet {
        eprint!("{}", reporter::summary(title, results));
    }
}

/// 130 when interrupted, else 0 when every row succeeded, 1 otherwise.
pub(crate) fn exit_code(results: &[Box<TargetResult>], stop: Option<&Stop>) -> i32 {
    if stop == Some(&Stop::Interrupted) {
        exit::INTERRUPTED
    } else if results.iter().any(|r| r.is_failure()) {
        exit::TARGET_FAILED
    } else {
        exit::SUCCESS
    }
}

/// The end of every command that reports per target: failure lines and the summary on stderr,
/// the report, then the exit code (130 when interrupted; 1 on a failed row or listing).
pub(crate) fn conclude(
    output: Output,
    title: &str,
    report: Destination<'_>,
    rollout: &Rollout,
    results: &[Box<TargetResult>],
    stop: Option<&Stop>,
    listed: Result<(), i32>,
) -> i32 {
    print_outcome(output, title, results);
    print_stop(stop);
    let written = write_report(report, rollout, results);
    if written != exit::SUCCESS {
        return written;
    }
    match listed {
        Err(code) if stop != Some(&Stop::Interrupted) => code,
        _ => exit_code(results, stop),
    }
}

/// The input checks of the commands that write the token (`apply`, `rotate`): the token, the
/// report path and whether confirmation is possible. All problems at once, before any AWS call.
pub(crate) fn token_inputs(
    rollout: &Rollout,
    token_file: Option<&Path>,
    report: Option<&Path>,
    yes: bool,
    fix: &str,
) -> (Option<GitlabToken>, Vec<Problem>) {
    let mut problems = Vec::new();
    let token = TokenSource::choose(token_file, &rollout.token_env)
        .read()
        .map_err(|p| problems.push(p))
        .ok();
    if let Err(p) = check_output_path("--report", report) {
        problems.push(p);
    }
    problems.extend(confirmation_possible(yes, fix));
    (token, problems)
}

/// Writes the report where asked, or prints the results table on stdout.
pub(crate) fn write_report(
    to: Destination<'_>,
    rollout: &Rollout,
    results: &[Box<TargetResult>],
) -> i32 {
    match to.path {
        Some(path) => match crate::rows::save_csv(path, rollout, results, to.probe) {
            Ok(()) => exit::SUCCESS,
            Err(e) => {
                eprintln!("error: cannot write the report to {}: {e}", path.display());
                exit::TARGET_FAILED
            }
        },
        None => {
            print!("{}", reporter::results_table(results, to.probe));
            exit::SUCCESS
        }
    }
}
