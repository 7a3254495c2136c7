//! The terminal, as the user asked to see it (as uv's `Printer`): data on stdout always; notes,
//! summaries and progress on stderr unless quiet; errors on stderr always. Every line a command
//! prints goes through here, so quiet mode is decided in one place and `error:` is written in
//! one place.

use std::fmt::Display;
use std::io::{self, IsTerminal, Write};

/// What the user asked to see (`--quiet`, `-v`, `--no-progress`), handed to every command.
#[derive(Debug, Clone, Copy, Default)]
pub struct Printer {
    pub no_progress: bool,
    /// Only errors on stderr; data on stdout is unchanged.
    pub quiet: bool,
    /// `-v` or more: the logs say more (see `init_logging`); the lines here are the same.
    pub verbose: bool,
}

impl Printer {
    /// Progress bars only on a terminal, and never when asked not to.
    pub fn progress(self) -> bool {
        !self.no_progress && !self.quiet && io::stderr().is_terminal()
    }

    /// The command's data (tables, JSON, CSV) on stdout, as given.
    pub(crate) fn data(self, text: impl Display) {
        print!("{text}");
    }

    /// A line of the command's data on stdout.
    pub(crate) fn data_line(self, text: impl Display) {
        println!("{text}");
    }

    /// The command's data, written by `f` to stdout, then a newline.
    pub(crate) fn write_data(
        self,
        f: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut out = io::stdout().lock();
        f(&mut out)?;
        writeln!(out)
    }

    /// What happened and what to do next (summaries, notes), on stderr, unless quiet.
    pub(crate) fn status(self, text: impl Display) {
        if !self.quiet {
            eprint!("{text}");
        }
    }

    /// A line of [`Printer::status`].
    pub(crate) fn status_line(self, text: impl Display) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// `note: …`, unless quiet.
    pub(crate) fn note(self, text: impl Display) {
        self.status_line(format_args!("note: {text}"));
    }

    /// `warning: …`, unless quiet.
    pub(crate) fn warning(self, text: impl Display) {
        self.status_line(format_args!("warning: {text}"));
    }

    /// A line on stderr even when quiet: what the user must know (a run cut short, a token
    /// left unrevoked, a cancelled change).
    pub(crate) fn always(self, text: impl Display) {
        eprintln!("{text}");
    }

    /// `error: …` on stderr, even when quiet: the one place that writes it.
    pub(crate) fn error(self, text: impl Display) {
        eprintln!("error: {text}");
    }

    /// A question on stderr, without a newline, the answer to be typed after it.
    pub(crate) fn ask(self, question: impl Display) {
        eprint!("{question}");
        let _ = io::stderr().flush();
    }
}

/// The first Ctrl-C: the run finishes what is in flight and writes its report.
pub fn interrupted() {
    Printer::default().always(
        "interrupted: finishing targets in flight, then writing the report (Ctrl-C again to exit now)",
    );
}

/// The second Ctrl-C: the process exits at once.
pub fn interrupted_again() {
    Printer::default().always("interrupted again: exiting now");
}

/// A panic, in one line (`message` never holds a secret: see `main`'s panic hook).
pub fn internal_error(message: &str) {
    Printer::default().always(format_args!("internal error: {message}; please report it"));
}

/// Prints a command's error on stderr; each message carries its cause on the same line, as the
/// user has always read it. Bad input is every problem, one line each.
pub fn print_error(e: &crate::cli::error::CommandError) {
    let printer = Printer::default();
    match e {
        crate::cli::error::CommandError::Refused(problems) => {
            for p in problems {
                printer.error(p);
            }
        }
        _ => printer.error(e),
    }
}
