//! `armhil run` and `armhil gui`: a scene run headless (progress bar, summary, report)
//! or in the window; commands typed on stdin go to the run's control channel.
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use armhil::report::Report;
use armhil::runtime::{self, Executor, RunOptions};
use armhil::scene::Scene;

use super::{BadInput, ctrl_c, load, writable};

#[derive(clap::Args)]
pub(super) struct RunArgs {
    /// Scene file (.ron) or URDF (.urdf).
    pub(super) scene: PathBuf,
    #[command(flatten)]
    pub(super) zenoh: super::zenoh::ZenohArgs,
    #[command(flatten)]
    pub(super) live: super::live::LiveArgs,
    #[command(flatten)]
    pub(super) ros2: super::ros2::Ros2Args,
    /// Run without a window even when a display is present.
    #[arg(long)]
    pub(super) headless: bool,
    /// Override the scene's duration, seconds (0 < S <= 86400).
    #[arg(long, value_parser = super::run_seconds)]
    pub(super) duration: Option<f64>,
    /// Override the scene's seed.
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Pace the run by the wall clock (each joint service on its own thread).
    #[arg(long)]
    pub(super) realtime: bool,
    /// Write the JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    pub(super) report: Option<PathBuf>,
    /// Swap a joint's backend at a simulated time: `JOINT=serial:PORT:sts|dxl:ID[:BAUD]@SECONDS`
    /// or `JOINT=sim@SECONDS` (repeatable). While running, `swap JOINT BACKEND` lines on
    /// stdin do the same.
    #[arg(long, value_name = "SWAP")]
    pub(super) swap: Vec<String>,
    /// Inject a fault: `JOINT:KIND[(ARG)]@AT[..UNTIL]`, e.g. `elbow:hang@2.0`,
    /// `wrist_roll:encoder_noise(0.01)@1..2`, `shoulder:servo_error(overheat)@3..4`
    /// (repeatable). Kinds: panic, hang, slow(ms), encoder_stuck, encoder_noise(σ rad),
    /// encoder_offset(rad), torque_sag(factor), servo_error(overload|overheat|voltage),
    /// power_loss, jam; on serial and served joints link_drop(p), link_corrupt(p),
    /// link_latency(ms,jitter_ms), unplug, wrong_id(id). While running, `fault SPEC`,
    /// `estop`, `reset`, `reset JOINT`, `gains JOINT KP KI KD` and (lockstep) `pause`,
    /// `resume`, `step [N]`, `speed X|max` lines on stdin.
    #[arg(long, value_name = "FAULT")]
    pub(super) fault: Vec<String>,
    /// Real-time: SCHED_FIFO priority for physics (services one below), 1..=99; needs root or CAP_SYS_NICE.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=99))]
    pub(super) rt_priority: Option<i32>,
    /// Lockstep watchdog: seconds a controller call may take before the run is ended (0.1..=4).
    #[arg(long, default_value_t = 2.0, value_parser = super::hang_timeout)]
    pub(super) hang_timeout: f64,
    /// Lockstep: injected hangs and slow cycles really block the thread instead of
    /// playing out on simulated time (exercises the wall-clock watchdog; the run is
    /// no longer reproducible).
    #[arg(long)]
    pub(super) real_controller_faults: bool,
    /// Record telemetry (joint states every control period, bus transactions, events,
    /// the scene) into an MCAP file that Foxglove opens.
    #[arg(long, value_name = "FILE.mcap")]
    pub(super) record: Option<PathBuf>,
    #[command(flatten)]
    pub(super) gui: GuiArgs,
}

#[derive(clap::Args, Clone)]
pub(super) struct GuiArgs {
    /// GUI: write a PNG of the window after --exit-after seconds (default 3), then exit.
    #[arg(long, value_name = "FILE.png")]
    pub(super) screenshot: Option<PathBuf>,
    /// GUI: close the window after S wall-clock seconds (0 < S <= 86400).
    #[arg(long, value_name = "S", value_parser = super::run_seconds)]
    pub(super) exit_after: Option<f64>,
    /// GUI and headless with --live, lockstep: initial speed in simulated seconds per
    /// wall second (0.1..=10), or `max`: as fast as the machine allows.
    #[arg(long, default_value_t = 1.0, value_parser = super::speed)]
    pub(super) speed: f64,
    /// GUI diagnostic: make every frame this many ms slower (0..=2000), to show that
    /// the run does not depend on the frame rate.
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=2000))]
    pub(super) stall_frame_ms: u64,
    /// GUI: start with the joint axes shown (a toggle in the window).
    #[arg(long)]
    pub(super) show_axes: bool,
    /// GUI: start with the link frames shown (a toggle in the window).
    #[arg(long)]
    pub(super) show_frames: bool,
}

#[cfg(feature = "gui")]
impl GuiArgs {
    /// The window's options for a run of `session`.
    pub(super) fn options(
        &self,
        session: armhil::app::session::SessionOptions,
    ) -> armhil::gui::GuiOptions {
        armhil::gui::GuiOptions {
            session,
            screenshot: self.screenshot.clone(),
            exit_after: self.exit_after.or(self.screenshot.as_ref().map(|_| 3.0)),
            stall_frame_ms: self.stall_frame_ms,
            show_axes: self.show_axes,
            show_frames: self.show_frames,
            ..Default::default()
        }
    }
}

pub(super) fn cmd_run(a: RunArgs, force_gui: bool) -> anyhow::Result<ExitCode> {
    let mut schedule = Vec::new();
    for s in &a.swap {
        schedule.push(
            armhil::runtime::command::parse_scheduled_swap(s)
                .map_err(|e| BadInput(e.to_string()))?,
        );
    }
    let mut scene = load(&a.scene)?;
    if let Some(s) = a.seed {
        scene.seed = s;
    }
    if let Some(d) = a.duration {
        scene.duration_s = d;
    }
    add_faults(&mut scene, &a.fault)?;
    // Refuse an unwritable output path before anything runs.
    if let Some(r) = &a.record {
        writable(r, "--record")?;
    }
    if let Some(r) = &a.report {
        writable(r, "--report")?;
    }
    a.live.addr()?;
    let ros2 = a.ros2.options()?;
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
    let scene_name = scene.name.clone();
    let scene_file = scene.source.display().to_string();
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
        let report = Report::aborted(
            &scene_name,
            &scene_file,
            seed,
            t,
            format!("watchdog: joint '{joint}' controller hung at t = {t:.3} s"),
        );
        let report_path = report_path.clone();
        // Injected hangs are released by the watchdog's cancel flag and the run ends by
        // itself; a controller that ignores it gets one second, then the process ends.
        let _ = std::thread::Builder::new()
            .name("armhil-hang-exit".into())
            .spawn(move || {
                std::thread::sleep(Duration::from_secs(1));
                if let Some(p) = &report_path {
                    let _ = std::fs::write(p, report.to_json());
                }
                std::process::exit(1);
            });
    });
    let (control, commands) = stdin_commands();
    let live_server = a.live.sink(&scene, &control)?;
    // Watched live or on the ROS 2 graph (whose nodes live on the wall clock), a
    // lockstep run keeps the wall clock's pace (`--speed`); live clients may pause,
    // step and change it.
    let pace = (live_server.is_some() || ros2.is_some())
        .then_some(a.gui.speed)
        .filter(|s| s.is_finite());
    #[cfg_attr(not(feature = "ros2"), allow(unused_mut))]
    let mut opts = RunOptions {
        executor: if a.realtime {
            Executor::Realtime
        } else {
            Executor::Lockstep
        },
        pace,
        live_server,
        hang_timeout: Duration::from_secs_f64(a.hang_timeout),
        on_hang: Some(on_hang),
        rt_priority: a.rt_priority,
        lockstep_faults: if a.real_controller_faults {
            runtime::FaultMode::Real
        } else {
            runtime::FaultMode::Simulated
        },
        control: Some(commands),
        record: a
            .record
            .as_deref()
            .map(armhil::telemetry::recorder::to_file),
        stop: Some(ctrl_c()),
        schedule,
        zenoh: a.zenoh.options(),
        ..RunOptions::default()
    };
    #[cfg(feature = "ros2")]
    if let Some(o) = ros2 {
        let joints = scene.joints.iter().map(|j| j.name.clone()).collect();
        armhil::telemetry::ros2::open(&opts.zenoh, o, joints)
            .context("--ros2")?
            .apply(&mut opts);
    }
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
    print_sinks(&report);
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Adds `--fault` specs to the scene, each checked against its joints and duration.
pub(super) fn add_faults(scene: &mut Scene, faults: &[String]) -> Result<(), BadInput> {
    let names: Vec<&str> = scene.joints.iter().map(|j| j.name.as_str()).collect();
    let mut extra = Vec::new();
    for f in faults {
        let spec = armhil::faults::parse_cli_fault(f).map_err(|e| BadInput(e.to_string()))?;
        let mut problems = Vec::new();
        spec.validate("--fault", &names, scene.duration_s, &mut |field, m| {
            problems.push(format!("{field}: {m}"))
        });
        if !problems.is_empty() {
            return Err(BadInput(format!("--fault {f:?}: {}", problems.join("; "))));
        }
        extra.push(spec);
    }
    scene.faults.extend(extra);
    Ok(())
}

/// Whether this build has the GUI and a display to show it on.
pub(super) fn gui_available() -> bool {
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
pub(super) fn gui_window(
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
        replay,
        ..g.options(armhil::app::session::SessionOptions {
            executor: Executor::for_scene(&scene, requested),
            speed: g.speed,
            duration_s: None,
            rt_priority: a.rt_priority,
            record: a.record.clone(),
            live: a.live.addr()?,
            live_wait: a.live.live_wait,
            schedule,
            zenoh: a.zenoh.options(),
            ros2: a.ros2.options()?,
            ..Default::default()
        })
    };
    let out = armhil::gui::run(scene, opts);
    if let Some(e) = &out.run_error {
        eprintln!("error: {e}");
    }
    if let Some(r) = &out.report {
        print_summary(r);
        print_sinks(r);
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

/// The run's control channel, with commands typed on stdin (`swap JOINT BACKEND`)
/// parsed on their own thread and sent on it; bad lines are reported and skipped.
/// The sender is for others who steer the run (the live server).
pub(super) fn stdin_commands() -> (
    crossbeam::channel::Sender<armhil::runtime::command::ControlCommand>,
    crossbeam::channel::Receiver<armhil::runtime::command::ControlCommand>,
) {
    let (tx, rx) = crossbeam::channel::bounded(armhil::runtime::command::CAPACITY);
    let control = tx.clone();
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
    (control, rx)
}

/// What the recorder and the live server did, one line each.
pub(super) fn print_sinks(report: &Report) {
    if let Some(r) = &report.recording {
        let dropped: u64 = r.channels.iter().map(|c| c.2).sum();
        let written: u64 = r.channels.iter().map(|c| c.1).sum();
        println!(
            "recording: {} ({written} messages, {dropped} dropped, {:.1} MB)",
            r.file,
            r.bytes as f64 / 1e6
        );
    }
    if let Some(r) = &report.ros2 {
        println!(
            "ros2: {} {} and {} {} published ({} and {} without a subscriber, {} dropped); {} commands on {}: {} joint targets taken, {} malformed, {} of the wrong length{}",
            r.joint_states,
            r.joint_states_key,
            r.clock,
            r.clock_key,
            r.joint_states_unheard,
            r.clock_unheard,
            r.dropped,
            r.commands,
            r.commands_key,
            r.applied,
            r.malformed,
            r.wrong_length,
            match r.unknown_joints.is_empty() {
                true => String::new(),
                false => format!("; unknown joints: {}", r.unknown_joints.join(", ")),
            }
        );
    }
    if let Some(l) = &report.live {
        let dropped: u64 = l.channels.iter().map(|c| c.2).sum();
        let sent: u64 = l.channels.iter().map(|c| c.1).sum();
        println!(
            "live: {} ({} clients, {sent} messages, {dropped} dropped before the server; {} commands, {} refused)",
            l.address, l.clients, l.commands, l.refused
        );
    }
}

pub(super) fn print_summary(r: &Report) {
    println!(
        "{}: {} {} steps, {:.3} s simulated in {:.3} s wall ({:.1}× real time), seed {}",
        r.scene, r.executor, r.steps, r.sim_time_s, r.wall_time_s, r.real_time_factor, r.seed
    );
    if let Some(l) = &r.step_lateness_us {
        println!(
            "step lateness: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs; {} steps missed their slot",
            l.p50,
            l.p99,
            l.p999,
            l.max,
            r.missed_steps.unwrap_or(0)
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
