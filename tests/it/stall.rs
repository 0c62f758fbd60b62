//! Contacts act on the servos: a joint driven into an obstacle stalls, its servo
//! delivers its stall torque, and the servo's own protection trips as the firmware's
//! does (overload after its time at the threshold, overheat at its temperature limit:
//! torque off, an error bit the supervisor sees), then armhil's driver turns torque
//! back on. A `Jam` fault produces the same chain from inside the gear train. Every
//! run is lockstep and stepped here one physics step at a time, so the times are
//! checked to the step.

use crate::common::*;
use armhil::runtime::{Lockstep, RunOptions};
use armhil::scene::Scene;

/// Per step: (t at its end, delivered torque, winding temperature, new events).
type Step = (f64, f64, f64, Vec<(String, String)>);
type Trace = [Step];

/// The pendulum (stall torque 20 N·m) commanded from 0.3 rad to 2.0 rad in 0.5 s,
/// through a fixed table whose top stops it at π/2. `servo` is spliced into the
/// servo's fields.
fn into_the_table(duration: f64, servo: &str) -> Scene {
    let text = pendulum(
        0.3,
        PD_DRIVE,
        r#"world: (objects: [
            (name: "table", shape: Box(size: (0.54, 0.2, 0.085)), pose: (xyz: (0.33, 0.0, 0.0425)), fixed: true),
        ]),
        trajectory: [Waypoints(joints: ["pitch"], points: [(t: 0.0, q: [0.3]), (t: 0.5, q: [2.0])])],"#,
    )
    .replace("duration_s: 3.0", &format!("duration_s: {duration}"))
    .replace("encoder_ticks_per_rev: 4096)", &format!("encoder_ticks_per_rev: 4096{servo})"));
    parse(&text).unwrap_or_else(|e| panic!("{e}"))
}

/// Steps `s` to its end; per step: (t at the step's end, delivered torque, winding
/// temperature, new events as (kind, detail)).
fn trace(s: &Scene) -> (Vec<Step>, armhil::report::Report) {
    let mut sim = Lockstep::new(s, &RunOptions::default()).expect("lockstep");
    let mut seen = 0;
    let mut out = Vec::new();
    let steps = (s.duration_s * s.physics.rate_hz).round() as u64;
    while sim.steps() < steps && sim.step().expect("step") {
        let p = sim.plant();
        let j = &p.joints()[0];
        let ev = p.events()[seen..]
            .iter()
            .map(|e| (e.kind.clone(), e.detail.clone()))
            .collect();
        seen = p.events().len();
        out.push((p.t(), j.delivered(), j.thermal().temp_c, ev));
    }
    (out, sim.finish(s))
}

/// Start of the unbroken stretch of |torque| >= `at` N·m that runs up to `until`.
fn saturated_since(tr: &Trace, at: f64, until: f64) -> f64 {
    let mut since = None;
    for (t, tau, _, _) in tr.iter().filter(|x| x.0 < until) {
        since = if tau.abs() >= at {
            since.or(Some(*t))
        } else {
            None
        };
    }
    since.unwrap_or_else(|| panic!("not saturated up to {until}"))
}

fn first(tr: &Trace, kind: &str, after: f64) -> f64 {
    tr.iter()
        .find(|(t, _, _, ev)| *t > after && ev.iter().any(|(k, _)| k == kind))
        .unwrap_or_else(|| panic!("no {kind} after {after}"))
        .0
}

#[test]
fn a_joint_stalled_on_an_obstacle_trips_overload_after_its_time_and_comes_back() {
    let _g = shared();
    let s = into_the_table(8.0, "");
    let (tr, report) = trace(&s);
    let dt = 0.001;
    // Overload runs while the delivered torque is at >= 80 % of stall (16 N·m):
    // the trip comes exactly 2 s into the first unbroken such stretch.
    let trip = first(&tr, "servo_protection", 0.0);
    let since = saturated_since(&tr, 16.0, trip);
    assert!(
        (trip - since - 2.0).abs() <= dt + 1e-9,
        "tripped at {trip}, saturated since {since}"
    );
    let contact = first(&tr, "contact_begin", 0.0);
    assert!(
        since >= contact - 0.2 && since < trip,
        "stalled on the table from {since}"
    );
    // Torque off until the driver turns it on again, restart_s = 1 s later.
    let back = first(&tr, "servo_restored", trip);
    assert!((back - trip - 1.0).abs() <= dt + 1e-9, "{trip} -> {back}");
    for (t, tau, _, _) in tr.iter().filter(|x| x.0 > trip + dt && x.0 < back) {
        assert_eq!(*tau, 0.0, "torque at {t} while tripped");
    }
    // Still pushed against the table: once the torque is back at the threshold,
    // it trips again 2 s later.
    let again = first(&tr, "servo_protection", back);
    let resat = saturated_since(&tr, 16.0, again);
    assert!(resat > back, "{back} {resat}");
    assert!(
        (again - resat - 2.0).abs() <= dt + 1e-9,
        "{resat} -> {again}"
    );
    // The supervisor saw the servo's status: DEGRADED while down, not a failure.
    let states: Vec<&(String, String)> = tr
        .iter()
        .flat_map(|x| &x.3)
        .filter(|(k, _)| k == "state")
        .collect();
    assert!(
        states
            .iter()
            .any(|(_, d)| d.contains("DEGRADED") && d.contains("servo")),
        "{states:?}"
    );
    let j = joint(&report, "pitch");
    assert_eq!(j.restarts, 0);
    // The report's contact figures.
    let arm = report
        .links
        .iter()
        .find(|l| l.name == "arm")
        .expect("arm link");
    assert!(
        arm.contacts >= 1 && arm.max_contact_force_n > 10.0,
        "{arm:?}"
    );
    assert!(arm.max_depth_m < 0.002, "{arm:?}");
    assert_eq!(report.objects.len(), 1);
    assert_eq!(
        report.objects[0].final_pose.xyz,
        [0.33, 0.0, 0.0425].map(|v: f64| v as f32 as f64)
    );
}

#[test]
fn a_stall_below_the_overload_time_heats_the_winding_to_its_limit_on_time() {
    let _g = shared();
    // Overload would need 60 s; the winding reaches 70 °C first. Held at full stall
    // torque (load 1), T(t) = 25 + 75 (1 - e^(-t/50)) reaches 70 °C after
    // -50 ln(0.4) = 45.8 s; off, it cools back to 65 °C in 50 ln(45/40) = 5.9 s.
    let s = into_the_table(60.0, ", protection: Some(overload_time_s: 60.0)");
    let (tr, _) = trace(&s);
    let trip = first(&tr, "servo_protection", 0.0);
    let (_, _, temp, ev) = tr.iter().find(|x| x.0 == trip).expect("trip step");
    assert!(ev.iter().any(|(_, d)| d.starts_with("overheat")), "{ev:?}");
    assert!(*temp >= 70.0, "{temp}");
    let before = tr.iter().rev().find(|x| x.0 < trip).expect("before");
    assert!(before.2 < 70.0, "tripped the first step at the limit");
    let since = tr
        .iter()
        .find(|x| x.1.abs() >= 19.9)
        .expect("full torque")
        .0;
    let heat = trip - since;
    assert!((heat - 45.8).abs() < 0.5, "{heat} s at stall to 70 °C");
    let back = first(&tr, "servo_restored", trip);
    let (_, _, temp_back, _) = tr.iter().find(|x| x.0 == back).expect("back step");
    assert!(*temp_back <= 65.0, "{temp_back}");
    assert!(
        ((back - trip) - 5.89).abs() < 0.05,
        "cooled in {} s",
        back - trip
    );
}

#[test]
fn a_jam_stalls_the_servo_until_its_protection_trips_and_the_fault_is_detected() {
    let _g = shared();
    // The pendulum is commanded from 0 to 1 rad over 1 s; at 0.5 s its gear train
    // locks. The controller pushes against the jam at full torque, and the servo's
    // protection trips 2 s later.
    let text = pendulum(
        0.0,
        PD_DRIVE,
        r#"trajectory: [Waypoints(joints: ["pitch"], points: [(t: 0.0, q: [0.0]), (t: 1.0, q: [1.0])])],
        faults: [(at: 0.5, joint: "pitch", kind: Jam)],"#,
    )
    .replace("duration_s: 3.0", "duration_s: 5.0");
    let s = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let (tr, report) = trace(&s);
    let trip = first(&tr, "servo_protection", 0.5);
    let since = saturated_since(&tr, 16.0, trip);
    assert!(since >= 0.5, "stalled only once jammed: {since}");
    assert!(
        (trip - since - 2.0).abs() <= 0.001 + 1e-9,
        "{since} -> {trip}"
    );
    let f = &report.faults[0];
    assert_eq!(f.kind, "jam");
    assert!(f.detection_latency_s.is_some(), "{f:?}");
}
