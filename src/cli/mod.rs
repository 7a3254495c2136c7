//! The command line: one file per command, dispatched from [`run`]. Each command checks all of
//! its input before the first AWS call, then runs passes with the runner (whose events the
//! reporter tells as they come) and returns what happened, a [`output::Finished`], which the
//! output module renders here in one place: data on stdout, failures and summaries on stderr,
//! and the exit status. Or a [`CommandError`] that `main` prints once.

pub(crate) mod args;
mod commands;
mod context;
mod error;
pub mod exit;
mod input;
pub(crate) mod output;
mod waves;

use tokio::sync::watch;

use crate::cli::args::{Cli, Command, GlobalArgs, TokenCommand};
pub use error::CommandError;
use output::printer::Printer;
pub use output::printer::{internal_error, interrupted, interrupted_again, print_error};

/// Runs the command and returns its exit code. `interrupt` turning `true` is Ctrl-C: the
/// runner stops scheduling, lets in-flight targets finish for a short while, and the command
/// writes its complete report and returns 130.
pub async fn run(cli: Cli, interrupt: watch::Receiver<bool>) -> Result<i32, CommandError> {
    let output = Printer {
        no_progress: cli.global.no_progress,
        quiet: cli.global.quiet,
        verbose: cli.global.verbose > 0,
    };
    let finished = match cli.command {
        Command::Accounts(args) => commands::accounts::run(args, output, interrupt).await,
        Command::Plan(args) => commands::plan::run(args, output, interrupt).await,
        Command::Apply(args) => commands::apply::run(args, output, interrupt).await,
        Command::Validate(args) => commands::validate::run(args, output, interrupt).await,
        Command::Probe(args) => commands::probe::run(args, output, interrupt).await,
        Command::Rotate(args) => commands::rotate::run(args, output, interrupt).await,
        Command::Destroy(args) => commands::destroy::run(args, output, interrupt).await,
        Command::Report(args) => commands::report::run(args, output, interrupt).await,
        Command::IamPolicy(args) => commands::iam_policy::run(args, output),
        Command::Token(TokenCommand::Status(args)) => commands::token::status(args).await,
        Command::Token(TokenCommand::Mint(args)) => commands::token::mint(args).await,
        Command::Token(TokenCommand::RevokeOld(args)) => {
            commands::token::revoke_old(args, output, interrupt).await
        }
    }?;
    output::render(output, finished)
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
