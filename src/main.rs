//! The `ptc-rollout` binary: parse flags, set up logging, run the command, exit with its code.

use clap::Parser;

/// The allocator the scale benchmark measures (benches/scale.rs installs the same): the SDK
/// allocates heavily per call, and mimalloc halves that time against the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    quiet_panics();
    let cli = ptc_rollout::cli::Cli::parse();
    ptc_rollout::cmd::init_logging(&cli.global);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot start the async runtime");
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let code = runtime.block_on(ptc_rollout::cmd::run(cli, ctrl_c));
    // Do not wait for lingering connection tasks; everything was written before this point.
    runtime.shutdown_background();
    std::process::exit(code);
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
        eprintln!("internal error: {message}{at}; please report it");
    }));
}
