//! The real-time executor on a manual clock: services on their own threads, physics
//! paced by a clock that moves only once every sample handed to a service has been
//! answered (or the service sleeps or hangs). Outcomes are exact: which joint misses
//! which deadline, when a hang is declared, when the restart comes, what a scripted
//! host stall costs. (Wall-clock smoke tests of the same executor are in runtime.rs.)

use std::sync::Arc;
use std::time::Duration;

use armhil::report::{JointHealth, Report};
use armhil::runtime::{self, Executor, RunOptions};
use armhil::scene::Scene;
use armhil::sys::clock::ManualClock;

use crate::common::*;

/// Every joint but `except` ends OK, never missed a deadline, never restarted.
fn untouched(r: &Report, except: &[&str]) {
    for j in r
        .joints
        .iter()
        .filter(|j| !except.contains(&j.name.as_str()))
    {
        assert_eq!(
            (j.state, j.deadline_misses, j.restarts),
            (JointHealth::Ok, 0, 0),
            "{}",
            j.name
        );
    }
}

fn run_on(s: &Scene, clock: ManualClock, duration_s: f64) -> Report {
    let opts = RunOptions {
        executor: Executor::Realtime,
        duration_s: Some(duration_s),
        clock: Some(Arc::new(clock)),
        ..RunOptions::default()
    };
    runtime::run(s, &opts, &mut |_, _| {}).expect("run")
}

#[test]
fn a_real_time_run_on_a_manual_clock_is_exact_and_repeatable() {
    let _g = shared();
    let s = scene("scenes/arm6.ron");
    let a = run_on(&s, ManualClock::new(), 1.0);
    assert!(a.passed, "{}", a.table());
    assert_eq!(a.executor, "realtime");
    for j in &a.joints {
        assert_eq!((j.deadline_misses, j.restarts), (0, 0), "{}", j.name);
    }
    let l = a.step_lateness_us.as_ref().expect("lateness");
    assert_eq!((l.p50, l.max), (0.0, 0.0));
    // 1000 steps, the first at 0: the last one's deadline is 0.999 s.
    assert_eq!(
        a.wall_time_s, 0.999,
        "the clock moved exactly one step per step"
    );
    // Services on threads, and still the same report to the byte.
    let b = run_on(&s, ManualClock::new(), 1.0);
    assert_eq!(a.to_json(), b.to_json());
}

#[test]
fn a_hang_in_real_time_is_declared_after_exactly_its_silent_periods() {
    let _g = shared();
    // wrist_roll runs at 1 kHz (one sample per 1 ms step); silent_periods is 3.
    let s = arm6_with_faults(r#"(at: 0.5, joint: "wrist_roll", kind: Hang)"#);
    let r = run_on(&s, ManualClock::new(), 1.0);
    let hang = events(&r, "wrist_roll", "controller_hang");
    assert_eq!(hang.len(), 1, "{:#?}", r.events);
    // The sample of t = 0.500 is never answered: the tick of 0.501 is the first miss,
    // and after 3 ms of silence, at 0.503, the service is declared hung.
    assert!(
        (hang[0].t - 0.503).abs() < 1e-9,
        "declared at {}",
        hang[0].t
    );
    assert!(
        hang[0].detail.contains("no reply for 3.0 ms"),
        "{}",
        hang[0].detail
    );
    let f = r.faults.iter().find(|f| f.kind == "hang").expect("fault");
    let periods = f.detection_latency_periods.expect("detected");
    assert!(
        (periods - 1.0).abs() < 1e-9,
        "detected after {periods} periods"
    );
    // Restarted after the policy's delay (20 ms), and OK again at its first reply.
    let restart = events(&r, "wrist_roll", "restart");
    assert_eq!(restart.len(), 1);
    assert!(
        (restart[0].t - 0.523).abs() < 1e-9,
        "restart at {}",
        restart[0].t
    );
    // Missed: the ticks of 0.501, 0.502 and 0.503 (the last one declares it hung).
    let w = joint(&r, "wrist_roll");
    assert_eq!(
        (w.state, w.restarts, w.deadline_misses),
        (JointHealth::Ok, 1, 3)
    );
    // Nobody else noticed anything.
    assert!(!r.events.iter().any(|e| e.kind == "system_stall"));
    untouched(&r, &["wrist_roll"]);
}

#[test]
fn a_slow_service_in_real_time_misses_exactly_the_deadlines_its_cycle_overruns() {
    let _g = shared();
    // elbow_pitch runs at 500 Hz (2 ms); each cycle takes 3 ms from 0.5 s to 0.6 s.
    let s = arm6_with_faults(r#"(at: 0.5, until: 0.6, joint: "elbow_pitch", kind: Slow(ms: 3.0))"#);
    let r = run_on(&s, ManualClock::new(), 1.0);
    let e = joint(&r, "elbow_pitch");
    // Each 3 ms cycle overruns the tick 2 ms after its sample; the reply is in before
    // the tick after that, which sends the next sample: one miss per 4 ms, at 0.502,
    // 0.506, ..., 0.598 (25), and none after the fault clears. Never hung.
    assert_eq!(
        (e.deadline_misses, e.restarts, e.state),
        (25, 0, JointHealth::Ok)
    );
    let at = |kind: &str| -> Vec<(f64, String)> {
        events(&r, "elbow_pitch", kind)
            .iter()
            .map(|e| ((e.t * 1e3).round() / 1e3, e.detail.clone()))
            .collect()
    };
    let detected = at("fault_detected");
    assert_eq!(detected.len(), 1);
    assert_eq!(detected[0].0, 0.502, "the first missed deadline reveals it");
    let states = at("state");
    assert_eq!(states.len(), 2, "{states:?}");
    // DEGRADED at the second miss within 10 periods; OK 50 ms after the last one.
    assert_eq!(states[0].0, 0.506);
    assert!(
        states[0].1.contains("-> DEGRADED (late replies)"),
        "{}",
        states[0].1
    );
    assert_eq!(states[1].0, 0.648);
    assert!(states[1].1.contains("-> OK"), "{}", states[1].1);
    others_kept_their_deadlines(&r, "elbow_pitch");
}

#[test]
fn a_host_stall_of_the_physics_thread_costs_lateness_and_nothing_else() {
    let _g = shared();
    let s = scene("scenes/arm6.ron");
    let clock =
        ManualClock::with_stalls(&[(Duration::from_millis(300), Duration::from_millis(20))]);
    let r = run_on(&s, clock, 1.0);
    let l = r.step_lateness_us.as_ref().expect("lateness");
    assert_eq!(l.max, 20_000.0, "the step due at 0.300 s ran 20 ms late");
    // ... and the 19 steps due during the stall ran late by 19, 18, ... 1 ms as the
    // executor caught up; every other step was on time.
    assert_eq!(l.p999, 19_000.0);
    assert_eq!(l.p50, 0.0);
    // Those 20 steps (late by 20 .. 1 ms) each began when the next was already due.
    assert_eq!(r.missed_steps, Some(20));
    assert!(r.passed);
    untouched(&r, &[]);
}

#[test]
fn a_panic_in_real_time_restarts_its_joint_once_and_nobody_else_notices() {
    let _g = shared();
    let s = arm6_with_faults(r#"(at: 0.5, joint: "elbow_pitch", kind: Panic)"#);
    let r = run_on(&s, ManualClock::new(), 1.0);
    let died = events(&r, "elbow_pitch", "controller_panic");
    // elbow_pitch runs at 500 Hz: its sample of 0.500 panics; the death is collected
    // at the next step, and the restart comes 20 ms later.
    assert_eq!(died.len(), 1, "{:#?}", r.events);
    assert!((died[0].t - 0.501).abs() < 1e-9, "died at {}", died[0].t);
    let restart = events(&r, "elbow_pitch", "restart");
    assert_eq!(restart.len(), 1);
    assert!(
        (restart[0].t - 0.521).abs() < 1e-9,
        "restart at {}",
        restart[0].t
    );
    let e = joint(&r, "elbow_pitch");
    assert_eq!(
        (e.state, e.restarts, e.deadline_misses),
        (JointHealth::Ok, 1, 0)
    );
    untouched(&r, &["elbow_pitch"]);
}

/// Two services silent at once look like a machine stall and get the 100 ms grace;
/// two controllers that really hang are declared hung when it runs out, hang again
/// after each restart and latch FAULTED when their restart budgets run out.
#[test]
fn simultaneous_hangs_get_the_stall_grace_then_are_faulted() {
    let _g = shared();
    let s = arm6_with_faults(
        r#"(at: 0.5, until: 2.0, joint: "wrist_roll", kind: Hang), (at: 0.5, until: 2.0, joint: "wrist_pitch", kind: Hang)"#,
    );
    let r = run_on(&s, ManualClock::new(), 2.0);
    let stall: Vec<_> = r
        .events
        .iter()
        .filter(|e| e.kind == "system_stall")
        .collect();
    assert_eq!(stall.len(), 1, "one event for the stall");
    assert!(
        (stall[0].t - 0.501).abs() < 1e-9,
        "stall seen at {}",
        stall[0].t
    );
    for name in ["wrist_roll", "wrist_pitch"] {
        let hangs = events(&r, name, "controller_hang");
        assert!(
            (hangs[0].t - 0.6).abs() < 1e-9,
            "{name} declared at {}",
            hangs[0].t
        );
        assert!(
            hangs[0].detail.contains("no reply for 100.0 ms"),
            "{}",
            hangs[0].detail
        );
        let j = joint(&r, name);
        // 3 restarts allowed within 10 s; the 4th failure latches.
        assert_eq!((j.state, j.restarts), (JointHealth::Faulted, 3), "{name}");
        assert_eq!(hangs.len(), 4, "{name}: {hangs:#?}");
    }
    for j in r.joints.iter().filter(|j| !j.name.starts_with("wrist")) {
        assert_eq!(
            (j.state, j.deadline_misses),
            (JointHealth::Ok, 0),
            "{}",
            j.name
        );
    }
}
