//! External controllers over Zenoh, tested with a client no one here wrote the
//! transport of: Python's official `eclipse-zenoh` (from PyPI) running
//! `examples/zenoh_pid.py`. The same numbers as armhil's own PID in lockstep; a
//! service that goes away is known at once (its liveliness token), its joint waits
//! in its safe state while the others run on, and takes it back when it returns.

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
    run_bounded(s, port, RunOptions::default().hang_timeout)
}

/// A lockstep run whose wait for a service is bounded by half `hang_timeout`.
fn run_bounded(s: &Scene, port: u16, hang_timeout: std::time::Duration) -> Report {
    let opts = RunOptions {
        zenoh: ZenohOptions {
            listen: vec![format!("tcp/127.0.0.1:{port}")],
            ..ZenohOptions::default()
        },
        hang_timeout,
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

/// Joint `name`'s health changes: (t, detail).
fn states<'a>(r: &'a Report, name: &str) -> Vec<(f64, &'a str)> {
    r.events
        .iter()
        .filter(|e| e.joint == name && e.kind == "state")
        .map(|e| (e.t, e.detail.as_str()))
        .collect()
}

#[test]
fn a_service_that_goes_away_is_known_at_once_and_only_its_joint_waits_for_it() {
    let _g = shared();
    let port = free_port();
    // The client leaves after answering 300 samples (elbow at 500 Hz: 0.6 s).
    let _client = client(port, &["--exit-after", "300"]);
    // Each probe for it waits 0.2 s (wall): half this hang timeout.
    let r = run_bounded(
        &external_elbow(1.5),
        port,
        std::time::Duration::from_millis(400),
    );
    let away: Vec<_> = r
        .events
        .iter()
        .filter(|e| e.joint == "elbow_pitch" && e.kind == "service_away")
        .collect();
    // Its 301st sample (t = 0.600 s) finds it gone.
    assert_eq!(away.len(), 1, "{:#?}", r.events);
    assert!((away[0].t - 0.6).abs() < 1e-9, "{:#?}", away[0]);
    assert!(
        away[0]
            .detail
            .starts_with("external service armhil/arm6/elbow_pitch went away"),
        "{}",
        away[0].detail
    );
    // It does not come back: the joint holds (its safe state), OFFLINE, with no
    // restart spent on the wait; the run goes on to its end, and nobody else noticed.
    let s = states(&r, "elbow_pitch");
    assert_eq!(s.len(), 1, "{s:?}");
    assert!(
        s[0].1.starts_with("OK -> OFFLINE (holding ")
            && s[0]
                .1
                .ends_with("; waiting for the external service to return)"),
        "{s:?}"
    );
    assert_eq!(r.aborted, None);
    assert_eq!(r.sim_time_s, 1.5);
    let e = joint(&r, "elbow_pitch");
    assert_eq!(
        (e.state, e.restarts),
        (JointHealth::Offline, 0),
        "{:#?}",
        r.events
    );
    others_kept_their_deadlines(&r, "elbow_pitch");
}

#[test]
fn a_service_that_comes_back_retakes_its_joint_at_the_same_simulated_time_every_run() {
    let _g = shared();
    let returning = || {
        let port = free_port();
        // It drops its token after 300 samples (t = 0.6 s) and holds it again 50 ms
        // (wall) later: within the first probe's wait (1 s, half the hang timeout).
        let _client = client(port, &["--exit-after", "300", "--back-after", "0.05"]);
        run(&external_elbow(1.5), port)
    };
    let r = returning();
    let s = states(&r, "elbow_pitch");
    let at: Vec<f64> = s.iter().map(|x| (x.0 * 1e6).round() / 1e6).collect();
    let what: Vec<&str> = s
        .iter()
        .map(|x| x.1.split(" (").next().unwrap_or(""))
        .collect();
    // Away at 0.600 s; the first probe, a restart delay (20 ms) later, finds it back;
    // its first answer comes with the first sample of the fresh link.
    assert_eq!(
        (at, what),
        (
            vec![0.6, 0.62, 0.62],
            vec!["OK -> OFFLINE", "OFFLINE -> RESTARTING", "RESTARTING -> OK"]
        ),
        "{s:?}"
    );
    assert_eq!(s[1].1, "OFFLINE -> RESTARTING (external service returned)");
    let e = joint(&r, "elbow_pitch");
    // One restart counted, none of the budget spent (no FAULTED however often it
    // comes and goes); walked back onto its trajectory, it tracks again.
    assert_eq!(
        (e.state, e.restarts),
        (JointHealth::Ok, 1),
        "{:#?}",
        r.events
    );
    assert!(e.rms_error_rad < 0.02, "{}", e.rms_error_rad);
    others_kept_their_deadlines(&r, "elbow_pitch");
    // Deterministic: a second run (a new client) gives the same report (its scene
    // written to another temporary directory).
    let mut again = returning();
    again.scene_file = r.scene_file.clone();
    assert_eq!(
        serde_json::to_string(&again).ok(),
        serde_json::to_string(&r).ok()
    );
}

/// A real-time run on a manual clock (time moves when every service has answered).
fn realtime(s: &Scene, port: u16) -> Report {
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
}

#[test]
fn in_real_time_a_service_that_comes_back_retakes_its_joint() {
    // Alone: the manual clock runs as fast as the machine can, a load the timing of
    // the pty tests must not share.
    let _g = exclusive();
    let port = free_port();
    let _client = client(port, &["--exit-after", "300", "--back-after", "0.05"]);
    // Long enough (simulated) that the client is back well before the end: while its
    // joint is away nothing waits for it, and the manual clock runs ahead (here it
    // came back about 0.35 s of simulated time later).
    let r = realtime(&external_elbow(5.0), port);
    let s = states(&r, "elbow_pitch");
    let what: Vec<&str> = s
        .iter()
        .map(|x| x.1.split(" (").next().unwrap_or(""))
        .collect();
    assert_eq!(
        what,
        vec!["OK -> OFFLINE", "OFFLINE -> RESTARTING", "RESTARTING -> OK"],
        "{s:?}"
    );
    // Gone at its 301st sample (0.600 s), seen at the next step, exactly; back at the
    // first step its token is seen again, which wall time decides.
    assert!((s[0].0 - 0.601).abs() < 1e-9, "{s:?}");
    assert!(s[1].0 > 0.62 && s[2].0 >= s[1].0, "{s:?}");
    let e = joint(&r, "elbow_pitch");
    assert_eq!(
        (e.state, e.restarts),
        (JointHealth::Ok, 1),
        "{:#?}",
        r.events
    );
    others_kept_their_deadlines(&r, "elbow_pitch");
}

#[test]
fn in_real_time_on_a_manual_clock_the_external_service_is_exact_too() {
    let _g = shared();
    let port = free_port();
    let _client = client(port, &[]);
    let rt = realtime;
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

/// `armhil test` over scenes with an external controller: they run one after
/// another on one Zenoh session (where `--zenoh-listen` says), not side by side on
/// the same keys and port; the rest still run in parallel.
#[test]
fn a_suite_runs_external_scenes_one_at_a_time_on_one_session() {
    let _g = shared();
    let port = free_port();
    let _client = client(port, &[]);
    let dir = tempfile::tempdir().expect("tmp");
    let scenes = dir.path().join("scenes");
    std::fs::create_dir_all(&scenes).expect("mkdir");
    let drive = "    duration_s: 1.5,\n    drives: { \"elbow_pitch\": (controller: External(key: \"armhil/arm6/elbow_pitch\")) },";
    scenario(&scenes, "ext_a", "scenes/arm6.ron", drive);
    scenario(&scenes, "ext_b", "scenes/arm6.ron", drive);
    scenario(&scenes, "own", "scenes/arm6.ron", "    duration_s: 1.5,");
    let reports = dir.path().join("reports");
    let out = armhil()
        .arg("test")
        .arg(&scenes)
        .args([
            "--jobs",
            "2",
            "--zenoh-listen",
            &format!("tcp/127.0.0.1:{port}"),
        ])
        .arg("--reports")
        .arg(&reports)
        .output()
        .expect("armhil test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = |name: &str| -> Report {
        let text = std::fs::read_to_string(reports.join(format!("{name}.json")))
            .unwrap_or_else(|e| panic!("{name}: {e}: {:?}", std::fs::read_dir(&reports)));
        serde_json::from_str(&text).expect("json")
    };
    let (a, b) = (report("ext_a"), report("ext_b"));
    // The same service answered both runs in turn: the same figures to the bit.
    let figures = |r: &Report| {
        r.joints
            .iter()
            .map(|j| (j.rms_error_rad, j.max_error_rad, j.peak_torque_nm, j.state))
            .collect::<Vec<_>>()
    };
    assert_eq!(figures(&a), figures(&b));
    assert_eq!(joint(&a, "elbow_pitch").controller, "external");
    assert_eq!(joint(&report("own"), "elbow_pitch").controller, "pid");
}
