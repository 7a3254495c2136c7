//! Rollout in waves (`[[waves]]`): one pass per wave, each started only when the waves before it
//! ended without failures (or within `--max-failures`, counted per wave, as StackSets' failure
//! tolerance). The targets of the waves not started end `not attempted`, naming the wave that
//! stopped the rollout. Without waves, commands keep their one streamed pass ([`Runner::run`]).

use std::sync::Arc;

use futures::stream;
use tokio::sync::mpsc::UnboundedSender;

use super::{Event, Job, Pass, Runner, Stop, Tolerance};
use crate::data::waves::{WaveEnd, Waves};

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

impl Runner {
    /// Runs `pass` wave by wave over `jobs` (one list per wave of `waves`; an empty one is
    /// passed over). Every job ends in one event, as in [`Runner::run`]; each wave run is
    /// announced by [`Event::WaveStarted`], a wave that stops the later ones by
    /// [`Event::WaveHalted`], and each wave then not started by [`Event::WaveNotStarted`].
    /// Returns why the run stopped early, if it did.
    pub async fn run_in_waves(
        self: &Arc<Self>,
        pass: Pass,
        waves: &Waves,
        jobs: Vec<Vec<Job>>,
        tolerance: Option<Tolerance>,
        events: &UnboundedSender<Event>,
    ) -> Option<Stop> {
        let of = waves.len();
        let last = jobs.iter().rposition(|j| !j.is_empty());
        let mut stop: Option<Stop> = None;
        let mut halted: Option<Halt> = None;
        for (index, jobs) in jobs.into_iter().enumerate() {
            if jobs.is_empty() {
                continue;
            }
            let (name, targets) = (waves.name(index), jobs.len());
            if let Some(halt) = &halted {
                let _ = events.send(Event::WaveNotStarted {
                    name: name.to_owned(),
                    index,
                    of,
                    targets,
                });
                let (why, now) = (halt.reason(name), self.now());
                for job in jobs {
                    let row = job.not_started(&why, now);
                    let _ = events.send(Event::TargetFinished(Box::new(row)));
                }
                continue;
            }
            let _ = events.send(Event::WaveStarted {
                name: name.to_owned(),
                index,
                of,
                targets,
            });
            let ran = self
                .run_pass(pass.clone(), stream::iter(jobs), events)
                .await;
            let wave_stop = ran.stop.or_else(|| self.canary_failure());
            let end = WaveEnd {
                failed: ran.failed,
                allowed: tolerance.map(|t| t.allowed(ran.targets)),
            };
            let later_waves = last.is_some_and(|l| l > index);
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
            if later_waves && halted.is_some() {
                let _ = events.send(Event::WaveHalted {
                    wave: name.to_owned(),
                    end,
                });
            }
        }
        stop
    }
}
