//! The `ptc-rollout` binary: parse flags, set up logging, watch for Ctrl-C, run the command,
//! print its error if it failed, and exit with its code.

use clap::Parser;
use ptc_rollout::exit;
use tokio::sync::watch;

/// The allocator the scale benchmark measures (benches/scale.rs installs the same): the SDK
/// allocates heavily per call, and mimalloc halves that time against the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    quiet_panics();
    let cli = ptc_rollout::Cli::parse();
    ptc_rollout::init_logging(&cli.global);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot start the async runtime");
    let interrupt = {
        // The watcher is a task on this runtime.
        let _entered = runtime.enter();
        watch_interrupts()
    };
    let code = match runtime.block_on(ptc_rollout::run(cli, interrupt)) {
        Ok(code) => code,
        Err(e) => {
            ptc_rollout::print_error(&e);
            e.exit_code()
        }
    };
    // Do not wait for lingering connection tasks; everything was written before this point.
    runtime.shutdown_background();
    std::process::exit(code);
}

/// The first Ctrl-C turns the receiver `true`: the run stops scheduling, finishes targets in
/// flight for a short while and writes its complete report. A second one exits at once.
fn watch_interrupts() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = tx.send(true);
        ptc_rollout::interrupted();
        if tokio::signal::ctrl_c().await.is_ok() {
            ptc_rollout::interrupted_again();
            std::process::exit(exit::INTERRUPTED);
        }
    });
    rx
}

/// A closed stdout (`ptc-rollout report | head`) ends the process quietly, as it would a shell
/// tool; any other panic is reported in one line, without a backtrace (values in scope are
/// never printed: the token has no `Display` and a redacted `Debug`).
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        if message.contains("Broken pipe") {
            std::process::exit(141);
        }
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        ptc_rollout::internal_error(&format!("{message}{at}"));
    }));
}
