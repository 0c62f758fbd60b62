//! `armhil bench`: real-time factor of the full headless loop (physics + every joint
//! service + report) and of the bare rapier step on the same model, for arm6,
//! generated chains, and several copies of arm6 in one world; and the real-time
//! executor's step lateness. Build with `--release` for meaningful figures.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use armhil::physics::{ArmWorld, BuildOptions};
use armhil::runtime::{self, Executor, RunOptions};
use armhil::scene::{Scene, generate};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// The arm6 scene used for the arm6 rows.
    #[arg(long, default_value = "scenes/arm6.ron")]
    scene: PathBuf,
    /// Simulated seconds per measurement (1..=600).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Also run the real-time executor for this many seconds and report step lateness (0 = skip).
    #[arg(long, default_value_t = 0.0)]
    realtime_seconds: f64,
    /// Real-time run: SCHED_FIFO priority of the physics thread (1..=99; needs root).
    #[arg(long)]
    rt_priority: Option<i32>,
    /// Only the named rows (comma-separated: arm6, chain6, chain12, chain24, chain48, arm6x1, arm6x4, arm6x16).
    #[arg(long)]
    only: Option<String>,
    /// Where every joint's service runs in every row: thread (the scenes' own
    /// setting when not given) or process.
    #[arg(long, value_parser = ["thread", "process"])]
    isolation: Option<String>,
    /// Also time this many sample -> command round trips per service kind (thread;
    /// process behind its service thread, as in real time; process in place, as in
    /// lockstep) and print p50/p99/max (0 = skip).
    #[arg(long, default_value_t = 0)]
    round_trips: u32,
    #[command(flatten)]
    zenoh: super::zenoh::ZenohArgs,
}

/// An external joint's key and servo.
type ServoSpecAndKey = (String, armhil::servo::spec::ServoSpec);

/// Times `n` sample -> command round trips through a service of each kind.
fn round_trips(
    scene: &Scene,
    n: u32,
    zenoh: &armhil::runtime::external::ZenohOptions,
) -> anyhow::Result<()> {
    use armhil::runtime::process::{Launch, wire};
    use armhil::runtime::{FaultMode, JointService, ServiceInput, ServiceOutput};
    let j = &scene.joints[0];
    let launch = Launch {
        exe: std::env::current_exe()?,
        hello: wire::Hello {
            version: wire::VERSION,
            name: j.name.clone(),
            controller: j.controller.clone(),
            servo: j.servo.clone(),
            faults: Vec::new(),
            mode: FaultMode::Real,
        },
        limits: Default::default(),
        rt_priority: None,
        reply_bound: None,
    };
    let mut kinds: Vec<(String, bool)> = vec![
        ("thread".into(), true),
        ("process (its service thread, real time)".into(), true),
        ("process (in place, lockstep)".into(), false),
    ];
    // Each external joint's service too (its program must be running).
    #[cfg(feature = "zenoh")]
    let session = scene
        .joints
        .iter()
        .any(|j| matches!(j.controller, armhil::control::ControllerSpec::External(_)))
        .then(|| armhil::runtime::external::open(zenoh))
        .transpose()?;
    #[cfg(not(feature = "zenoh"))]
    let _ = zenoh;
    let externals: Vec<(String, ServoSpecAndKey)> = scene
        .joints
        .iter()
        .filter_map(|j| match &j.controller {
            armhil::control::ControllerSpec::External(e) => Some((
                format!("zenoh {} (in place, lockstep)", e.key),
                (e.key.clone(), j.servo.clone()),
            )),
            _ => None,
        })
        .collect();
    for (name, _) in &externals {
        kinds.push((name.clone(), false));
    }
    println!("round trips, sample -> command, {n} each:");
    for (k, (name, threaded)) in kinds.into_iter().enumerate() {
        let (mut svc, port) = match k {
            0 => JointService::new(&j.name, armhil::control::build(&j.controller, &j.servo)),
            1 | 2 => JointService::in_process(&j.name, launch.clone()),
            #[cfg(feature = "zenoh")]
            _ => {
                let (key, servo) = &externals[k - 3].1;
                let Some(session) = &session else {
                    anyhow::bail!("no zenoh session")
                };
                let link = armhil::runtime::external::Link::new(
                    session,
                    key,
                    servo.clone(),
                    Some(std::time::Duration::from_secs(1)),
                )?;
                JointService::external(key, link, FaultMode::Real)
            }
            #[cfg(not(feature = "zenoh"))]
            _ => anyhow::bail!("{name}: this armhil was built without the zenoh feature"),
        };
        svc.prepare();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut worker = None;
        let mut local = None;
        if threaded {
            let stop = stop.clone();
            worker = Some(std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed)
                    && svc.serve_one(std::time::Duration::from_millis(20))
                {}
            }));
        } else {
            local = Some(svc);
        }
        let mut us = Vec::with_capacity(n as usize);
        for seq in 0..n as u64 {
            let mut input = ServiceInput {
                seq,
                input: Default::default(),
                reset: false,
            };
            input.input.t = seq as f64 * 1e-3;
            input.input.dt = 1e-3;
            let t0 = Instant::now();
            port.to_service.send(input)?;
            if let Some(s) = local.as_mut() {
                s.poll();
            }
            match port.from_service.recv()? {
                ServiceOutput::Command { .. } => {}
                ServiceOutput::Died { message, .. } | ServiceOutput::Away { message, .. } => {
                    anyhow::bail!("{name}: {message}")
                }
                ServiceOutput::Garbled { what, .. } => anyhow::bail!("{name}: {what}"),
            }
            us.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        drop(port);
        if let Some(w) = worker {
            let _ = w.join();
        }
        us.sort_by(f64::total_cmp);
        let at = |q: f64| us[((us.len() - 1) as f64 * q).round() as usize];
        println!(
            "  {name:<42} p50 {:>7.1} µs  p99 {:>7.1} µs  max {:>8.1} µs",
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    #[cfg(feature = "zenoh")]
    if let Some(s) = session {
        use zenoh::Wait;
        // Free its port for the runs that follow.
        let _ = s.close().wait();
    }
    Ok(())
}

fn bare_rtf(scene: &Scene, copies: usize, seconds: f64) -> f64 {
    let mut w = ArmWorld::with_options(
        scene,
        BuildOptions {
            copies,
            spacing: 1.0,
        },
    );
    let steps = (seconds * scene.physics.rate_hz) as u64;
    let t0 = Instant::now();
    for _ in 0..steps {
        w.step();
    }
    seconds / t0.elapsed().as_secs_f64()
}

fn full_rtf(
    scene: &Scene,
    copies: usize,
    seconds: f64,
    zenoh: &armhil::runtime::external::ZenohOptions,
) -> anyhow::Result<f64> {
    let opts = RunOptions {
        zenoh: zenoh.clone(),
        duration_s: Some(seconds),
        build: BuildOptions {
            copies,
            spacing: 1.0,
        },
        ..RunOptions::default()
    };
    let t0 = Instant::now();
    let r = runtime::run(scene, &opts, &mut |_, _| {})?;
    let json = r.to_json();
    std::hint::black_box(json);
    Ok(seconds / t0.elapsed().as_secs_f64())
}

pub fn run(a: BenchArgs) -> anyhow::Result<ExitCode> {
    if !(1.0..=600.0).contains(&a.seconds) {
        return Err(super::BadInput(format!(
            "--seconds: {} is out of range: expected 1 ..= 600",
            a.seconds
        ))
        .into());
    }
    let mut arm6 = Scene::load(&a.scene)?;
    let isolate = |s: &mut Scene| {
        if let Some(i) = &a.isolation {
            for j in &mut s.joints {
                j.isolation = if i == "process" {
                    armhil::control::Isolation::Process
                } else {
                    armhil::control::Isolation::Thread
                };
            }
        }
    };
    isolate(&mut arm6);
    if a.round_trips > 0 {
        round_trips(&arm6, a.round_trips, &a.zenoh.options())?;
    }
    let mut rows: Vec<(String, Scene, usize)> = vec![("arm6".into(), arm6.clone(), 1)];
    for n in [6, 12, 24, 48] {
        let mut chain = generate::chain(n, a.seconds)?;
        isolate(&mut chain);
        rows.push((format!("chain{n}"), chain, 1));
    }
    for c in [1, 4, 16] {
        rows.push((format!("arm6x{c}"), arm6.clone(), c));
    }
    if let Some(only) = &a.only {
        let keep: Vec<&str> = only.split(',').map(str::trim).collect();
        rows.retain(|(n, _, _)| keep.contains(&n.as_str()));
    }
    println!(
        "armhil bench: {} simulated s per row, best of 3 runs, profile {}",
        a.seconds,
        if cfg!(debug_assertions) {
            "debug (use --release!)"
        } else {
            "release"
        }
    );
    println!(
        "{:<10} {:>6} {:>12} {:>12} {:>12} {:>10}",
        "model", "joints", "full RTF", "bare RTF", "µs/step", "full/bare"
    );
    for (name, scene, copies) in &rows {
        let joints = scene.joints.len() * copies;
        // Best of 3: the least-disturbed run is the machine's capability.
        let mut full: f64 = 0.0;
        let mut bare: f64 = 0.0;
        for _ in 0..3 {
            full = full.max(full_rtf(scene, *copies, a.seconds, &a.zenoh.options())?);
            bare = bare.max(bare_rtf(scene, *copies, a.seconds));
        }
        let us = 1e6 / (full * scene.physics.rate_hz);
        println!(
            "{name:<10} {joints:>6} {full:>11.1}× {bare:>11.1}× {us:>12.2} {:>10.2}",
            bare / full
        );
    }
    if a.realtime_seconds > 0.0 {
        let opts = RunOptions {
            executor: Executor::Realtime,
            duration_s: Some(a.realtime_seconds),
            rt_priority: a.rt_priority,
            ..RunOptions::default()
        };
        let r = runtime::run(&arm6, &opts, &mut |_, _| {})?;
        let l = r.step_lateness_us.unwrap_or(armhil::report::Lateness {
            p50: 0.0,
            p99: 0.0,
            p999: 0.0,
            max: 0.0,
        });
        let misses: u64 = r.joints.iter().map(|j| j.deadline_misses).sum();
        let faulted = r
            .joints
            .iter()
            .filter(|j| j.state != armhil::report::JointHealth::Ok)
            .count();
        println!(
            "realtime arm6 {:.0} s @ {:.0} Hz{}: lateness p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs; deadline misses {misses} (all joints), joints faulted {faulted}",
            a.realtime_seconds,
            arm6.physics.rate_hz,
            r.events
                .iter()
                .find(|e| e.kind == "rt_priority")
                .map(|e| format!(" ({})", e.detail))
                .unwrap_or_default(),
            l.p50,
            l.p99,
            l.p999,
            l.max
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct BenchBusArgs {
    /// sts or dxl.
    #[arg(long, value_parser = ["sts", "dxl"])]
    protocol: String,
    /// Number of servos on the bus (1..=32).
    #[arg(long, default_value_t = 6)]
    servos: u8,
    /// The control period each transaction must fit in, ms (1..=1000): replies must
    /// come within 90 % of it, or count as errors (timeouts).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    period_ms: u64,
    /// Measure an existing bus with servos 1..=N instead of armhil's virtual servos
    /// on a pty: a device path, tcp://HOST:PORT or rfc2217://HOST:PORT (e.g. ser2net
    /// in front of `armhil virtual-servo`).
    #[arg(long, value_name = "PORT")]
    port: Option<String>,
    /// Modelled line rate, bit/s.
    #[arg(long, default_value_t = 1_000_000)]
    baud: u32,
    /// Wall seconds to run (1..=600).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

/// Back-to-back bus transactions (one sync write of goals + one sync read of
/// position/speed/load for every servo) against `armhil`'s virtual servos on a pty.
pub fn run_bus(a: BenchBusArgs) -> anyhow::Result<ExitCode> {
    use armhil::hardware::bridge::{self, BusJoint, BusSpec, BusTick, Goals};
    use armhil::hardware::transport::port;
    use armhil::hardware::transport::pty::PtyTransport;
    use armhil::hardware::virtual_servo::{VirtualBus, serve, table::Protocol};
    use armhil::scene::BusProtocol;
    use armhil::sys::clock::WallClock;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    if !(1..=32).contains(&a.servos) || !(1.0..=600.0).contains(&a.seconds) {
        return Err(super::BadInput(
            "--servos: expected 1 ..= 32; --seconds: expected 1 ..= 600".into(),
        )
        .into());
    }
    let (proto, bus_proto) = if a.protocol == "dxl" {
        (Protocol::Dxl, BusProtocol::Dxl)
    } else {
        (Protocol::Sts, BusProtocol::Sts)
    };
    let ids: Vec<u8> = (1..=a.servos).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (path, server) = match &a.port {
        Some(p) => {
            armhil::hardware::spec::parse(p)
                .map_err(|e| super::BadInput(format!("--port: {e}")))?;
            (p.clone(), None)
        }
        None => {
            let mut pty = PtyTransport::open()?;
            let path = pty.slave_path().to_string();
            let stop2 = stop.clone();
            let ids2 = ids.clone();
            let baud = a.baud;
            let server = std::thread::spawn(move || {
                let mut bus = VirtualBus::new(proto, &ids2, baud);
                // The DXL default return delay is 500 µs; benches set it to 0, as users do.
                for s in &mut bus.servos {
                    let addr = match proto {
                        Protocol::Dxl => {
                            armhil::hardware::virtual_servo::table::dxl::RETURN_DELAY as usize
                        }
                        Protocol::Sts => {
                            armhil::hardware::virtual_servo::table::sts::RETURN_DELAY as usize
                        }
                    };
                    s.table.force(addr, &[0]);
                }
                let _ = serve(&mut bus, &mut pty, &stop2, &WallClock::new());
            });
            (path, Some(server))
        }
    };
    let spec = BusSpec {
        port: path.clone(),
        protocol: bus_proto,
        baud: a.baud,
        joints: ids
            .iter()
            .map(|&id| BusJoint {
                joint: id as usize,
                id,
                zero_tick: 2048,
            })
            .collect(),
        period: Duration::from_millis(a.period_ms),
        rt_priority: None,
    };
    let mut link = port::open(&path, a.baud)?;
    let clock = WallClock::new();
    let goals = Goals(vec![0.1; ids.len()]);
    let mut lat = Vec::new();
    let mut errors = 0u64;
    let mut kinds = std::collections::BTreeMap::new();
    let t0 = std::time::Instant::now();
    let mut n = 0u64;
    while t0.elapsed().as_secs_f64() < a.seconds {
        let BusTick {
            latency,
            samples,
            errors: e,
        } = bridge::transaction(&spec, &mut link, Some(&goals), &clock)?;
        lat.push(latency.as_secs_f64() * 1e6);
        errors += e.len() as u64 + (ids.len() - samples.len()) as u64;
        for (_, k) in &e {
            let name = format!("{k:?}");
            let name = name.split('(').next().unwrap_or("").to_string();
            *kinds.entry(name).or_insert(0u64) += 1;
        }
        n += 1;
    }
    let wall = t0.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(s) = server {
        let _ = s.join();
    }
    lat.sort_by(|x, y| x.total_cmp(y));
    let at = |q: f64| {
        lat.get(((lat.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let bytes = match bus_proto {
        BusProtocol::Sts => (6 + 2 + 3 * ids.len()) + (6 + 2 + ids.len()) + ids.len() * (6 + 6),
        BusProtocol::Dxl => (10 + 4 + 5 * ids.len()) + (10 + 4 + ids.len()) + ids.len() * (11 + 10),
    };
    println!(
        "bench-bus {} × {} at {} bit/s{}: {:.0} transactions/s over {:.1} s; latency p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs; {} errors{}; wire time per transaction {:.0} µs ({} bytes)",
        a.servos,
        a.protocol,
        a.baud,
        a.port
            .as_ref()
            .map(|p| format!(" via {p}"))
            .unwrap_or_default(),
        n as f64 / wall,
        wall,
        at(0.5),
        at(0.99),
        at(1.0),
        errors,
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" {kinds:?}")
        },
        bytes as f64 * 10.0 / a.baud as f64 * 1e6,
        bytes
    );
    Ok(ExitCode::SUCCESS)
}
