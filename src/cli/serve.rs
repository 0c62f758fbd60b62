//! `armhil serve`: runs a scene in real time and serves its actuated joints as servos
//! on a pseudo-terminal, so a host's own software (LeRobot, the official SDKs, its own
//! bus code) drives the simulated arm. The scene's `serve: (...)` section gives the
//! defaults; each option here overrides one. Without `--duration` it runs until
//! Ctrl-C/SIGTERM, then finishes the report and recording as `run` does and keeps the
//! servos' EEPROM for the next run.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use armhil::hardware::served::{ServedBusSpec, ServedPort, ServedServo};
use armhil::hardware::virtual_servo::table::Protocol;
use armhil::runtime::{self, Executor, RunOptions};
use armhil::scene::{JointKind, Scene};
use armhil::servo::spec::{SERVED_BAUDS, ServeSpec, ServedFamily};

use super::{BadInput, ctrl_c, load, writable};

#[derive(clap::Args)]
pub(super) struct ServeArgs {
    /// Scene file (.ron) or URDF (.urdf).
    scene: PathBuf,
    #[command(flatten)]
    live: super::live::LiveArgs,
    #[command(flatten)]
    zenoh: super::zenoh::ZenohArgs,
    /// Make PATH a symlink to the served pseudo-terminal (replaced if it is a symlink).
    #[arg(long, value_name = "PATH")]
    link: Option<PathBuf>,
    /// Servo family the host finds: sts (Feetech STS3215) or dxl (Dynamixel XM430).
    #[arg(long, value_enum)]
    protocol: Option<Family>,
    /// Modelled line rate, bit/s (replies are timed at it).
    #[arg(long, value_parser = baud)]
    baud: Option<u32>,
    /// Servo IDs: `JOINT=ID,...` (0..=252); default 1..N in the scene's joint order.
    /// When given, only the joints named are served.
    #[arg(long, value_name = "JOINT=ID,...", value_parser = ids)]
    ids: Option<BTreeMap<String, u8>>,
    /// Forward a joint's ID to a real servo on another port: `JOINT=serial:PORT:sts|dxl:ID[:BAUD]`
    /// (the bus's protocol; baud default 1000000). Its requests are sent on there, sync
    /// reads and writes split and merged; the simulated joint follows the real one.
    #[arg(long, value_name = "JOINT=serial:PORT:PROTO:ID[:BAUD]")]
    proxy: Vec<String>,
    /// Run without a window even when a display is present.
    #[arg(long)]
    headless: bool,
    /// Seconds to serve (0 < S <= 86400); default: until Ctrl-C/SIGTERM.
    #[arg(long, value_parser = super::run_seconds)]
    duration: Option<f64>,
    /// Write the JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Record telemetry into an MCAP file.
    #[arg(long, value_name = "FILE.mcap")]
    record: Option<PathBuf>,
    /// Inject a fault: `JOINT:KIND[(ARG)]@AT[..UNTIL]` (as for `run`; repeatable).
    #[arg(long, value_name = "FAULT")]
    fault: Vec<String>,
    /// Where the servos' EEPROM is kept between runs (JSON). Default: the scene's
    /// `serve.eeprom`, else beside --record (FILE.eeprom.json), else
    /// ~/.cache/armhil/eeprom/SCENE.json.
    #[arg(long, value_name = "FILE")]
    eeprom: Option<PathBuf>,
    /// Also write a LeRobot calibration file (e.g. CALIB_DIR/ID.json) matching the
    /// served registers, so LeRobot connects without a prompt.
    #[arg(long, value_name = "FILE.json")]
    lerobot_calibration: Option<PathBuf>,
    /// SCHED_FIFO priority for physics (services and the bus one below), 1..=99.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=99))]
    rt_priority: Option<i32>,
    #[command(flatten)]
    gui: super::run::GuiArgs,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum Family {
    Sts,
    Dxl,
}

fn baud(s: &str) -> Result<u32, String> {
    let b: u32 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if SERVED_BAUDS.contains(&b) {
        Ok(b)
    } else {
        Err(format!("expected one of {SERVED_BAUDS:?}"))
    }
}

fn ids(s: &str) -> Result<BTreeMap<String, u8>, String> {
    let mut m = BTreeMap::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let (j, id) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: expected JOINT=ID"))?;
        let id: u8 = id
            .trim()
            .parse()
            .ok()
            .filter(|&v: &u8| v <= 252)
            .ok_or_else(|| format!("{part:?}: ID must be 0..=252"))?;
        m.insert(j.trim().to_string(), id);
    }
    Ok(m)
}

/// The served bus this run asks for: the scene's section, overridden by the options.
fn plan(scene: &Scene, a: &ServeArgs) -> Result<ServedBusSpec, BadInput> {
    let mut spec: ServeSpec = scene.serve.clone().unwrap_or_default();
    if let Some(f) = a.protocol {
        spec.protocol = match f {
            Family::Sts => ServedFamily::Sts,
            Family::Dxl => ServedFamily::Dxl,
        };
    }
    if let Some(b) = a.baud {
        spec.baud = Some(b);
    }
    if let Some(ids) = &a.ids {
        spec.ids = ids.clone();
    }
    let names: Vec<&str> = scene.joints.iter().map(|j| j.name.as_str()).collect();
    let mut problems = Vec::new();
    spec.validate("serve", &names, &mut |f, m| {
        problems.push(format!("{f}: {m}"))
    });
    if !problems.is_empty() {
        let what = if a.ids.is_some() { "--ids" } else { "scene" };
        return Err(BadInput(format!(
            "{what} ({}): {}",
            scene.source.display(),
            problems.join("; ")
        )));
    }
    let family = match spec.protocol {
        ServedFamily::Sts => armhil::scene::BusProtocol::Sts,
        ServedFamily::Dxl => armhil::scene::BusProtocol::Dxl,
    };
    let mut proxies = BTreeMap::new();
    for p in &a.proxy {
        let (joint, backend) = p.split_once('=').ok_or_else(|| {
            BadInput(format!(
                "--proxy {p:?}: expected JOINT=serial:PORT:PROTO:ID[:BAUD]"
            ))
        })?;
        if !names.contains(&joint) {
            return Err(BadInput(format!(
                "--proxy {p:?}: no actuated joint named {joint:?}; expected one of {names:?}"
            )));
        }
        match armhil::runtime::command::parse_backend(backend) {
            Ok(armhil::scene::BackendSpec::Serial {
                port,
                protocol,
                id,
                baud,
                ..
            }) if protocol == family && !armhil::hardware::virtual_port::is_virtual(&port) => {
                proxies.insert(
                    joint.to_string(),
                    armhil::hardware::served::ProxySpec { port, id, baud },
                );
            }
            Ok(armhil::scene::BackendSpec::Serial { protocol, .. }) if protocol != family => {
                return Err(BadInput(format!(
                    "--proxy {p:?}: the served bus speaks {}; a proxied servo must too",
                    if family == armhil::scene::BusProtocol::Sts {
                        "sts"
                    } else {
                        "dxl"
                    }
                )));
            }
            Ok(_) => {
                return Err(BadInput(format!(
                    "--proxy {p:?}: expected serial:PORT:PROTO:ID[:BAUD] with a device path"
                )));
            }
            Err(e) => return Err(BadInput(format!("--proxy {p:?}: {e}"))),
        }
    }
    let mut servos = Vec::new();
    for (i, j) in scene.joints.iter().enumerate() {
        let id = if spec.ids.is_empty() {
            match u8::try_from(i + 1) {
                Ok(id) if id <= 252 => id,
                _ => return Err(BadInput("more than 252 joints cannot share one bus".into())),
            }
        } else {
            match spec.ids.get(&j.name) {
                Some(&id) => id,
                None => continue,
            }
        };
        if j.recorded.is_some() || !matches!(j.backend, armhil::scene::BackendSpec::Sim) {
            return Err(BadInput(format!(
                "joint {:?} is driven by a serial servo or a recording in the scene; serve only simulated joints (leave it out with --ids)",
                j.name
            )));
        }
        let ticks = j.servo.encoder_ticks_per_rev as f64;
        let ticks_per_unit = match j.kind {
            JointKind::Prismatic => ticks,
            _ => ticks / std::f64::consts::TAU,
        };
        let tick = |x: f64| (2048.0 + x * ticks_per_unit).round().clamp(0.0, 4095.0) as i32;
        servos.push(ServedServo {
            joint: i,
            name: j.name.clone(),
            id,
            homing_offset: spec.homing_offsets.get(&j.name).copied().unwrap_or(0),
            limits: (tick(j.limits.0), tick(j.limits.1)),
            ticks_per_unit,
            start: j.initial,
            proxy: proxies.remove(&j.name),
        });
    }
    if let Some(j) = proxies.keys().next() {
        return Err(BadInput(format!(
            "--proxy: joint {j:?} is not served (see --ids)"
        )));
    }
    let base = scene.source.parent().unwrap_or(Path::new("."));
    let eeprom = a
        .eeprom
        .clone()
        .or_else(|| spec.eeprom.as_ref().map(|e| base.join(e)))
        .or_else(|| a.record.as_ref().map(|r| r.with_extension("eeprom.json")))
        .or_else(|| {
            std::env::var_os("HOME").map(|h| {
                let stem = scene
                    .source
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| scene.name.clone());
                PathBuf::from(h)
                    .join(".cache/armhil/eeprom")
                    .join(format!("{stem}.json"))
            })
        });
    Ok(ServedBusSpec {
        protocol: match spec.protocol {
            ServedFamily::Sts => Protocol::Sts,
            ServedFamily::Dxl => Protocol::Dxl,
        },
        baud: spec.baud.unwrap_or(1_000_000),
        servos,
        link: a
            .link
            .clone()
            .or_else(|| spec.link.as_ref().map(PathBuf::from)),
        eeprom,
        rt_priority: a.rt_priority.map(|p| (p - 1).max(1)),
    })
}

/// Writes LeRobot's calibration file for the served servos (its `MotorCalibration`
/// fields, per motor name).
fn write_lerobot_calibration(path: &Path, port: &ServedPort) -> anyhow::Result<()> {
    let mut m = serde_json::Map::new();
    for s in port.info() {
        m.insert(
            s.name.clone(),
            serde_json::json!({
                "id": s.id,
                "drive_mode": 0,
                "homing_offset": s.homing_offset,
                "range_min": s.min,
                "range_max": s.max,
            }),
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(m))?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

pub(super) fn cmd_serve(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut scene = load(&a.scene)?;
    // Without --duration: until Ctrl-C (the longest run a scene may have).
    scene.duration_s = a.duration.unwrap_or(86_400.0);
    super::run::add_faults(&mut scene, &a.fault)?;
    let spec = plan(&scene, &a)?;
    if spec.servos.is_empty() {
        return Err(BadInput("no joint to serve".into()).into());
    }
    for (p, what) in [(&a.record, "--record"), (&a.report, "--report")] {
        if let Some(p) = p {
            writable(p, what)?;
        }
    }
    a.live.addr()?;
    let clock: Arc<dyn armhil::sys::clock::Clock> = Arc::new(armhil::sys::clock::WallClock::new());
    let mut port =
        ServedPort::start(spec.clone(), clock.clone()).map_err(|e| BadInput(e.to_string()))?;
    if let Some(p) = &a.lerobot_calibration {
        write_lerobot_calibration(p, &port)?;
    }
    let family = match spec.protocol {
        Protocol::Sts => "STS3215",
        Protocol::Dxl => "XM430",
    };
    let ids: Vec<String> = port
        .info()
        .iter()
        .map(|s| format!("{}={}", s.name, s.id))
        .collect();
    println!("{}", port.path);
    println!(
        "serving {} {family} servos at {} baud ({}){}{}",
        ids.len(),
        spec.baud,
        ids.join(", "),
        spec.link
            .as_ref()
            .map(|l| format!(", link {}", l.display()))
            .unwrap_or_default(),
        spec.eeprom
            .as_ref()
            .map(|e| format!(", EEPROM {}", e.display()))
            .unwrap_or_default(),
    );
    let _ = std::io::stdout().flush();
    let served = port.joints().to_vec();
    let tap = port.tap();
    let report = if !a.headless && super::run::gui_available() {
        gui(scene, &a, served, tap)?
    } else {
        let (control, commands) = super::run::stdin_commands();
        let opts = RunOptions {
            executor: Executor::Realtime,
            rt_priority: a.rt_priority,
            live_server: a.live.sink(&scene, &control)?,
            control: Some(commands),
            record: a
                .record
                .as_deref()
                .map(armhil::telemetry::recorder::to_file),
            stop: Some(ctrl_c()),
            clock: Some(clock),
            served,
            served_tap: tap,
            zenoh: a.zenoh.options(),
            ..RunOptions::default()
        };
        Some(runtime::run(&scene, &opts, &mut |_, _| {}).context("running the scene")?)
    };
    let stats = port.finish().map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "served bus: {} requests, {} replies, {} checksum errors, {} garbage bytes",
        stats.frames, stats.replies, stats.checksum_errors, stats.garbage_bytes
    );
    let Some(report) = report else {
        return Ok(ExitCode::SUCCESS);
    };
    super::run::print_summary(&report);
    super::run::print_sinks(&report);
    if let Some(s) = &report.served {
        let by: Vec<String> = s
            .by_instruction
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "host: {} requests ({}), {} replies, {} lost to link faults{}",
            s.requests,
            by.join(", "),
            s.replies,
            s.lost_replies,
            s.reply_latency_us
                .as_ref()
                .map(|l| format!(", reply latency p50 {:.0} µs, p99 {:.0} µs", l.p50, l.p99))
                .unwrap_or_default()
        );
    }
    if let Some(p) = &a.report {
        std::fs::write(p, report.to_json())
            .with_context(|| format!("writing report {}", p.display()))?;
        println!("report: {}", p.display());
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(not(feature = "gui"))]
fn gui(
    _scene: Scene,
    _a: &ServeArgs,
    _served: Vec<armhil::hardware::served::ServedJoint>,
    _tap: Option<armhil::hardware::served::ServedTap>,
) -> anyhow::Result<Option<armhil::report::Report>> {
    Err(BadInput("this armhil was built without the `gui` feature: use --headless".into()).into())
}

/// The window on the served run.
#[cfg(feature = "gui")]
fn gui(
    scene: Scene,
    a: &ServeArgs,
    served: Vec<armhil::hardware::served::ServedJoint>,
    tap: Option<armhil::hardware::served::ServedTap>,
) -> anyhow::Result<Option<armhil::report::Report>> {
    let g = &a.gui;
    let opts = g.options(armhil::app::session::SessionOptions {
        executor: Executor::Realtime,
        rt_priority: a.rt_priority,
        record: a.record.clone(),
        live: a.live.addr()?,
        live_wait: a.live.live_wait,
        served,
        served_tap: tap,
        zenoh: a.zenoh.options(),
        ..Default::default()
    });
    let out = armhil::gui::run(scene, opts);
    if let Some(e) = &out.run_error {
        eprintln!("error: {e}");
    }
    if let Some(e) = &out.screenshot_error {
        eprintln!("error: {e}");
    }
    if let Some(p) = &g.screenshot
        && out.screenshot_error.is_none()
    {
        println!("screenshot: {}", p.display());
    }
    Ok(out.report)
}
