//! The `armhil` command line: one file per command, clap for arguments (ranges
//! included), one Ctrl-C/SIGTERM mechanism, and the one place that maps errors to
//! exit codes: 0 completed and healthy, 1 a joint faulted / an expectation failed /
//! the run was aborted, 2 bad input (nothing was started; clap's own errors exit 2
//! too).
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use armhil::scene::{Scene, SceneError};

mod bench;
mod check;
mod live;
mod merge;
mod ports;
mod recording;
mod replay;
mod ros2;
mod run;
mod serve;
mod shard;
mod suite;
mod virtual_servo;
mod zenoh;

#[derive(Parser)]
#[command(
    name = "armhil",
    version,
    about = "Real-time hardware-in-the-loop simulator for multi-joint robot arms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scene (.ron) or a URDF file; opens the GUI when a display is present
    /// (unless --headless).
    Run(run::RunArgs),
    /// Open the desktop GUI on a scene: the arm in 3D, joint table, plots, events, run
    /// controls, e-stop, fault injection, hardware swap and live gains.
    Gui(run::RunArgs),
    /// Validate a scene and print its joints, limits, servos and controllers; run nothing.
    Check {
        /// Scene file (.ron) or URDF (.urdf).
        scene: PathBuf,
    },
    /// Measure real-time factors (full loop and bare physics) and real-time lateness.
    Bench(bench::BenchArgs),
    /// List serial ports (path; USB vendor/product where known).
    Ports,
    /// Measure the closed-loop bus rate (sync write + sync read per tick) against
    /// virtual servos on a pty, with wire time modelled at the given baud.
    BenchBus(bench::BenchBusArgs),
    /// Serve the simulated arm's joints as servos (STS3215 or XM430) on a
    /// pseudo-terminal, so unmodified host software drives it (prints the device path).
    Serve(serve::ServeArgs),
    /// Emulated servos on a pseudo-terminal (prints its device path).
    VirtualServo(virtual_servo::VirtualServoArgs),
    /// Run scenes (files or directories, in parallel), check their expectations,
    /// print a pass/fail table, optionally write JUnit XML; exit 1 if any failed.
    Test(suite::TestArgs),
    /// Run a scene under random fault schedules, one per seed, and check invariants
    /// (containment, detection, a complete event log); exit 1 on any violation.
    FuzzFaults(suite::FuzzArgs),
    /// Merge the outputs of a campaign's shards (`test`/`fuzz-faults --shard`) into one
    /// report; exit 1 if anything failed, 2 if they are not one complete campaign.
    Merge(merge::MergeArgs),
    /// Open the GUI on a recording: the arm posed from the recorded positions, the
    /// table, plots and events at any instant, a time scrubber, play at ×0.1-×10.
    Replay(replay::ReplayArgs),
    /// Summarize a recording: duration, channels, message counts, sequence gaps, events.
    Inspect {
        /// An MCAP file written by `--record`.
        file: PathBuf,
    },
    /// Export a recording's joints as CSV, one file per joint.
    Export {
        /// An MCAP file written by `--record`.
        file: PathBuf,
        /// Directory for the CSV files (created if missing).
        #[arg(long, value_name = "DIR")]
        csv: PathBuf,
    },
    /// One joint's service in its own process (`isolation: Process`): armhil starts
    /// this itself, with its end of a socket pair as descriptor FD.
    #[command(hide = true)]
    JointService {
        #[arg(long, value_name = "FD", value_parser = clap::value_parser!(i32).range(3..))]
        fd: i32,
    },
}

/// Refuses (exit 2) an output file that cannot be written, before anything runs.
pub(crate) fn writable(p: &Path, what: &str) -> Result<(), BadInput> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .map(|_| ())
        .map_err(|e| BadInput(format!("{what} {}: cannot write: {e}", p.display())))
}

/// Bad input: exit 2.
#[derive(Debug)]
pub(crate) struct BadInput(pub(crate) String);
impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadInput {}

/// Parses the command line, runs the command, maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run::cmd_run(a, false),
        Command::Gui(a) => run::cmd_run(a, true),
        Command::Check { scene } => check::cmd_check(&scene),
        Command::Bench(a) => bench::run(a),
        Command::Ports => ports::cmd_ports(),
        Command::BenchBus(a) => bench::run_bus(a),
        Command::Serve(a) => serve::cmd_serve(a),
        Command::VirtualServo(a) => virtual_servo::cmd_virtual_servo(a),
        Command::Test(a) => suite::test(a),
        Command::FuzzFaults(a) => suite::fuzz(a),
        Command::Merge(a) => merge::cmd_merge(a),
        Command::Inspect { file } => recording::cmd_inspect(&file),
        Command::Replay(a) => replay::cmd_replay(a),
        Command::Export { file, csv } => recording::cmd_export(&file, &csv),
        Command::JointService { fd } => armhil::runtime::process::serve::serve(fd)
            .map(|()| ExitCode::SUCCESS)
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if e.downcast_ref::<BadInput>().is_some() || e.downcast_ref::<SceneError>().is_some() {
                eprintln!("error: {e}");
                ExitCode::from(2)
            } else {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        }
    }
}

pub(crate) fn load(path: &Path) -> anyhow::Result<Scene> {
    Ok(Scene::load(path)?)
}

/// The one signal mechanism: a flag set by Ctrl-C (SIGINT) or SIGTERM. A run ends at
/// its next step and writes its report and recording as at a normal end; the virtual
/// servo stops serving. A second signal exits at once.
pub(crate) fn ctrl_c() -> Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let _ = ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing the run (Ctrl-C again to quit at once)");
    });
    flag
}

/// A clap value parser for a number of seconds in `(lo, hi]` (`lo` excluded when
/// `open`), named in the error as the expected range.
fn seconds(lo: f64, hi: f64, open: bool) -> impl Fn(&str) -> Result<f64, String> + Clone {
    move |s: &str| {
        let v: f64 = s
            .parse()
            .map_err(|_| format!("{s:?} is not a number of seconds"))?;
        let above = if open { v > lo } else { v >= lo };
        if v.is_finite() && above && v <= hi {
            Ok(v)
        } else {
            let from = if open { "(" } else { "[" };
            Err(format!("{v} is out of range: expected {from}{lo}, {hi}] s"))
        }
    }
}

/// `--duration`, `--exit-after`: (0, 86400] s.
pub(crate) fn run_seconds(s: &str) -> Result<f64, String> {
    seconds(0.0, 86_400.0, true)(s)
}

/// `--hang-timeout`: [0.1, 4] s.
pub(crate) fn hang_timeout(s: &str) -> Result<f64, String> {
    seconds(0.1, 4.0, false)(s)
}

/// A probability in [0, 1].
pub(crate) fn probability(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is out of range: expected 0 ..= 1"))
    }
}

/// `--speed`: simulated seconds per wall second, in the range a paced run accepts.
/// A lockstep speed in `SPEED_RANGE`, or `max` (infinity: as fast as the machine
/// allows).
pub(crate) fn speed(s: &str) -> Result<f64, String> {
    if s == "max" {
        return Ok(f64::INFINITY);
    }
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number (or `max`)"))?;
    let r = armhil::runtime::command::SPEED_RANGE;
    if r.contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "{v} is out of range: expected {} ..= {} (or `max`)",
            r.start(),
            r.end()
        ))
    }
}
