//! The `armhil` command line. The only place that maps errors to exit codes:
//! 0 completed and healthy, 1 a joint faulted / an expectation failed / the run was
//! aborted, 2 bad input (nothing was started).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use armhil::report::Report;
use armhil::runtime::{self, Executor, RunOptions};
use armhil::scene::{JointKind, Scene, SceneError};
use armhil::servo::ServoModel;

mod bench;
mod suite;

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
    Run(RunArgs),
    /// Open the desktop GUI on a scene: the arm in 3D, joint table, plots, events, run
    /// controls, e-stop, fault injection, hardware swap and live gains.
    Gui(RunArgs),
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
    /// Emulated servos on a pseudo-terminal (prints its device path).
    VirtualServo(VirtualServoArgs),
    /// Run scenes (files or directories, in parallel), check their expectations,
    /// print a pass/fail table, optionally write JUnit XML; exit 1 if any failed.
    Test(suite::TestArgs),
    /// Run a scene under random fault schedules, one per seed, and check invariants
    /// (containment, detection, a complete event log); exit 1 on any violation.
    FuzzFaults(suite::FuzzArgs),
    /// Open the GUI on a recording: the arm posed from the recorded positions, the
    /// table, plots and events at any instant, a time scrubber, play at ×0.1-×10.
    Replay(ReplayArgs),
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
}

#[derive(clap::Args)]
struct VirtualServoArgs {
    /// Servo family: sts (Feetech STS3215) or dxl (Dynamixel XM430, Protocol 2.0).
    #[arg(long, value_parser = ["sts", "dxl"])]
    protocol: String,
    /// Servo IDs: a range `1-6`, a list `1,3,5`, or both `1-3,7`.
    #[arg(long, default_value = "1")]
    ids: String,
    /// Modelled line rate, bit/s (default: 1000000 for sts, 57600 for dxl).
    #[arg(long)]
    baud: Option<u32>,
    /// Also make PATH a symlink to the pty device (removed on exit).
    #[arg(long, value_name = "PATH")]
    link: Option<PathBuf>,
    /// Fault injection: probability that a reply has a corrupted byte (0..=1).
    #[arg(long, default_value_t = 0.0)]
    corrupt: f64,
    /// Fault injection: probability that a reply is not sent (0..=1).
    #[arg(long, default_value_t = 0.0)]
    drop: f64,
    /// Fault injection: extra latency before every reply, µs (0..=1000000).
    #[arg(long, default_value_t = 0)]
    latency_us: u64,
    /// Seed of the fault injection draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Scene file (.ron) or URDF (.urdf).
    scene: PathBuf,
    /// Run without a window even when a display is present.
    #[arg(long)]
    headless: bool,
    /// Override the scene's duration, seconds (0 < S <= 86400).
    #[arg(long)]
    duration: Option<f64>,
    /// Override the scene's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Pace the run by the wall clock (each joint service on its own thread).
    #[arg(long)]
    realtime: bool,
    /// Write the JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Swap a joint's backend at a simulated time: `JOINT=serial:PORT:sts|dxl:ID[:BAUD]@SECONDS`
    /// or `JOINT=sim@SECONDS` (repeatable). While running, `swap JOINT BACKEND` lines on
    /// stdin do the same.
    #[arg(long, value_name = "SWAP")]
    swap: Vec<String>,
    /// Inject a fault: `JOINT:KIND[(ARG)]@AT[..UNTIL]`, e.g. `elbow:hang@2.0`,
    /// `wrist_roll:encoder_noise(0.01)@1..2`, `shoulder:servo_error(overheat)@3..4`
    /// (repeatable). Kinds: panic, hang, slow(ms), encoder_stuck, encoder_noise(σ rad),
    /// encoder_offset(rad), torque_sag(factor), servo_error(overload|overheat|voltage),
    /// power_loss; on serial joints link_drop(p), link_corrupt(p),
    /// link_latency(ms,jitter_ms), unplug, wrong_id(id). While running, `fault SPEC`,
    /// `estop`, `reset`, `reset JOINT`, `gains JOINT KP KI KD` and (lockstep) `pause`,
    /// `resume`, `step [N]`, `speed X|max` lines on stdin.
    #[arg(long, value_name = "FAULT")]
    fault: Vec<String>,
    /// Real-time: SCHED_FIFO priority for physics (services one below), 1..=99; needs root or CAP_SYS_NICE.
    #[arg(long, value_name = "N")]
    rt_priority: Option<i32>,
    /// Lockstep watchdog: seconds a controller call may take before the run is ended (0.1..=4).
    #[arg(long, default_value_t = 2.0)]
    hang_timeout: f64,
    /// Lockstep: injected hangs and slow cycles really block the thread instead of
    /// playing out on simulated time (exercises the wall-clock watchdog; the run is
    /// no longer reproducible).
    #[arg(long)]
    real_controller_faults: bool,
    /// Record telemetry (joint states every control period, bus transactions, events,
    /// the scene) into an MCAP file that Foxglove opens.
    #[arg(long, value_name = "FILE.mcap")]
    record: Option<PathBuf>,
    #[command(flatten)]
    gui: GuiArgs,
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// An MCAP file written by `--record`.
    file: PathBuf,
    /// The scene the recording was made of (default: the copy stored in the file).
    #[arg(long, value_name = "SCENE")]
    scene: Option<PathBuf>,
    /// Start at this recorded time, s.
    #[arg(long, value_name = "S")]
    at: Option<f64>,
    #[command(flatten)]
    gui: GuiArgs,
}

#[derive(clap::Args, Clone)]
struct GuiArgs {
    /// GUI: write a PNG of the window after --exit-after seconds (default 3), then exit.
    #[arg(long, value_name = "FILE.png")]
    screenshot: Option<PathBuf>,
    /// GUI: close the window after S wall-clock seconds (0 < S <= 86400).
    #[arg(long, value_name = "S")]
    exit_after: Option<f64>,
    /// GUI, lockstep: initial speed in simulated seconds per wall second (0.1..=10).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// GUI diagnostic: make every frame this many ms slower (0..=2000), to show that
    /// the run does not depend on the frame rate.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    stall_frame_ms: u64,
    /// GUI: start with the joint axes shown (a toggle in the window).
    #[arg(long)]
    show_axes: bool,
    /// GUI: start with the link frames shown (a toggle in the window).
    #[arg(long)]
    show_frames: bool,
}

/// Refuses (exit 2) an output file that cannot be written, before anything runs.
fn writable(p: &Path, what: &str) -> Result<(), BadInput> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .map(|_| ())
        .map_err(|e| BadInput(format!("{what} {}: cannot write: {e}", p.display())))
}

/// Bad input: exit 2.
#[derive(Debug)]
struct BadInput(String);
impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadInput {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => cmd_run(a, false),
        Command::Gui(a) => cmd_run(a, true),
        Command::Check { scene } => cmd_check(&scene),
        Command::Bench(a) => bench::run(a),
        Command::Ports => cmd_ports(),
        Command::BenchBus(a) => bench::run_bus(a),
        Command::VirtualServo(a) => cmd_virtual_servo(a),
        Command::Test(a) => suite::test(a),
        Command::FuzzFaults(a) => suite::fuzz(a),
        Command::Inspect { file } => cmd_inspect(&file),
        Command::Replay(a) => cmd_replay(a),
        Command::Export { file, csv } => cmd_export(&file, &csv),
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

fn load(path: &Path) -> anyhow::Result<Scene> {
    Ok(Scene::load(path)?)
}

fn cmd_check(path: &Path) -> anyhow::Result<ExitCode> {
    let scene = load(path)?;
    println!("scene {} ({}): OK", scene.name, scene.source.display());
    println!(
        "  physics {:.0} Hz, {} solver iterations, gravity {:?} m/s², duration {} s, seed {}",
        scene.physics.rate_hz,
        scene.physics.solver_iterations,
        scene.physics.gravity,
        scene.duration_s,
        scene.seed
    );
    let total_mass: f64 = scene.arm.links.iter().map(|l| l.mass).sum();
    println!(
        "  {} links ({:.3} kg), {} joints, {} actuated",
        scene.arm.links.len(),
        total_mass,
        scene.arm.joints.len(),
        scene.joints.len()
    );
    let w = scene
        .joints
        .iter()
        .map(|j| j.servo_name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "  {:<16} {:<9} {:>17} {:<w$} {:>8} {:>8} {:>9} {:>8} {:>8} {:<10} {:>7} {:<5}",
        "joint",
        "kind",
        "limits (rad|m)",
        "servo",
        "τ max",
        "ω max",
        "armature",
        "ticks",
        "backlash",
        "controller",
        "rate",
        "safe"
    );
    for j in &scene.joints {
        let m = ServoModel::new(&j.servo, j.kind);
        println!(
            "  {:<16} {:<9} {:>8.3}..{:<8.3} {:<w$} {:>8.3} {:>8.2} {:>9.4} {:>8} {:>7.2}° {:<10} {:>5.0}Hz {:<5}",
            j.name,
            match j.kind {
                JointKind::Revolute => "revolute",
                JointKind::Prismatic => "prismatic",
                JointKind::Fixed => "fixed",
            },
            j.limits.0,
            j.limits.1,
            j.servo_name,
            j.servo.stall_torque_nm,
            j.servo.no_load_speed_rad_s,
            m.armature(),
            j.servo.encoder_ticks_per_rev,
            j.servo.backlash_rad.to_degrees(),
            j.controller.kind(),
            j.rate_hz,
            format!("{:?}", j.safe_state)
        );
    }
    println!(
        "  trajectory segments: {}, faults: {}, expectations: {}",
        scene.trajectory.len(),
        scene.faults.len(),
        scene.expect.len()
    );
    for f in &scene.faults {
        let until = f.until.map_or(String::new(), |u| format!(" until {u} s"));
        println!(
            "    fault {} on {} at {} s{until}",
            f.kind.describe(),
            f.joint,
            f.at
        );
    }
    for e in &scene.expect {
        println!("    expect {}", e.label());
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses `1-6`, `1,3,5` or `1-3,7` into IDs within `0..=max`.
fn parse_ids(spec: &str, max: u8) -> Result<Vec<u8>, BadInput> {
    let bad = |why: String| {
        BadInput(format!(
            "--ids {spec:?}: {why}; expected IDs 0 ..= {max} as `1-6`, `1,3,5` or `1-3,7`"
        ))
    };
    let mut ids = Vec::new();
    for part in spec.split(',').map(str::trim) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: u16 = a
            .trim()
            .parse()
            .map_err(|_| bad(format!("{a:?} is not a number")))?;
        let b: u16 = b
            .trim()
            .parse()
            .map_err(|_| bad(format!("{b:?} is not a number")))?;
        if a > b || b > max as u16 {
            return Err(bad(format!("{part:?} is out of range")));
        }
        for id in a..=b {
            if ids.contains(&(id as u8)) {
                return Err(bad(format!("ID {id} is listed twice")));
            }
            ids.push(id as u8);
        }
    }
    Ok(ids)
}

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

fn cmd_virtual_servo(a: VirtualServoArgs) -> anyhow::Result<ExitCode> {
    use armhil::hardware::transport::pty::PtyTransport;
    use armhil::hardware::virtual_servo::{VirtualBus, serve, table::Protocol};
    let (protocol, max_id, default_baud) = match a.protocol.as_str() {
        "dxl" => (Protocol::Dxl, 252, 57_600),
        _ => (Protocol::Sts, 253, 1_000_000),
    };
    let ids = parse_ids(&a.ids, max_id)?;
    let baud = a.baud.unwrap_or(default_baud);
    if !(9_600..=10_500_000).contains(&baud) {
        return Err(BadInput(format!(
            "--baud: {baud} is out of range: expected 9600 ..= 10500000"
        ))
        .into());
    }
    for (flag, v) in [("--corrupt", a.corrupt), ("--drop", a.drop)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(BadInput(format!("{flag}: {v} is out of range: expected 0 ..= 1")).into());
        }
    }
    if a.latency_us > 1_000_000 {
        return Err(BadInput(format!(
            "--latency-us: {} is out of range: expected 0 ..= 1000000",
            a.latency_us
        ))
        .into());
    }
    let mut pty = PtyTransport::open().context("creating the pseudo-terminal")?;
    let path = pty.slave_path().to_string();
    if let Some(link) = &a.link {
        if link.symlink_metadata().is_ok() {
            return Err(BadInput(format!("--link {}: already exists", link.display())).into());
        }
        std::os::unix::fs::symlink(&path, link)
            .with_context(|| format!("--link {}", link.display()))?;
    }
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    println!("{path}");
    eprintln!(
        "armhil virtual-servo: {} servo(s) {:?} ({}) at {baud} bit/s on {path}{}; Ctrl-C to stop",
        ids.len(),
        ids,
        a.protocol,
        a.link
            .as_ref()
            .map(|l| format!(" (link {})", l.display()))
            .unwrap_or_default()
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let mut bus = VirtualBus::new(protocol, &ids, baud);
    bus.impair(armhil::hardware::virtual_servo::Impairments {
        corrupt: a.corrupt,
        drop: a.drop,
        latency: Duration::from_micros(a.latency_us),
        seed: a.seed,
    });
    let clock = armhil::sys::clock::WallClock::new();
    let result = serve(&mut bus, &mut pty, &STOP, &clock);
    if let Some(link) = &a.link {
        let _ = std::fs::remove_file(link);
    }
    eprintln!(
        "armhil virtual-servo: {} requests, {} replies ({} corrupted, {} dropped), {} checksum errors, {} garbage bytes",
        bus.stats.frames,
        bus.stats.replies,
        bus.stats.corrupted,
        bus.stats.dropped,
        bus.stats.checksum_errors,
        bus.stats.garbage_bytes
    );
    result?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_ports() -> anyhow::Result<ExitCode> {
    let ports = armhil::hardware::transport::serial::list_ports()?;
    if ports.is_empty() {
        println!("no serial ports found");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<24} {:<9} {:<10} description", "path", "type", "vid:pid");
    for p in ports {
        let ids = p
            .usb
            .map(|(v, d)| format!("{v:04x}:{d:04x}"))
            .unwrap_or_else(|| "-".into());
        let desc = [
            p.manufacturer,
            p.product,
            p.serial_number.map(|s| format!("s/n {s}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        println!("{:<24} {:<9} {:<10} {}", p.path, p.kind, ids, desc);
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_run(a: RunArgs, force_gui: bool) -> anyhow::Result<ExitCode> {
    if let Some(d) = a.duration
        && !(d > 0.0 && d <= 86_400.0)
    {
        return Err(BadInput(format!(
            "--duration: {d} is out of range: expected > 0 and <= 86400 s"
        ))
        .into());
    }
    if !(0.1..=4.0).contains(&a.hang_timeout) {
        return Err(BadInput(format!(
            "--hang-timeout: {} is out of range: expected 0.1 ..= 4 s",
            a.hang_timeout
        ))
        .into());
    }
    if let Some(p) = a.rt_priority
        && !(1..=99).contains(&p)
    {
        return Err(BadInput(format!(
            "--rt-priority: {p} is out of range: expected 1 ..= 99"
        ))
        .into());
    }
    let mut schedule = Vec::new();
    for s in &a.swap {
        schedule.push(armhil::runtime::command::parse_scheduled_swap(s).map_err(BadInput)?);
    }
    let mut scene = load(&a.scene)?;
    if let Some(s) = a.seed {
        scene.seed = s;
    }
    if let Some(d) = a.duration {
        scene.duration_s = d;
    }
    let names: Vec<&str> = scene.joints.iter().map(|j| j.name.as_str()).collect();
    let mut extra = Vec::new();
    for f in &a.fault {
        let spec = armhil::faults::parse_cli_fault(f).map_err(BadInput)?;
        let mut problems = Vec::new();
        spec.validate("--fault", &names, scene.duration_s, &mut |field, m| {
            problems.push(format!("{field}: {m}"))
        });
        if !problems.is_empty() {
            return Err(BadInput(format!("--fault {f:?}: {}", problems.join("; "))).into());
        }
        extra.push(spec);
    }
    scene.faults.extend(extra);
    // Refuse an unwritable output path before anything runs.
    if let Some(r) = &a.record {
        writable(r, "--record")?;
    }
    if let Some(r) = &a.report {
        writable(r, "--report")?;
    }
    let swaps_to_serial = schedule.iter().any(|(_, c)| {
        matches!(
            c,
            armhil::runtime::command::ControlCommand::Swap {
                backend: armhil::scene::BackendSpec::Serial { .. },
                ..
            }
        )
    });
    if swaps_to_serial && !a.realtime {
        return Err(BadInput(
            "--swap to a serial servo needs --realtime (real servos run in real time)".into(),
        )
        .into());
    }
    if !a.realtime && scene.needs_realtime() {
        eprintln!("note: the scene has hardware joints: running in real time");
    }
    if force_gui || (!a.headless && gui_available()) {
        return cmd_gui(scene, schedule, &a);
    }
    let name = scene.name.clone();
    let report_path = a.report.clone();
    let seed = scene.seed;
    let joint_names: Vec<String> = scene.joints.iter().map(|j| j.name.clone()).collect();
    let on_hang: runtime::HangHook = Arc::new(move |joint, t| {
        let joint = joint_names
            .get(joint)
            .cloned()
            .unwrap_or_else(|| format!("#{joint}"));
        eprintln!(
            "error: watchdog: joint '{joint}' controller hung at t = {t:.3} s (no return within the hang timeout); ending the run"
        );
        let (name, report_path) = (name.clone(), report_path.clone());
        // Injected hangs are released by the watchdog's cancel flag and the run ends by
        // itself; a controller that ignores it gets one second, then the process ends.
        let _ = std::thread::Builder::new().name("armhil-hang-exit".into()).spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            if let Some(p) = &report_path {
                let stub = serde_json::json!({
                    "scene": name, "seed": seed, "passed": false,
                    "aborted": format!("watchdog: joint '{joint}' controller hung at t = {t:.3} s"),
                });
                let _ = std::fs::write(p, stub.to_string());
            }
            std::process::exit(1);
        });
    });
    let opts = RunOptions {
        executor: if a.realtime {
            Executor::Realtime
        } else {
            Executor::Lockstep
        },
        hang_timeout: Duration::from_secs_f64(a.hang_timeout),
        on_hang: Some(on_hang),
        rt_priority: a.rt_priority,
        lockstep_faults: if a.real_controller_faults {
            runtime::FaultMode::Real
        } else {
            runtime::FaultMode::Simulated
        },
        control: Some(stdin_commands()),
        record: a
            .record
            .as_deref()
            .map(armhil::telemetry::recorder::to_file),
        stop: Some(ctrl_c()),
        schedule,
        ..RunOptions::default()
    };
    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:40}] {msg} ({elapsed} elapsed, ETA {eta})")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let mut shown = false;
    let mut progress = |t: f64, total: f64| {
        // Only runs that take longer than about a second get a bar.
        if !shown && started.elapsed() > Duration::from_millis(800) {
            shown = true;
            bar.reset_elapsed();
        }
        if shown {
            bar.set_position((t / total * 1000.0) as u64);
            bar.set_message(format!("t = {t:.2} / {total:.2} s"));
        }
    };
    let report = runtime::run(&scene, &opts, &mut progress).context("running the scene")?;
    bar.finish_and_clear();
    print_summary(&report);
    if let Some(p) = &a.report {
        std::fs::write(p, report.to_json())
            .with_context(|| format!("writing report {}", p.display()))?;
        println!("report: {}", p.display());
    }
    if let Some(r) = &report.recording {
        let dropped: u64 = r.channels.iter().map(|c| c.2).sum();
        let written: u64 = r.channels.iter().map(|c| c.1).sum();
        println!(
            "recording: {} ({written} messages, {dropped} dropped, {:.1} MB)",
            r.file,
            r.bytes as f64 / 1e6
        );
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Whether this build has the GUI and a display to show it on.
fn gui_available() -> bool {
    #[cfg(feature = "gui")]
    {
        armhil::gui::display_available()
    }
    #[cfg(not(feature = "gui"))]
    {
        false
    }
}

#[cfg(not(feature = "gui"))]
fn cmd_gui(
    _scene: Scene,
    _schedule: Vec<(f64, armhil::runtime::command::ControlCommand)>,
    _a: &RunArgs,
) -> anyhow::Result<ExitCode> {
    Err(BadInput(
        "this armhil was built without the `gui` feature: run with --headless, or rebuild with default features".into(),
    )
    .into())
}

#[cfg(feature = "gui")]
fn cmd_gui(
    scene: Scene,
    schedule: Vec<(f64, armhil::runtime::command::ControlCommand)>,
    a: &RunArgs,
) -> anyhow::Result<ExitCode> {
    gui_window(scene, schedule, a, None)
}

/// Opens the window on a run of `scene` (or on `replay`).
#[cfg(feature = "gui")]
fn gui_window(
    scene: Scene,
    schedule: Vec<(f64, armhil::runtime::command::ControlCommand)>,
    a: &RunArgs,
    replay: Option<(armhil::recording::Recording, f64)>,
) -> anyhow::Result<ExitCode> {
    let g = &a.gui;
    if !armhil::gui::display_available() {
        return Err(BadInput(
            "no display (DISPLAY/WAYLAND_DISPLAY unset): use --headless, or run under xvfb-run"
                .into(),
        )
        .into());
    }
    if let Some(s) = g.exit_after
        && !(s > 0.0 && s <= 86_400.0)
    {
        return Err(BadInput(format!(
            "--exit-after: {s} is out of range: expected > 0 and <= 86400 s"
        ))
        .into());
    }
    if !(0.1..=10.0).contains(&g.speed) {
        return Err(BadInput(format!(
            "--speed: {} is out of range: expected 0.1 ..= 10",
            g.speed
        ))
        .into());
    }
    if g.stall_frame_ms > 2000 {
        return Err(BadInput(format!(
            "--stall-frame-ms: {} is out of range: expected 0 ..= 2000",
            g.stall_frame_ms
        ))
        .into());
    }
    if let Some(p) = &g.screenshot {
        if p.extension().and_then(|e| e.to_str()) != Some("png") {
            return Err(BadInput(format!(
                "--screenshot {}: expected a .png file name",
                p.display()
            ))
            .into());
        }
        let existed = p.exists();
        writable(p, "--screenshot")?;
        if !existed {
            let _ = std::fs::remove_file(p);
        }
    }
    let requested = if a.realtime {
        Executor::Realtime
    } else {
        Executor::Lockstep
    };
    let opts = armhil::gui::GuiOptions {
        session: armhil::app::session::SessionOptions {
            executor: Executor::for_scene(&scene, requested),
            speed: g.speed,
            duration_s: None,
            rt_priority: a.rt_priority,
            record: a.record.clone(),
            schedule,
            ..Default::default()
        },
        screenshot: g.screenshot.clone(),
        exit_after: g.exit_after.or(g.screenshot.as_ref().map(|_| 3.0)),
        stall_frame_ms: g.stall_frame_ms,
        show_axes: g.show_axes,
        show_frames: g.show_frames,
        replay,
        ..Default::default()
    };
    let out = armhil::gui::run(scene, opts);
    if let Some(e) = &out.run_error {
        eprintln!("error: {e}");
    }
    if let Some(r) = &out.report {
        print_summary(r);
        if let Some(p) = &a.report {
            std::fs::write(p, r.to_json())
                .with_context(|| format!("writing report {}", p.display()))?;
            println!("report: {}", p.display());
        }
    }
    let f = &out.frames;
    eprintln!(
        "gui: {} frames, frame time p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        f.frames, f.p50_ms, f.p99_ms, f.max_ms
    );
    if let Some(e) = &out.screenshot_error {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(1));
    }
    if let Some(p) = &g.screenshot {
        println!("screenshot: {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "gui"))]
fn cmd_replay(_a: ReplayArgs) -> anyhow::Result<ExitCode> {
    Err(BadInput(
        "this armhil was built without the `gui` feature: `armhil export` gives the recording as CSV".into(),
    )
    .into())
}

#[cfg(feature = "gui")]
fn cmd_replay(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    let rec = armhil::recording::read(&a.file).map_err(|e| BadInput(e.to_string()))?;
    let scene =
        armhil::app::replay::scene_of(&rec, &a.file, a.scene.as_deref()).map_err(BadInput)?;
    let matched = scene
        .joints
        .iter()
        .filter(|j| rec.joints.contains_key(&j.name))
        .count();
    if matched == 0 {
        return Err(BadInput(format!(
            "{}: no recorded joint matches a joint of scene '{}'",
            a.file.display(),
            scene.name
        ))
        .into());
    }
    if let Some(t) = a.at
        && !t.is_finite()
    {
        return Err(BadInput(format!("--at: {t} is not a time in seconds")).into());
    }
    let at = a.at.unwrap_or(0.0);
    let args = RunArgs {
        scene: a.file.clone(),
        headless: false,
        duration: None,
        seed: None,
        realtime: false,
        report: None,
        swap: Vec::new(),
        fault: Vec::new(),
        rt_priority: None,
        hang_timeout: 2.0,
        real_controller_faults: false,
        record: None,
        gui: a.gui.clone(),
    };
    gui_window(scene, Vec::new(), &args, Some((rec, at)))
}

/// A flag set by Ctrl-C: the run ends at its next step and writes its report and
/// recording as at a normal end. A second Ctrl-C exits at once.
fn ctrl_c() -> Arc<std::sync::atomic::AtomicBool> {
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

fn cmd_inspect(file: &Path) -> anyhow::Result<ExitCode> {
    let rec = armhil::recording::read(file).map_err(|e| BadInput(e.to_string()))?;
    println!(
        "{}: {:.3} s, {} channels, {} messages{}",
        file.display(),
        rec.duration_s(),
        rec.channels.len(),
        rec.channels.iter().map(|c| c.messages).sum::<u64>(),
        rec.scene
            .as_ref()
            .map_or(String::new(), |(n, _)| format!(", scene {n}"))
    );
    println!(
        "{:<28} {:<22} {:>9} {:>6} {:>10} {:>10}",
        "channel", "schema", "messages", "gaps", "first (s)", "last (s)"
    );
    for c in &rec.channels {
        println!(
            "{:<28} {:<22} {:>9} {:>6} {:>10.3} {:>10.3}",
            c.topic, c.schema, c.messages, c.gaps, c.first_s, c.last_s
        );
    }
    println!("events: {}", rec.events.len());
    for e in &rec.events {
        println!(
            "  [{:>8.3} s] {:<14} {:<18} {}",
            e.t, e.joint, e.kind, e.detail
        );
    }
    if let Some(t) = &rec.truncated {
        println!("TRUNCATED: read up to the last complete chunk ({t})");
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_export(file: &Path, dir: &Path) -> anyhow::Result<ExitCode> {
    let rec = armhil::recording::read(file).map_err(|e| BadInput(e.to_string()))?;
    let files = armhil::recording::read::export_csv(&rec, dir)
        .with_context(|| format!("writing CSV into {}", dir.display()))?;
    for f in &files {
        println!("{}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Commands typed on stdin (`swap JOINT BACKEND`), parsed on their own thread and sent
/// on the run's control channel; bad lines are reported and skipped.
fn stdin_commands() -> crossbeam::channel::Receiver<armhil::runtime::command::ControlCommand> {
    let (tx, rx) = crossbeam::channel::bounded(armhil::runtime::command::CAPACITY);
    let _ = std::thread::Builder::new()
        .name("armhil-stdin".into())
        .spawn(move || {
            use std::io::BufRead;
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if line.trim().is_empty() {
                    continue;
                }
                match armhil::runtime::command::parse_command(&line) {
                    Ok(c) => {
                        if tx.send(c).is_err() {
                            break;
                        }
                    }
                    Err(e) => eprintln!("error: {e}"),
                }
            }
        });
    rx
}

fn print_summary(r: &Report) {
    println!(
        "{}: {} {} steps, {:.3} s simulated in {:.3} s wall ({:.1}× real time), seed {}",
        r.scene, r.executor, r.steps, r.sim_time_s, r.wall_time_s, r.real_time_factor, r.seed
    );
    if let Some(l) = &r.step_lateness_us {
        println!(
            "step lateness: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
            l.p50, l.p99, l.p999, l.max
        );
    }
    print!("{}", r.table());
    for e in &r.events {
        println!(
            "  [{:>8.3} s] {:<14} {:<18} {}",
            e.t, e.joint, e.kind, e.detail
        );
    }
    print!("{}", r.summary());
    if let Some(a) = &r.aborted {
        println!("ABORTED: {a}");
    }
    println!("{}", if r.passed { "PASSED" } else { "FAILED" });
}
