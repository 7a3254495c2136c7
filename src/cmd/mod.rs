//! The command line: one file per command, dispatched from [`run`]. Each command checks all of
//! its input before the first AWS call, then runs passes with the runner and hands the rows to
//! the reporter: data on stdout, progress, failures and summaries on stderr. A command returns
//! its exit status, or a [`CommandError`] that `main` prints once.

mod accounts;
mod apply;
mod compliance;
mod conclude;
mod destroy;
mod error;
mod iam_policy;
mod input;
mod plan;
mod probe;
pub mod reporter;
mod rotate;
mod session;
mod token;
mod validate;
mod waves;

use tokio::sync::watch;

use crate::cli::{Cli, Command, GlobalArgs, TokenCommand};
pub use error::{print as print_error, CommandError};
use reporter::Output;

/// Runs the command and returns its exit code. `interrupt` turning `true` is Ctrl-C: the
/// runner stops scheduling, lets in-flight targets finish for a short while, and the command
/// writes its complete report and returns 130.
pub async fn run(cli: Cli, interrupt: watch::Receiver<bool>) -> Result<i32, CommandError> {
    let output = Output {
        no_progress: cli.global.no_progress,
        quiet: cli.global.quiet,
    };
    match cli.command {
        Command::Accounts(args) => accounts::run(args, output, interrupt).await,
        Command::Plan(args) => plan::run(args, output, interrupt).await,
        Command::Apply(args) => apply::run(args, output, interrupt).await,
        Command::Validate(args) => validate::run(args, output, interrupt).await,
        Command::Probe(args) => probe::run(args, output, interrupt).await,
        Command::Rotate(args) => rotate::run(args, output, interrupt).await,
        Command::Destroy(args) => destroy::run(args, output, interrupt).await,
        Command::Report(args) => compliance::run(args, output, interrupt).await,
        Command::IamPolicy(args) => iam_policy::run(args),
        Command::Token(TokenCommand::Status(args)) => token::status(args).await,
        Command::Token(TokenCommand::Mint(args)) => token::mint(args, output).await,
        Command::Token(TokenCommand::RevokeOld(args)) => {
            token::revoke_old(args, output, interrupt).await
        }
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
