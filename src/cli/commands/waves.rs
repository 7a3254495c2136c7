//! Rollout in waves (`[[waves]]`), on the command line: the Organization is listed once and its
//! targets are put in waves; then one pass per wave, each started only when the waves before it
//! ended without failures (or within `--max-failures`, counted per wave, as StackSets' failure
//! tolerance). The targets of the waves not started are reported `not attempted`, naming the
//! wave that stopped the rollout. Without waves, commands keep their one streamed pass.

use std::sync::Arc;

use futures::stream;

use crate::cli::context::{Context, Ran};
use crate::cli::error::CommandError;
use crate::config::{Problem, Rollout};
use crate::data::target::Target;
use crate::data::waves::{WaveEnd, Waves};
use crate::engine::discovery::{self, Discovery, Partition, PartitionError};
use crate::engine::runner::{Job, Pass, Runner, Stop, Tolerance};
use crate::outputs::csv_report::Results;

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
        let regions = &self.rollout.regions;
        let targets = accounts
            .into_iter()
            .map(|wave| {
                wave.into_iter()
                    .flat_map(|a| {
                        regions.iter().map(move |region| Target {
                            account_id: a.id.clone(),
                            account_name: a.name.clone(),
                            region: region.clone(),
                            ou: a.parent.clone(),
                        })
                    })
                    .collect()
            })
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

/// Why the later waves are not started.
enum Halt {
    Interrupted,
    /// This wave ended so.
    Wave(String, WaveEnd),
}

impl Halt {
    /// The reason written on the rows of wave `later`.
    fn reason(&self, later: &str) -> String {
        match self {
            Halt::Interrupted => Stop::Interrupted.not_started(),
            Halt::Wave(wave, end) => end.not_started(later, wave),
        }
    }
}

/// Runs `pass` wave by wave over `jobs` (one list per wave of `waves`; an empty one is passed
/// over). Returns every row, sorted for the report, and why the run stopped early, if it did.
pub(crate) async fn run_in_waves(
    ctx: &Context,
    runner: &Arc<Runner>,
    pass: Pass,
    waves: &Waves,
    jobs: Vec<Vec<Job>>,
    tolerance: Option<Tolerance>,
) -> Ran {
    let count = waves.len();
    let last = jobs.iter().rposition(|j| !j.is_empty());
    let mut rows: Results = Vec::new();
    let mut stop: Option<Stop> = None;
    let mut halted: Option<Halt> = None;
    let say = |line: String| {
        if !ctx.output.quiet {
            eprintln!("{line}");
        }
    };
    for (i, jobs) in jobs.into_iter().enumerate() {
        if jobs.is_empty() {
            continue;
        }
        let (name, n, nth) = (waves.name(i), jobs.len(), i + 1);
        if let Some(halt) = &halted {
            let (why, now) = (halt.reason(name), runner.now());
            rows.extend(jobs.into_iter().map(|j| Box::new(j.not_started(&why, now))));
            say(format!(
                "wave {name:?} ({nth} of {count}): not started; {n} targets not attempted"
            ));
            continue;
        }
        say(format!("wave {name:?} ({nth} of {count}): {n} targets"));
        let (wave_rows, wave_stop) = ctx.pass(runner, pass.clone(), stream::iter(jobs)).await;
        let wave_stop = wave_stop.or_else(|| runner.canary_failure());
        let end = WaveEnd {
            failed: wave_rows.iter().filter(|r| r.is_failure()).count(),
            allowed: tolerance.map(|t| t.allowed(wave_rows.len())),
        };
        say(format!(
            "wave {name:?} ({nth} of {count}): {n} targets, {} failed",
            end.failed
        ));
        rows.extend(wave_rows);
        let later_waves = last.is_some_and(|l| l > i);
        if wave_stop == Some(Stop::Interrupted) {
            halted = Some(Halt::Interrupted);
            stop = wave_stop;
        } else if !later_waves {
            // The last wave's failures are told by its rows, as without waves.
            stop = wave_stop;
        } else if wave_stop.is_some() || !end.lets_next_start() {
            halted = Some(Halt::Wave(name.to_owned(), end));
            // A failed canary says more than the wave's count.
            stop = match wave_stop {
                Some(canary @ Stop::CanaryFailed { .. }) => Some(canary),
                _ => Some(Stop::WaveFailed {
                    wave: name.to_owned(),
                    end,
                }),
            };
        }
    }
    rows.sort_by(|a, b| a.target.cmp(&b.target));
    (rows, stop)
}
