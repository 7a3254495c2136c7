//! The `ptc-rollout` binary: parse flags, set up logging, run the command, exit with its code.

use clap::Parser;

fn main() {
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
