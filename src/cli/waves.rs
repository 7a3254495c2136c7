//! Rollout in waves (`[[waves]]`), on the command line: `--wave` checked before any AWS call,
//! the Organization listed once and its targets put in waves, and the waves told as the runner
//! goes through them (the wave-by-wave loop and its halt rules are the runner's:
//! [`Runner::run_in_waves`]). Without waves, commands keep their one streamed pass.

use std::sync::Arc;

use tokio::sync::mpsc::unbounded_channel;

use crate::cli::context::{Context, Ran};
use crate::cli::error::CommandError;
use crate::cli::output::reporter::consume;
use crate::config::{Problem, Rollout};
use crate::data::target::Target;
use crate::data::waves::Waves;
use crate::engine::discovery::{self, Discovery, Matrix, Partition, PartitionError};
use crate::engine::runner::{Job, Pass, Runner, Tolerance};

/// `--wave NAME`: the wave's index, or the problem (told before any AWS call).
pub(crate) fn check_wave(rollout: &Rollout, wave: Option<&str>) -> Result<Option<usize>, Problem> {
    let Some(name) = wave else {
        return Ok(None);
    };
    if rollout.waves.is_empty() {
        return Err(Problem::new(
            "--wave",
            format!("the rollout file has no [[waves]], so there is no wave {name:?}"),
            "remove --wave, or add [[waves]] to the rollout file",
        ));
    }
    match rollout.waves.iter().position(|w| w.name == name) {
        Some(i) => Ok(Some(i)),
        None => Err(Problem::new(
            "--wave",
            format!("{name:?} is not a wave of the rollout file"),
            format!(
                "choose among {}",
                rollout
                    .waves
                    .iter()
                    .map(|w| w.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The targets of a run in waves, wave by wave.
pub(crate) struct InWaves {
    pub waves: Waves,
    pub targets: Vec<Vec<Target>>,
}

impl Context {
    /// Lists the Organization and puts its targets in waves (see [`Context::waves_of`]).
    pub(crate) async fn partition(&self) -> Result<InWaves, CommandError> {
        let d = self.discover().await?;
        let waves = self.waves_of(&d).await?;
        let (accounts, outside) = waves.split(d.targeted, |a| a.id.as_str());
        debug_assert!(outside.is_empty(), "the partition holds every target");
        let matrix = Matrix::of(&self.rollout);
        let targets = accounts
            .into_iter()
            .map(|wave| wave.iter().flat_map(|a| matrix.targets(a)).collect())
            .collect();
        Ok(InWaves { waves, targets })
    }

    /// Puts the listed targets in waves, refusing waves that do not fit the Organization
    /// (before anything is written); warns of the waves that took no target.
    pub(crate) async fn waves_of(&self, d: &Discovery) -> Result<Waves, CommandError> {
        let Partition { waves, empty } =
            discovery::partition(&self.clients.organizations(), &self.rollout, d)
                .await
                .map_err(|e| match e {
                    PartitionError::Refused(problems) => CommandError::Refused(problems),
                    PartitionError::Listing(e) => CommandError::Listing(e),
                })?;
        for name in empty {
            tracing::warn!("wave {name:?} has no targets");
        }
        Ok(waves)
    }
}

/// Keeps the items of one wave (`--wave`), or of all.
pub(crate) fn only<T>(mut waves: Vec<Vec<T>>, wave: Option<usize>) -> Vec<Vec<T>> {
    if let Some(keep) = wave {
        for (i, items) in waves.iter_mut().enumerate() {
            if i != keep {
                items.clear();
            }
        }
    }
    waves
}

/// Runs `pass` wave by wave over `jobs` (one list per wave of `waves`; see
/// [`Runner::run_in_waves`]), the reporter telling each wave as it starts and ends. Returns every row, sorted for the report, and why the run stopped early.
pub(crate) async fn run_in_waves(
    ctx: &Context,
    runner: &Arc<Runner>,
    pass: Pass,
    waves: &Waves,
    jobs: Vec<Vec<Job>>,
    tolerance: Option<Tolerance>,
) -> Ran {
    let (tx, rx) = unbounded_channel();
    let told = tokio::spawn(consume(ctx.output, rx));
    let stop = runner.run_in_waves(pass, waves, jobs, tolerance, &tx).await;
    drop(tx);
    (told.await.expect("reporter task"), stop)
}
