//! Joint services in their own processes (`isolation: Process`): the same results as
//! threads, bit for bit; an abort, a crash or a leak past the heap limit ends only
//! that joint's process, which is restarted under its policy while the other joints
//! run on; limits are applied to the process; garbage on the socket is the service's
//! death, never armhil's; and under `Thread` an abort takes the simulator down.

use std::path::PathBuf;
use std::sync::Arc;

use armhil::control::{Gains, Isolation, ProcessLimits};
use armhil::faults::{FaultKind, FaultSpec};
use armhil::report::{JointHealth, Report};
use armhil::runtime::command::ControlCommand;
use armhil::runtime::{self, Executor, Lockstep, RunOptions};
use armhil::scene::Scene;
use armhil::sys::clock::ManualClock;

use crate::common::*;

fn exe() -> Option<PathBuf> {
    Some(PathBuf::from(env!("CARGO_BIN_EXE_armhil")))
}

/// arm6 with `faults`, every joint's service in its own process when `process`.
fn arm6(faults: &str, process: bool) -> Scene {
    let mut s = arm6_with_faults(faults);
    if process {
        for j in &mut s.joints {
            j.isolation = Isolation::Process;
        }
    }
    s
}

fn lockstep(s: &Scene, duration_s: f64, schedule: Vec<(f64, ControlCommand)>) -> Report {
    let opts = RunOptions {
        duration_s: Some(duration_s),
        service_exe: exe(),
        schedule,
        ..RunOptions::default()
    };
    runtime::run(s, &opts, &mut |_, _| {}).expect("run")
}

/// Every joint but `except` ends OK, never missed a deadline, never restarted, and
/// has no event of its own.
fn untouched(r: &Report, except: &str) {
    for j in r.joints.iter().filter(|j| j.name != except) {
        assert_eq!(
            (j.state, j.deadline_misses, j.restarts),
            (JointHealth::Ok, 0, 0),
            "{}",
            j.name
        );
        assert!(
            !r.events.iter().any(|e| e.joint == j.name),
            "{}: {:#?}",
            j.name,
            r.events
        );
    }
}

#[test]
fn services_in_processes_compute_exactly_what_threads_do() {
    let _g = shared();
    // Every path of the wire: samples, a slow cycle (delayed reply), a one-shot hang
    // (silence, then a restart), a panic caught in the child, gains sent live.
    let faults = r#"(at: 0.3, until: 0.4, joint: "elbow_pitch", kind: Slow(ms: 3.0)),
        (at: 0.5, joint: "wrist_roll", kind: Hang),
        (at: 0.8, joint: "base_yaw", kind: Panic)"#;
    let gains = vec![(
        0.6,
        ControlCommand::Gains {
            joint: "shoulder_pitch".into(),
            gains: Gains {
                kp: 250.0,
                ki: 150.0,
                kd: 15.0,
            },
        },
    )];
    // Only the wall time differs.
    let run = |process: bool, gains: Vec<(f64, ControlCommand)>| {
        let mut r = lockstep(&arm6(faults, process), 1.5, gains);
        (r.wall_time_s, r.real_time_factor) = (0.0, 0.0);
        r
    };
    let thread = run(false, gains.clone());
    let process = run(true, gains);
    assert!(
        thread.events.iter().any(|e| e.kind == "restart"),
        "{:#?}",
        thread.events
    );
    assert_eq!(
        thread.to_json(),
        process.to_json(),
        "the same report to the byte"
    );
}

#[test]
fn a_crash_an_abort_or_a_leak_ends_only_that_joints_process() {
    let _g = shared();
    for (kind, signal) in [
        ("Crash", "SIGSEGV (signal 11)"),
        ("Abort", "SIGABRT (signal 6)"),
    ] {
        let mut s = arm6(
            &format!(r#"(at: 1.0, joint: "elbow_pitch", kind: {kind})"#),
            false,
        );
        s.joints[2].isolation = Isolation::Process;
        let r = lockstep(&s, 2.0, Vec::new());
        let died = events(&r, "elbow_pitch", "controller_panic");
        assert_eq!(died.len(), 1, "{kind}: {:#?}", r.events);
        assert_eq!(died[0].t, 1.0, "{kind}");
        assert_eq!(
            died[0].detail,
            format!("service process killed by {signal}"),
            "{kind}"
        );
        // Restarted after the policy's 20 ms, a fresh process, on its trajectory.
        let restart = events(&r, "elbow_pitch", "restart");
        assert_eq!(restart.len(), 1, "{kind}");
        assert!(
            (restart[0].t - 1.02).abs() < 1e-9,
            "{kind}: {}",
            restart[0].t
        );
        let e = joint(&r, "elbow_pitch");
        assert_eq!((e.state, e.restarts), (JointHealth::Ok, 1), "{kind}");
        assert!(e.rms_error_rad < 0.01, "{kind}: {}", e.rms_error_rad);
        untouched(&r, "elbow_pitch");
    }
}

#[test]
fn a_leak_ends_its_process_at_the_heap_limit_and_again_after_each_restart() {
    let _g = shared();
    let mut s = arm6(
        r#"(at: 1.0, until: 2.0, joint: "elbow_pitch", kind: Leak(mb_per_s: 200.0))"#,
        false,
    );
    s.joints[2].isolation = Isolation::Process;
    s.joints[2].process = ProcessLimits {
        memory_mb: 64,
        ..ProcessLimits::default()
    };
    let r = lockstep(&s, 2.5, Vec::new());
    let died = events(&r, "elbow_pitch", "controller_panic");
    // 64 MiB at 200 MB/s of simulated time: 0.336 s, less what the process had on its
    // heap before (a few MiB at most).
    let full = 64.0 * 1024.0 * 1024.0 / 200e6;
    let after: Vec<f64> = died.iter().map(|e| e.t).collect();
    assert!(after.len() >= 2, "{:#?}", r.events);
    let first = after[0] - 1.0;
    assert!(
        first <= full && first > full - 0.02,
        "died {first} s after onset"
    );
    assert!(
        died[0]
            .detail
            .starts_with("service process killed by SIGABRT (signal 6): memory allocation of"),
        "{}",
        died[0].detail
    );
    // Each restarted process leaks again from nothing: the same time to its end.
    let restart = events(&r, "elbow_pitch", "restart");
    let second = after[1] - restart[0].t;
    assert!((second - first).abs() < 0.005, "{second} vs {first}");
    // After the window the last restart holds.
    assert_eq!(joint(&r, "elbow_pitch").state, JointHealth::Ok);
    untouched(&r, "elbow_pitch");
}

#[test]
fn under_thread_isolation_an_abort_takes_the_whole_simulator_down() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tmp");
    let scene = scenario(
        dir.path(),
        "abort",
        "scenes/arm6.ron",
        r#"    duration_s: 2.0,
    faults: [(at: 1.0, joint: "elbow_pitch", kind: Abort)],"#,
    );
    let report = dir.path().join("report.json");
    let out = armhil()
        .arg("run")
        .arg(&scene)
        .arg("--headless")
        .arg("--report")
        .arg(&report)
        .output()
        .expect("armhil");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{out:?}");
    // `--report` is checked writable (created empty) before the run; nothing more.
    let written = std::fs::metadata(&report).map(|m| m.len()).unwrap_or(0);
    assert_eq!(written, 0, "no report: the run died with its thread");
}

#[test]
fn a_process_gets_its_limits_and_is_gone_with_the_run() {
    let _g = shared();
    let mut s = arm6("", false);
    s.joints[2].isolation = Isolation::Process;
    s.joints[2].process = ProcessLimits {
        memory_mb: 48,
        cpus: vec![0],
        nice: 3,
        program: None,
    };
    let opts = RunOptions {
        service_exe: exe(),
        ..RunOptions::default()
    };
    let mut sim = Lockstep::new(&s, &opts).expect("lockstep");
    for _ in 0..10 {
        assert!(sim.step().expect("step"));
    }
    let services = sim.services();
    assert_eq!(services[0], "thread");
    let pid: u32 = services[2]
        .strip_prefix("process ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{services:?}"));
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let status = std::fs::read_to_string(proc.join("status")).expect("status");
    assert!(status.contains("Cpus_allowed_list:\t0\n"), "{status}");
    let stat = std::fs::read_to_string(proc.join("stat")).expect("stat");
    // Field 19 is the nice value (fields counted after the command's closing paren).
    let nice = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.split(' ').nth(16))
        .expect("nice");
    assert_eq!(nice, "3", "{stat}");
    let limits = std::fs::read_to_string(proc.join("limits")).expect("limits");
    let data = limits
        .lines()
        .find(|l| l.starts_with("Max data size"))
        .expect("data limit");
    assert!(data.contains(&(48u64 << 20).to_string()), "{data}");
    let cmdline = std::fs::read_to_string(proc.join("cmdline")).expect("cmdline");
    assert!(cmdline.contains("joint-service"), "{cmdline}");
    let r = sim.finish(&s);
    assert!(r.passed || r.joints.iter().all(|j| j.state == JointHealth::Ok));
    assert!(!proc.exists(), "the service process outlived its run");
}

#[test]
fn garbage_on_the_socket_is_that_services_death_not_armhils() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tmp");
    // A "service" that answers its hello with a frame of a length armhil refuses,
    // then one that answers with an unknown tag, then one that exits at once.
    let cases = [
        (
            r"printf '\377\377\377\177junk' >&3; sleep 5",
            "frame of 2147483647 bytes",
        ),
        (
            r"printf '\002\000\000\000\143\000' >&3; sleep 5",
            "frame tag 99",
        ),
        ("exit 7", "exited with status 7"),
    ];
    for (i, (body, says)) in cases.iter().enumerate() {
        let script = dir.path().join(format!("svc{i}.sh"));
        std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut s = arm6("", false);
        s.joints[2].isolation = Isolation::Process;
        s.joints[2].supervision.max_restarts = 1;
        let opts = RunOptions {
            duration_s: Some(0.5),
            service_exe: Some(script),
            ..RunOptions::default()
        };
        let r = runtime::run(&s, &opts, &mut |_, _| {}).expect("the run goes on");
        let died = events(&r, "elbow_pitch", "controller_panic");
        assert!(!died.is_empty(), "{says}: {:#?}", r.events);
        assert!(
            died[0].detail.starts_with("service process did not start")
                && died[0].detail.contains(says),
            "{says}: {}",
            died[0].detail
        );
        // Restarts fail the same way; the budget ends it: FAULTED, held safe.
        assert_eq!(joint(&r, "elbow_pitch").state, JointHealth::Faulted);
        untouched(&r, "elbow_pitch");
    }
}

#[test]
fn in_real_time_on_a_manual_clock_process_services_are_exact_too() {
    let _g = shared();
    let run = |s: &Scene| {
        let opts = RunOptions {
            executor: Executor::Realtime,
            duration_s: Some(1.0),
            clock: Some(Arc::new(ManualClock::new())),
            service_exe: exe(),
            ..RunOptions::default()
        };
        runtime::run(s, &opts, &mut |_, _| {}).expect("run")
    };
    // A real hang (the child says it hung, then spins until killed) and a slow cycle
    // slept on the run's clock: the same deadlines missed as with threads.
    let faults = r#"(at: 0.5, joint: "wrist_roll", kind: Hang),
        (at: 0.5, until: 0.6, joint: "elbow_pitch", kind: Slow(ms: 3.0))"#;
    let thread = run(&arm6(faults, false));
    let process = run(&arm6(faults, true));
    assert_eq!(joint(&thread, "wrist_roll").restarts, 1);
    assert!(joint(&thread, "elbow_pitch").deadline_misses > 0);
    assert_eq!(thread.to_json(), process.to_json());
    // A crash at its sample of 0.700, its death collected at the next step (as a
    // thread's panic is), restarted 20 ms later; nobody else noticed.
    let mut s = arm6(r#"(at: 0.7, joint: "base_yaw", kind: Crash)"#, false);
    s.joints[0].isolation = Isolation::Process;
    let r = run(&s);
    let died = events(&r, "base_yaw", "controller_panic");
    assert_eq!(died.len(), 1, "{:#?}", r.events);
    assert!((died[0].t - 0.701).abs() < 1e-9, "{}", died[0].t);
    assert_eq!(
        died[0].detail,
        "service process killed by SIGSEGV (signal 11)"
    );
    let restart = events(&r, "base_yaw", "restart");
    assert!((restart[0].t - 0.721).abs() < 1e-9, "{}", restart[0].t);
    assert_eq!(joint(&r, "base_yaw").restarts, 1);
    untouched(&r, "base_yaw");
}

#[test]
fn a_scene_names_isolation_and_limits_and_bad_limits_are_refused() {
    let ok = parse(&pendulum(
        0.0,
        r#"(servo: "s", rate_hz: 500, controller: Pid(kp: 60.0), isolation: Process,
            process: (memory_mb: 128, cpus: [0], nice: 5))"#,
        "",
    ))
    .expect("scene");
    assert_eq!(ok.joints[0].isolation, Isolation::Process);
    assert_eq!(
        ok.joints[0].process,
        ProcessLimits {
            memory_mb: 128,
            cpus: vec![0],
            nice: 5,
            program: None,
        }
    );
    let bad = parse(&pendulum(
        0.0,
        r#"(servo: "s", rate_hz: 500, controller: Pid(kp: 60.0), isolation: Process,
            process: (memory_mb: 8, cpus: [4096], nice: 30))"#,
        "",
    ))
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    for want in [
        "drives[\"pitch\"].process.memory_mb: 8 is out of range: expected 16 ..= 65536 MB",
        "drives[\"pitch\"].process.cpus[0]: CPU 4096 does not exist",
        "drives[\"pitch\"].process.nice: 30 is out of range: expected -20 ..= 19",
    ] {
        assert!(bad.contains(want), "{want}\nin\n{bad}");
    }
    let thread = parse(&pendulum(
        0.0,
        r#"(servo: "s", rate_hz: 500, controller: Pid(kp: 60.0), process: (memory_mb: 64))"#,
        "",
    ))
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        thread.contains("drives[\"pitch\"].process: limits apply only to a service in its own process: set isolation: Process"),
        "{thread}"
    );
    let f = armhil::faults::parse_cli_fault("elbow:leak(50)@1..2").expect("cli");
    assert_eq!(
        f,
        FaultSpec {
            at: 1.0,
            until: Some(2.0),
            joint: "elbow".into(),
            kind: FaultKind::Leak { mb_per_s: 50.0 }
        }
    );
}

#[test]
fn fuzz_faults_draws_aborts_and_crashes_on_service_processes_and_contains_them() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tmp");
    let drives: Vec<String> = ARM6_JOINTS
        .iter()
        .map(|j| format!("{j:?}: (isolation: Process)"))
        .collect();
    let scene = scenario(
        dir.path(),
        "procs",
        "scenes/arm6.ron",
        &format!("    drives: {{ {} }},", drives.join(", ")),
    );
    let out = armhil()
        .args(["fuzz-faults", "--seeds", "1..30", "--duration", "3"])
        .arg(&scene)
        .output()
        .expect("armhil");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("0 seeds with violations, 0 violations"),
        "{text}"
    );
    for kind in ["abort", "crash"] {
        let row = text
            .lines()
            .find(|l| l.starts_with(kind))
            .unwrap_or_else(|| panic!("no {kind} row:\n{text}"));
        let n: u32 = row
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("count");
        assert!(n > 0, "{row}");
    }
}

#[test]
fn a_service_program_in_python_speaks_the_wire_and_gives_the_same_report() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tmp");
    let program = root().join("examples/process_service.py");
    let with = |program: Option<&std::path::Path>| {
        let drive = match program {
            Some(p) => format!(
                r#"    drives: {{ "elbow_pitch": (isolation: Process, process: (program: {:?})) }},"#,
                p.display().to_string()
            ),
            None => String::new(),
        };
        let path = scenario(
            dir.path(),
            if program.is_some() { "py" } else { "rust" },
            "scenes/arm6.ron",
            &format!("    duration_s: 2.0,\n{drive}"),
        );
        let s = Scene::load(&path).expect("scene");
        let gains = vec![(
            1.0,
            ControlCommand::Gains {
                joint: "elbow_pitch".into(),
                gains: Gains {
                    kp: 120.0,
                    ki: 80.0,
                    kd: 6.0,
                },
            },
        )];
        let mut r = lockstep(&s, 2.0, gains);
        (r.wall_time_s, r.real_time_factor) = (0.0, 0.0);
        (r.scene_file, r.scene) = (String::new(), String::new());
        r
    };
    let python = with(Some(&program));
    let rust = with(None);
    assert!(python.passed, "{}", python.table());
    // The reference program computes armhil's PID in the same f64 operations.
    assert_eq!(python.to_json(), rust.to_json());
}
