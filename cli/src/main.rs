//! `shmlane`: the command-line companion of the shmlane crate.
//!
//! `bench` measures shmlane's rings and transports against baselines
//! pinned to the same two cores; `send` and `recv` move messages through
//! any transport from the shell; `ls`, `inspect`, `stat`, `gc` and `rm`
//! show and clean up the segments in /dev/shm.

mod admin;
mod bench;
mod io_cmd;
mod signals;
mod torture;

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
    /// Send each line of stdin (or, with --raw, all of it) as a message to a
    /// transport URL.
    #[command(after_help = io_cmd::EXIT_STATUS)]
    Send(io_cmd::SendArgs),
    /// Receive messages from a transport URL and write each to stdout,
    /// followed by a newline.
    #[command(after_help = io_cmd::EXIT_STATUS)]
    Recv(io_cmd::RecvArgs),
    /// Forward every message from one transport URL to another (any two
    /// mechanisms), until the source ends, --count messages, or a signal;
    /// print what it moved.
    #[command(after_help = io_cmd::EXIT_STATUS)]
    Bridge(io_cmd::BridgeArgs),
    /// List shmlane segments in /dev/shm: kind, slot size, capacity, fill,
    /// creator, endpoints (pid, alive or dead), live or stale, age.
    Ls(admin::LsArgs),
    /// Show one segment's decoded header, endpoints and counters.
    Inspect(admin::InspectArgs),
    /// Print a segment's rates (messages, waits, wakes, drops per second)
    /// and fill every interval, until Ctrl-C or --count samples.
    Stat(admin::StatArgs),
    /// Remove the stale segments of this user (no endpoint holds them);
    /// say what was skipped and why.
    Gc(admin::GcArgs),
    /// Remove one segment; refused while an endpoint holds it unless
    /// --force.
    Rm(admin::RmArgs),
    /// Kill producers and consumers at random moments and start them again,
    /// checking that no item is lost, duplicated, reordered or torn.
    Torture(torture::TortureArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let moves_messages = matches!(
        cli.command,
        Command::Send(_) | Command::Recv(_) | Command::Bridge(_)
    );
    if moves_messages && let Err(e) = signals::install() {
        eprintln!("shmlane: error: cannot take SIGINT, SIGTERM and SIGHUP: {e}");
        return ExitCode::FAILURE;
    }
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Bench(args) => match bench::run(&args) {
            // A bad command line exits 2, as clap's own errors do.
            Err(e) => {
                eprintln!("shmlane: error: {e}");
                return ExitCode::from(e.exit_code());
            }
            Ok(()) => Ok(()),
        },
        Command::Send(args) => return io_exit(io_cmd::send(&args)),
        Command::Recv(args) => return io_exit(io_cmd::recv(&args)),
        Command::Bridge(args) => return io_exit(io_cmd::bridge(&args)),
        Command::Ls(args) => admin::ls(&args).map_err(Into::into),
        Command::Inspect(args) => admin::inspect(&args).map_err(Into::into),
        Command::Stat(args) => admin::stat(&args).map_err(Into::into),
        Command::Gc(args) => admin::gc(&args).map_err(Into::into),
        Command::Rm(args) => admin::rm(&args).map_err(Into::into),
        Command::Torture(args) => torture::run(&args).map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shmlane: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The exit status of `send` or `recv` (see `io_cmd::EXIT_STATUS`).
fn io_exit(result: Result<(), io_cmd::IoError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shmlane: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
