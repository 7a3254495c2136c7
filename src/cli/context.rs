//! The opening every command that works on targets shares: load the rollout file, check the
//! command's own input, identify the caller; then list the targets and run passes with the
//! reporter attached.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::stream::{BoxStream, Stream, StreamExt};
use tokio::sync::mpsc::unbounded_channel;
use tokio::sync::watch;

use crate::aws::clients::{Clients, Overrides};
use crate::cli::args::TargetArgs;
use crate::cli::error::CommandError;
use crate::cli::input::load_rollout;
use crate::cli::output::printer::Printer;
use crate::cli::output::reporter;
use crate::config::Rollout;
use crate::data::target::Target;
use crate::engine::credentials::{Access, Caller, CHAINED_SESSION_LIMIT};
use crate::engine::discovery::{self, Discovery, Names};
use crate::engine::runner::{Event, Job, Limits, Pass, Runner, Setup, Stop};
use crate::outputs::csv_report::Results;

/// What every AWS-touching command needs once its input is valid.
pub(crate) struct Context {
    pub rollout: Arc<Rollout>,
    pub clients: Clients,
    pub access: Access,
    pub output: Printer,
    concurrency: usize,
    interrupt: watch::Receiver<bool>,
}

/// A pass's rows, and why it stopped early if it did.
pub(crate) type Ran = (Results, Option<Stop>);

/// Whether the Organization was listed to its end. A listing cut short by an error is said at
/// once; the targets listed before it were still worked on and are reported, and the exit
/// status is 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listed {
    Whole,
    Cut,
}

/// Loads the rollout file, runs the command's own input checks on it (all problems at once),
/// and only then makes the first AWS call.
pub(crate) async fn open<T>(
    args: &TargetArgs,
    output: Printer,
    interrupt: watch::Receiver<bool>,
    check: impl FnOnce(&mut Rollout) -> Result<T, CommandError>,
) -> Result<(Context, T), CommandError> {
    let mut rollout = load_rollout(args)?;
    let input = check(&mut rollout)?;
    let ctx = Context::start(rollout, output, args.concurrency.into(), interrupt).await?;
    Ok((ctx, input))
}

impl Context {
    /// Loads the AWS configuration and identifies the caller (the first AWS call).
    pub(crate) async fn start(
        rollout: Rollout,
        output: Printer,
        concurrency: usize,
        interrupt: watch::Receiver<bool>,
    ) -> Result<Self, CommandError> {
        let clients = Clients::load(Overrides::default(), &rollout.tuning).await;
        let caller = Caller::identify(&clients.sts(), &clients.sts_endpoint()).await?;
        tracing::info!(account = %caller.account_id, arn = %caller.arn, "caller identified");
        let access = Access {
            duration: session_duration(output, &rollout, &caller),
            caller,
            role_name: rollout.role_name.clone(),
            external_id: rollout.external_id.clone(),
            session_name: crate::config::model_rules::session_name(unix_now()),
        };
        Ok(Context {
            rollout: Arc::new(rollout),
            clients,
            access,
            output,
            concurrency,
            interrupt,
        })
    }

    /// Lists and filters the Organization; warns about ids the Organization does not hold.
    pub(crate) async fn discover(&self) -> Result<Discovery, CommandError> {
        let d = discovery::discover(&self.clients.organizations(), &self.rollout)
            .await
            .map_err(CommandError::Listing)?;
        warn_unknown(self.output, &d.unknown_ids);
        tracing::info!(
            targeted = d.targeted.len(),
            skipped = d.skipped.len(),
            "accounts discovered"
        );
        Ok(d)
    }

    /// The runner for this command's passes (one per run: accounts are entered once).
    pub(crate) fn runner(&self, limits: Limits) -> Arc<Runner> {
        Runner::new(Setup {
            clients: self.clients.clone(),
            access: self.access.clone(),
            rollout: self.rollout.clone(),
            concurrency: self.concurrency,
            limits,
            interrupt: self.interrupt.clone(),
        })
    }

    /// Runs `pass` over `jobs` with the reporter attached; the rows come sorted for the report.
    pub(crate) async fn pass<S>(&self, runner: &Arc<Runner>, pass: Pass, jobs: S) -> Ran
    where
        S: Stream<Item = Job> + Send + Unpin,
    {
        let (tx, rx) = unbounded_channel();
        let reporter = tokio::spawn(reporter::consume(self.output, rx));
        let stop = runner.run(pass, jobs, &tx).await;
        drop(tx);
        (reporter.await.expect("reporter task"), stop)
    }

    /// Runs `pass` over every target as the Organization is listed.
    pub(crate) async fn pass_listed(&self, runner: &Arc<Runner>, pass: Pass) -> (Ran, Listed) {
        self.pass_listed_with(runner, pass, Names::Skip).await
    }

    /// [`Self::pass_listed`], with each target's OU named when `names` says so.
    pub(crate) async fn pass_listed_with(
        &self,
        runner: &Arc<Runner>,
        pass: Pass,
        names: Names,
    ) -> (Ran, Listed) {
        let (targets, listing) = self.list_targets(names);
        let ran = self.pass(runner, pass, targets.map(Job::fresh)).await;
        (ran, finish_listing(self.output, listing).await)
    }

    /// The (account, Region) targets, streamed as the Organization is listed, and the
    /// listing task.
    fn list_targets(&self, names: Names) -> (BoxStream<'static, Target>, Listing) {
        discovery::stream_targets_with(self.clients.organizations(), self.rollout.clone(), names)
    }
}

/// The role session's duration: a caller that is itself a role session (GitLab CI through
/// OIDC, SSO) chains roles, and AWS allows a chained session one hour at most, so ask for what
/// AWS will grant.
fn session_duration(printer: Printer, rollout: &Rollout, caller: &Caller) -> Duration {
    let asked = Duration::from_secs(rollout.session_duration_seconds as u64);
    if caller.is_role_session() && asked > CHAINED_SESSION_LIMIT {
        reporter::tell(printer, &Event::Warning(format!(
            "targets.session_duration_seconds = {} is more than AWS allows a role assumed by another role's session ({}): using {} s",
            asked.as_secs(),
            caller.arn,
            CHAINED_SESSION_LIMIT.as_secs()
        )));
        return CHAINED_SESSION_LIMIT;
    }
    asked
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Warns of account ids the rollout file names that the Organization does not hold.
fn warn_unknown(printer: Printer, ids: &[String]) {
    for id in ids {
        reporter::tell(
            printer,
            &Event::Warning(format!(
                "account {id} is named in the rollout file but is not in the Organization"
            )),
        );
    }
}

/// The task listing the Organization for a streamed pass.
type Listing = tokio::task::JoinHandle<Result<discovery::Listing, crate::aws::error::ApiError>>;

/// Waits for the listing to end: warns about ids the Organization does not hold, and says
/// why the listing failed, if it did.
async fn finish_listing(printer: Printer, listing: Listing) -> Listed {
    match listing.await {
        Ok(Ok(l)) => {
            warn_unknown(printer, &l.unknown_ids);
            tracing::info!(
                targeted = l.targeted,
                skipped = l.skipped,
                "accounts listed"
            );
            Listed::Whole
        }
        Ok(Err(e)) => {
            reporter::tell(printer, &Event::ListingCut(e.to_string()));
            Listed::Cut
        }
        // Aborted with the run (interrupt past its deadline): the report says what was done.
        Err(_) => Listed::Whole,
    }
}
