//! The `xstack` binary: parses the command line, runs the chosen application, turns
//! errors into one clear sentence and a non-zero exit.

use clap::Parser;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use xstack::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xstack: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let cfg = args.into_config()?;
            let stop = stop_on_signals()?;
            let summary = xstack::app::serve::run(&cfg, stop)?;
            if cfg.json {
                println!("{}", summary.to_json());
            } else {
                print!("{}", summary.to_text());
            }
            Ok(())
        }
        Command::Load(args) => {
            let cfg = args.into_config()?;
            let stop = stop_on_signals()?;
            let report = xstack::app::load::run(&cfg, stop)?;
            if cfg.json {
                println!("{}", report.to_json(&cfg));
            } else {
                print!("{}", report.to_text(&cfg));
            }
            Ok(())
        }
        Command::Plot(args) => xstack::app::plot::run(&args.logs, &args.output, &args.title),
        Command::Report(args) => Ok(xstack::app::report::run(&args.into_options())?),
    }
}

/// A flag that SIGINT and SIGTERM set. A second signal while stopping exits at once.
fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone())?;
        signal_hook::flag::register(sig, stop.clone())?;
    }
    Ok(stop)
}
