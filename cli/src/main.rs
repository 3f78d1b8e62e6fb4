//! `shmlane`: the command-line companion of the shmlane crate.
//!
//! For now it has one subcommand, `bench`, which measures shmlane's rings
//! against baselines pinned to the same two cores. Further subcommands
//! (send, recv, ls, inspect, gc) slot into [`Command`] beside it.

mod bench;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "shmlane",
    version,
    about = "Shared-memory IPC rings: tools and benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure round trips and throughput of shmlane rings against baselines.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shmlane: error: {e}");
            ExitCode::FAILURE
        }
    }
}
