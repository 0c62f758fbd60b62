//! Joint services and executors: determinism, panic isolation, hang handling, and the
//! real-time executor.

use std::time::{Duration, Instant};

use crate::common::*;
use armhil::report::JointHealth;
use armhil::runtime::{self, Executor, RunOptions};

#[test]
fn same_scene_and_seed_give_identical_reports() {
    let _g = shared();
    let text = std::fs::read_to_string(root().join("scenes/sts3215_arm.ron")).expect("read");
    // Encoder noise makes the seed matter.
    let text = text.replacen("hold_kd: 0.0,", "hold_kd: 0.0, noise_ticks: 1.0,", 1);
    let s = parse(&text).expect("scene");
    let opts = RunOptions {
        duration_s: Some(3.0),
        ..RunOptions::default()
    };
    let a = runtime::run(&s, &opts, &mut |_, _| {}).expect("run a");
    let b = runtime::run(&s, &opts, &mut |_, _| {}).expect("run b");
    assert_eq!(a.deterministic_json(), b.deterministic_json());
    let mut s2 = s.clone();
    s2.seed += 1;
    let c = runtime::run(&s2, &opts, &mut |_, _| {}).expect("run c");
    assert_ne!(
        a.joints.iter().map(|j| j.rms_error_rad).collect::<Vec<_>>(),
        c.joints.iter().map(|j| j.rms_error_rad).collect::<Vec<_>>(),
        "a different seed must change the noisy run"
    );
}

#[test]
fn a_panicking_controller_is_restarted_and_only_its_joint_notices() {
    let _g = shared();
    let s = arm6_with_faults(r#"(at: 1.0, joint: "elbow_pitch", kind: Panic)"#);
    let r = runtime::run(&s, &RunOptions::default(), &mut |_, _| {}).expect("run");
    let ev = r
        .events
        .iter()
        .find(|e| e.kind == "controller_panic")
        .expect("panic event");
    assert_eq!(ev.joint, "elbow_pitch");
    assert!(
        ev.t >= 1.0 && ev.t <= 1.0 + 0.002 + 1e-9,
        "reported at {}",
        ev.t
    );
    assert!(
        ev.detail.contains("injected controller panic"),
        "{}",
        ev.detail
    );
    let states: Vec<JointHealth> = armhil::expect::state_changes(&r, "elbow_pitch")
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(
        states,
        [JointHealth::Restarting, JointHealth::Ok],
        "held while restarting, then OK: {:#?}",
        r.events
    );
    let elbow = joint(&r, "elbow_pitch");
    assert_eq!((elbow.state, elbow.restarts), (JointHealth::Ok, 1));
    assert!(r.passed, "{}", r.table());
    for j in r.joints.iter().filter(|j| j.name != "elbow_pitch") {
        assert_eq!(j.restarts, 0, "{}", j.name);
        assert!(
            j.rms_error_rad <= 0.02,
            "{} rms {}",
            j.name,
            j.rms_error_rad
        );
    }
}

#[test]
fn a_persistent_panic_exhausts_the_restart_budget_and_latches_faulted() {
    let _g = shared();
    // Panics on every tick until 3.0: each restart (20, 40, 80 ms of backoff) fails
    // again; the default budget is 3 restarts within 10 s.
    let s = arm6_with_faults(r#"(at: 1.0, until: 3.0, joint: "elbow_pitch", kind: Panic)"#);
    let r = runtime::run(&s, &RunOptions::default(), &mut |_, _| {}).expect("run");
    let elbow = joint(&r, "elbow_pitch");
    assert_eq!((elbow.state, elbow.restarts), (JointHealth::Faulted, 3));
    assert!(
        !r.passed,
        "a latched joint fails a run without expectations"
    );
    let restarts: Vec<f64> = r
        .events
        .iter()
        .filter(|e| e.joint == "elbow_pitch" && e.kind == "restart")
        .map(|e| e.t)
        .collect();
    let panics: Vec<f64> = r
        .events
        .iter()
        .filter(|e| e.joint == "elbow_pitch" && e.kind == "controller_panic")
        .map(|e| e.t)
        .collect();
    assert_eq!(panics.len(), 4, "{:#?}", r.events);
    for (k, (p, s)) in panics.iter().zip(&restarts).enumerate() {
        let backoff = 0.02 * 2f64.powi(k as i32);
        assert!(
            (s - p - backoff).abs() < 1e-6,
            "restart {k}: {s} after a panic at {p}, expected {backoff} s of backoff"
        );
    }
    let latched = r
        .events
        .iter()
        .find(|e| e.joint == "elbow_pitch" && e.state == Some(JointHealth::Faulted))
        .expect("latched");
    assert!(latched.detail.contains("holding"), "{}", latched.detail);
    assert!(
        r.events
            .iter()
            .any(|e| e.detail.contains("restart budget exhausted")),
        "{:#?}",
        r.events
    );
    for j in r.joints.iter().filter(|j| j.name != "elbow_pitch") {
        assert_eq!(j.state, JointHealth::Ok, "{}", j.name);
    }
}

#[test]
fn limp_safe_state_lets_the_joint_go() {
    let _g = shared();
    // flange_roll is configured Limp; its sine keeps going, the joint does not follow.
    let s = arm6_with_faults(r#"(at: 2.0, until: 9.0, joint: "flange_roll", kind: Panic)"#);
    let r = runtime::run(&s, &RunOptions::default(), &mut |_, _| {}).expect("run");
    let f = joint(&r, "flange_roll");
    assert_eq!(f.state, JointHealth::Faulted);
    assert!(
        f.max_error_rad > 0.5,
        "a limp joint cannot follow its sine: {}",
        f.max_error_rad
    );
    assert!(
        r.events
            .iter()
            .any(|e| e.joint == "flange_roll" && e.detail.contains("limp"))
    );
}

#[test]
fn a_hung_controller_in_lockstep_is_detected_on_simulated_time_and_restarted() {
    let _g = shared();
    // wrist_pitch runs at 1 kHz: silent for 3 periods = hung, on simulated time,
    // whatever the machine does. The run is not aborted and is reproducible.
    let s = arm6_with_faults(r#"(at: 1.5, joint: "wrist_pitch", kind: Hang)"#);
    let r = runtime::run(&s, &RunOptions::default(), &mut |_, _| {}).expect("run");
    assert!(r.aborted.is_none());
    let hang = r
        .events
        .iter()
        .find(|e| e.kind == "controller_hang")
        .expect("hang event");
    assert_eq!(hang.joint, "wrist_pitch");
    assert!((hang.t - 1.503).abs() < 1e-9, "declared at {}", hang.t);
    let f = &r.faults[0];
    let periods = f.detection_latency_periods.expect("detected");
    assert!(
        (periods - 1.0).abs() < 1e-9,
        "the first missed deadline: {periods}"
    );
    let w = joint(&r, "wrist_pitch");
    assert_eq!((w.state, w.restarts), (JointHealth::Ok, 1));
    assert!(w.deadline_misses >= 3);
    let again = runtime::run(&s, &RunOptions::default(), &mut |_, _| {}).expect("run");
    assert_eq!(r.deterministic_json(), again.deterministic_json());
}

#[test]
fn a_really_hung_controller_in_lockstep_ends_the_run_naming_the_joint() {
    let _g = shared();
    let s = arm6_with_faults(r#"(at: 1.5, joint: "wrist_pitch", kind: Hang)"#);
    let opts = RunOptions {
        hang_timeout: Duration::from_millis(500),
        lockstep_faults: runtime::FaultMode::Real,
        ..RunOptions::default()
    };
    let t0 = Instant::now();
    let r = runtime::run(&s, &opts, &mut |_, _| {}).expect("run");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t0.elapsed()
    );
    let why = r.aborted.as_deref().expect("aborted");
    assert!(why.contains("wrist_pitch") && why.contains("hung"), "{why}");
    assert!(!r.passed);
    assert_eq!(joint(&r, "wrist_pitch").state, JointHealth::Faulted);
    assert!(
        (r.sim_time_s - 1.5).abs() < 0.01,
        "stopped at {}",
        r.sim_time_s
    );
}

#[test]
fn realtime_executor_tracks_and_keeps_deadlines() {
    let _g = exclusive();
    let s = scene("scenes/arm6.ron");
    let opts = RunOptions {
        executor: Executor::Realtime,
        // SCHED_FIFO where permitted (CI runs as root), so that other load on the
        // machine cannot starve the services; normal scheduling otherwise.
        rt_priority: Some(20),
        duration_s: Some(2.0),
        ..RunOptions::default()
    };
    let t0 = Instant::now();
    let r = runtime::run(&s, &opts, &mut |_, _| {}).expect("run");
    let wall = t0.elapsed().as_secs_f64();
    assert!(
        (1.95..3.0).contains(&wall),
        "a 2 s real-time run took {wall} s"
    );
    // A wall-clock smoke test (exact behaviour: realtime_exact.rs): paced by the
    // wall clock, tracking, nobody lost. Whether a joint ends DEGRADED by late replies
    // depends on this VM's host stalls (its bare 1 ms loop has shown p99.9 of 2-6 ms).
    assert!(r.aborted.is_none());
    assert!(
        r.joints
            .iter()
            .all(|j| j.state != armhil::report::JointHealth::Faulted),
        "{}",
        r.table()
    );
    let l = r.step_lateness_us.as_ref().expect("lateness");
    assert!(l.p50 < 1000.0, "median lateness {} µs", l.p50);
    for j in &r.joints {
        assert!(
            j.rms_error_rad <= 0.03,
            "{} rms {}",
            j.name,
            j.rms_error_rad
        );
    }
}

/// Wall-clock smoke test of containment (exact timing: realtime_exact.rs): a hang
/// in real time does not end the run, its joint is restarted and recovers, and no
/// other joint is lost.
#[test]
fn realtime_hang_is_contained_to_its_joint_and_restarted() {
    let _g = exclusive();
    let s = arm6_with_faults(r#"(at: 0.5, joint: "wrist_roll", kind: Hang)"#);
    let opts = RunOptions {
        executor: Executor::Realtime,
        // SCHED_FIFO where permitted (CI runs as root), so that other load on the
        // machine cannot starve the services; normal scheduling otherwise.
        rt_priority: Some(20),
        duration_s: Some(1.5),
        ..RunOptions::default()
    };
    let r = runtime::run(&s, &opts, &mut |_, _| {}).expect("run");
    assert!(r.aborted.is_none(), "a real-time hang must not end the run");
    let w = joint(&r, "wrist_roll");
    assert!(
        w.state == JointHealth::Ok && w.restarts >= 1,
        "a fresh service took over: {:#?}",
        r.events
    );
    assert!(
        r.events
            .iter()
            .any(|e| e.kind == "controller_hang" && e.joint == "wrist_roll" && e.t >= 0.5),
        "{:#?}",
        r.events
    );
    let f = r
        .faults
        .iter()
        .find(|f| f.kind == "hang")
        .expect("fault record");
    assert!(f.detection_latency_s.is_some(), "the hang was detected");
    for j in r.joints.iter().filter(|j| j.name != "wrist_roll") {
        let seen: Vec<_> = r.events.iter().filter(|e| e.joint == j.name).collect();
        assert_ne!(j.state, JointHealth::Faulted, "{}: {seen:#?}", j.name);
    }
}
