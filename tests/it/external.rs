//! External controllers over Zenoh, tested with a client no one here wrote the
//! transport of: Python's official `eclipse-zenoh` (from PyPI) running
//! `examples/zenoh_pid.py`. The same numbers as armhil's own PID in lockstep; a
//! service that goes away is known at once (its liveliness token), and its joint
//! goes to its safe state while the others run on.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use armhil::report::{JointHealth, Report};
use armhil::runtime::external::ZenohOptions;
use armhil::runtime::{self, RunOptions};
use armhil::scene::Scene;

use crate::common::*;

fn zenoh_python() -> PathBuf {
    python_packages("pyzenoh", "zenoh", &["eclipse-zenoh==1.10.2"])
}

/// A free TCP port on loopback (for this test's Zenoh listener).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Client(Child);

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The reference client for arm6's elbow with the scene's own gains.
fn client(port: u16, extra: &[&str]) -> Client {
    let child = Command::new("python3")
        .arg(root().join("examples/zenoh_pid.py"))
        .args(["--key", "armhil/arm6/elbow_pitch"])
        .args(["--connect", &format!("tcp/127.0.0.1:{port}")])
        .args([
            "--kp",
            "150",
            "--ki",
            "100",
            "--kd",
            "8",
            "--ff",
            "0.3",
            "--gravity",
        ])
        .args(extra)
        .env("PYTHONPATH", zenoh_python())
        .stdout(Stdio::null())
        .spawn()
        .expect("python3");
    Client(child)
}

fn external_elbow(duration: f64) -> Scene {
    let dir = tempfile::tempdir().expect("tmp");
    let path = scenario(
        dir.path(),
        "external",
        "scenes/arm6.ron",
        &format!(
            "    duration_s: {duration},\n    drives: {{ \"elbow_pitch\": (controller: External(key: \"armhil/arm6/elbow_pitch\")) }},"
        ),
    );
    Scene::load(&path).expect("scene")
}

fn run(s: &Scene, port: u16) -> Report {
    let opts = RunOptions {
        zenoh: ZenohOptions {
            listen: vec![format!("tcp/127.0.0.1:{port}")],
            ..ZenohOptions::default()
        },
        ..RunOptions::default()
    };
    let mut r = runtime::run(s, &opts, &mut |_, _| {}).expect("run");
    (r.wall_time_s, r.real_time_factor) = (0.0, 0.0);
    r
}

#[test]
fn a_python_pid_over_zenoh_drives_the_elbow_exactly_as_armhils_own() {
    let _g = shared();
    let port = free_port();
    let _client = client(port, &[]);
    let external = run(&external_elbow(2.0), port);
    assert!(external.passed, "{}", external.table());
    let own = {
        let mut s = external_elbow(2.0);
        s.joints[2].controller = scene("scenes/arm6.ron").joints[2].controller.clone();
        run(&s, free_port())
    };
    assert_eq!(joint(&external, "elbow_pitch").controller, "external");
    // The reference client computes armhil's PID in the same f64 operations: every
    // joint's figures are the same to the bit.
    for (a, b) in external.joints.iter().zip(&own.joints) {
        assert_eq!(
            (a.rms_error_rad, a.max_error_rad, a.peak_torque_nm),
            (b.rms_error_rad, b.max_error_rad, b.peak_torque_nm),
            "{}",
            a.name
        );
    }
    assert!(joint(&external, "elbow_pitch").rms_error_rad < 0.01);
}

#[test]
fn a_service_that_goes_away_is_known_at_once_and_only_its_joint_stops() {
    let _g = shared();
    let port = free_port();
    // The client leaves after answering 300 samples (elbow at 500 Hz: 0.6 s).
    let _client = client(port, &["--exit-after", "300"]);
    let r = run(&external_elbow(1.5), port);
    let died: Vec<_> = r
        .events
        .iter()
        .filter(|e| e.joint == "elbow_pitch" && e.kind == "controller_panic")
        .collect();
    assert!(!died.is_empty(), "{:#?}", r.events);
    // Its 301st sample (t = 0.600 s) finds it gone.
    assert!((died[0].t - 0.6).abs() < 1e-9, "{:#?}", died[0]);
    assert!(
        died[0]
            .detail
            .starts_with("external service armhil/arm6/elbow_pitch"),
        "{}",
        died[0].detail
    );
    // It does not come back: each restart waits for it (half the hang timeout, wall
    // time) in vain until the budget is spent; the joint holds (its safe state), the
    // run goes on to its end, and nobody else noticed.
    assert_eq!(r.aborted, None);
    assert_eq!(r.sim_time_s, 1.5);
    let e = joint(&r, "elbow_pitch");
    assert_eq!(
        (e.state, e.restarts),
        (JointHealth::Faulted, 3),
        "{:#?}",
        r.events
    );
    for j in r.joints.iter().filter(|j| j.name != "elbow_pitch") {
        assert_eq!(
            (j.state, j.deadline_misses),
            (JointHealth::Ok, 0),
            "{}",
            j.name
        );
    }
}

#[test]
fn in_real_time_on_a_manual_clock_the_external_service_is_exact_too() {
    let _g = shared();
    let port = free_port();
    let _client = client(port, &[]);
    let rt = |s: &Scene, port: u16| {
        let opts = RunOptions {
            executor: runtime::Executor::Realtime,
            clock: Some(std::sync::Arc::new(armhil::sys::clock::ManualClock::new())),
            zenoh: ZenohOptions {
                listen: vec![format!("tcp/127.0.0.1:{port}")],
                ..ZenohOptions::default()
            },
            ..RunOptions::default()
        };
        runtime::run(s, &opts, &mut |_, _| {}).expect("run")
    };
    let external = rt(&external_elbow(1.0), port);
    let mut s = external_elbow(1.0);
    s.joints[2].controller = scene("scenes/arm6.ron").joints[2].controller.clone();
    let own = rt(&s, free_port());
    for (a, b) in external.joints.iter().zip(&own.joints) {
        assert_eq!(
            (a.rms_error_rad, a.deadline_misses, a.state),
            (b.rms_error_rad, b.deadline_misses, b.state),
            "{}",
            a.name
        );
    }
    assert_eq!(joint(&external, "elbow_pitch").deadline_misses, 0);
}

#[test]
fn malformed_and_out_of_sequence_replies_are_counted_and_degrade_only_while_they_come() {
    let _g = shared();
    let port = free_port();
    // The first 50 answers (0.1 s at 500 Hz) each come after a malformed command and
    // one for another sample.
    let _client = client(port, &["--garble", "50"]);
    let r = run(&external_elbow(1.0), port);
    let e = joint(&r, "elbow_pitch");
    assert_eq!(e.garbled_replies, 100, "{:#?}", r.events);
    let states: Vec<(f64, &str)> = r
        .events
        .iter()
        .filter(|ev| ev.joint == "elbow_pitch" && ev.kind == "state")
        .map(|ev| (ev.t, ev.detail.as_str()))
        .collect();
    assert_eq!(
        states.first().map(|s| s.1),
        Some("OK -> DEGRADED (garbled replies)"),
        "{states:?}"
    );
    assert!(
        states
            .last()
            .is_some_and(|s| s.1.ends_with("-> OK (conditions cleared)")),
        "{states:?}"
    );
    // The ignored payloads never moved the joint: it tracked as well as ever.
    assert_eq!(e.state, JointHealth::Ok);
    assert!(e.rms_error_rad < 0.01, "{}", e.rms_error_rad);
    assert!(r.passed || r.expectations.is_empty());
}
