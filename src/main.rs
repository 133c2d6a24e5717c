//! The `xstack` binary: parses the command line, runs the chosen application, turns
//! errors into one clear sentence and the exit status documented in `--help`:
//!
//! - 0: a clean run (serve: stopped by SIGINT or SIGTERM, as it is meant to be);
//! - 1: a usage or set-up error (bad arguments, no privilege, no interface, …);
//! - 3: `load` completed but no request succeeded, or more failed than `--max-errors`;
//! - 130 / 143: `load` stopped by SIGINT / SIGTERM, after printing what it measured.

use clap::Parser;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use xstack::app::load::{EXIT_SIGINT, EXIT_SIGTERM};
use xstack::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print and succeed; anything else is a usage error.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("xstack: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    xstack::driver::log::set_verbose(cli.verbose);
    match cli.command {
        Command::Serve(args) => {
            let cfg = args.into_config()?;
            let signals = Signals::install()?;
            let summary = xstack::app::serve::run(&cfg, signals.stop.clone())?;
            if cfg.json {
                println!("{}", serde_json::to_string(&summary.to_doc(&cfg))?);
            } else {
                print!("{}", summary.to_text());
            }
            // The interface went away under it: said on stderr already, and not a clean stop.
            Ok(if summary.link_lost.is_some() { 1 } else { 0 })
        }
        Command::Load(args) => {
            let mut cfg = args.into_config()?;
            xstack::app::load::shared::prepare(&mut cfg)?;
            let signals = Signals::install()?;
            let report = xstack::app::load::run(&cfg, signals.stop.clone())?;
            let outcome = report.outcome(&cfg, signals.exit_code());
            let code = outcome.exit_code;
            if cfg.json {
                println!("{}", serde_json::to_string(&report.to_doc(&cfg, outcome))?);
            } else {
                print!("{}", report.to_text(&cfg, &outcome));
            }
            Ok(code)
        }
        Command::Plot(args) => {
            xstack::app::plot::run(&args.logs, &args.output, &args.title)?;
            Ok(0)
        }
        Command::Schema(args) => {
            let schema = match args.document {
                xstack::cli::SchemaDoc::Load => xstack::app::json::load_schema(),
                xstack::cli::SchemaDoc::Serve => xstack::app::json::serve_schema(),
            };
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(0)
        }
        Command::Report(args) => {
            xstack::app::report::run(&args.into_options())?;
            Ok(0)
        }
    }
}

/// SIGINT and SIGTERM: each sets the stop flag and its own flag; a second signal while
/// stopping exits at once with 130.
struct Signals {
    stop: Arc<AtomicBool>,
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        let s = Signals {
            stop: Arc::new(AtomicBool::new(false)),
            int: Arc::new(AtomicBool::new(false)),
            term: Arc::new(AtomicBool::new(false)),
        };
        for (sig, flag) in [
            (signal_hook::consts::SIGINT, &s.int),
            (signal_hook::consts::SIGTERM, &s.term),
        ] {
            signal_hook::flag::register_conditional_shutdown(sig, 130, s.stop.clone())?;
            signal_hook::flag::register(sig, s.stop.clone())?;
            signal_hook::flag::register(sig, flag.clone())?;
        }
        Ok(s)
    }

    /// The exit status of the signal that stopped the run, if one did.
    fn exit_code(&self) -> Option<u8> {
        if self.int.load(Relaxed) {
            Some(EXIT_SIGINT)
        } else if self.term.load(Relaxed) {
            Some(EXIT_SIGTERM)
        } else {
            None
        }
    }
}
