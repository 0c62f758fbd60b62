//! The fault catalogue end to end: each kind's effect on its joint, one onset and one
//! clear event per windowed fault, the CLI `--fault` syntax.

use crate::common::*;
use armhil::report::{JointHealth, Report};
use armhil::runtime::{self, Executor, RunOptions};

fn arm6_run(faults: &str, duration: f64) -> Report {
    let text = std::fs::read_to_string(root().join("scenes/arm6.ron")).expect("read");
    let s = parse(&text.replacen(
        "seed: 42,",
        &format!("seed: 42,\n    faults: [{faults}],"),
        1,
    ))
    .expect("scene");
    runtime::run(
        &s,
        &RunOptions {
            duration_s: Some(duration),
            ..RunOptions::default()
        },
        &mut |_, _| {},
    )
    .expect("run")
}

fn onset_clear(r: &Report, joint: &str) -> (f64, f64) {
    let on: Vec<f64> = r
        .events
        .iter()
        .filter(|e| e.joint == joint && e.kind == "fault_onset")
        .map(|e| e.t)
        .collect();
    let off: Vec<f64> = r
        .events
        .iter()
        .filter(|e| e.joint == joint && e.kind == "fault_clear")
        .map(|e| e.t)
        .collect();
    assert_eq!(
        (on.len(), off.len()),
        (1, 1),
        "exactly one onset and one clear: {:#?}",
        r.events
    );
    (on[0], off[0])
}

#[test]
fn sensor_faults_mislead_the_controller_only_during_their_window() {
    let _g = shared();
    let clean = arm6_run("", 4.0);
    // Offset: the controller holds the reported position on target, so the true joint
    // sits `rad` away.
    let r = arm6_run(
        r#"(at: 1.0, until: 3.0, joint: "shoulder_pitch", kind: EncoderOffset(rad: 0.05))"#,
        4.0,
    );
    let (on, off) = onset_clear(&r, "shoulder_pitch");
    assert!((on - 1.0).abs() < 1e-9 && (off - 3.0).abs() < 1e-9);
    let j = joint(&r, "shoulder_pitch");
    assert!(
        j.max_error_rad > 0.04 && j.max_error_rad < 0.08,
        "{}",
        j.max_error_rad
    );
    assert_eq!(j.state, JointHealth::Ok, "recovered");
    let f = &r.faults[0];
    assert_eq!(
        f.detection_latency_s,
        Some(0.0),
        "the 0.05 rad jump is implausible at the first sample"
    );
    // Stuck: the joint is driven blind; wrist_roll's sine runs away from it.
    let r = arm6_run(
        r#"(at: 1.0, until: 2.0, joint: "wrist_roll", kind: EncoderStuck)"#,
        3.0,
    );
    onset_clear(&r, "wrist_roll");
    assert!(
        joint(&r, "wrist_roll").max_error_rad > 0.1,
        "{}",
        joint(&r, "wrist_roll").max_error_rad
    );
    // Noise: more error than the clean run, same seed.
    let r = arm6_run(
        r#"(at: 0.5, until: 3.5, joint: "elbow_pitch", kind: EncoderNoise(sigma_rad: 0.01))"#,
        4.0,
    );
    onset_clear(&r, "elbow_pitch");
    // The controller chases the noise: torque spikes, and the joint jitters.
    let (noisy, calm) = (joint(&r, "elbow_pitch"), joint(&clean, "elbow_pitch"));
    assert!(
        noisy.peak_torque_nm > calm.peak_torque_nm + 2.0,
        "{} vs {}",
        noisy.peak_torque_nm,
        calm.peak_torque_nm
    );
    assert!(
        noisy.rms_error_rad > 1.5 * calm.rms_error_rad,
        "{} vs {}",
        noisy.rms_error_rad,
        calm.rms_error_rad
    );
}

#[test]
fn actuator_faults_weaken_or_cut_the_servo_and_clear() {
    let _g = shared();
    let r = arm6_run(
        r#"(at: 1.0, until: 2.0, joint: "shoulder_pitch", kind: TorqueSag(factor: 0.2))"#,
        3.0,
    );
    onset_clear(&r, "shoulder_pitch");
    let j = joint(&r, "shoulder_pitch");
    assert!(
        j.saturated_fraction > 0.1,
        "the sagging servo saturates: {}",
        j.saturated_fraction
    );
    assert!(
        j.max_error_rad > 0.1,
        "and cannot hold the arm: {}",
        j.max_error_rad
    );
    for kind in ["PowerLoss", "ServoError(bit: Overheat)"] {
        let r = arm6_run(
            &format!(r#"(at: 1.0, until: 1.5, joint: "elbow_pitch", kind: {kind})"#),
            3.0,
        );
        let (on, off) = onset_clear(&r, "elbow_pitch");
        assert!((off - on - 0.5).abs() < 1e-9);
        assert!(
            joint(&r, "elbow_pitch").max_error_rad > 0.05,
            "{kind}: the elbow drops while limp"
        );
        assert!(
            r.events
                .iter()
                .any(|e| e.joint == "elbow_pitch" && e.detail.contains("-> DEGRADED")),
            "{kind}"
        );
        assert!(
            r.events
                .iter()
                .any(|e| e.joint == "elbow_pitch" && e.detail.contains("DEGRADED -> OK")),
            "{kind}"
        );
        assert_eq!(
            joint(&r, "elbow_pitch").state,
            JointHealth::Ok,
            "{kind}: recovered"
        );
    }
}

/// On a manual clock (exact): a 1.5 ms cycle on a 1 kHz joint misses every other
/// tick, is never taken for hung, and no other joint notices anything.
#[test]
fn a_slow_controller_misses_deadlines_in_real_time_without_harming_the_others() {
    let _g = shared();
    let text = std::fs::read_to_string(root().join("scenes/arm6.ron")).expect("read");
    let s = parse(&text.replacen(
        "seed: 42,",
        r#"seed: 42,
    faults: [(at: 0.5, until: 1.0, joint: "wrist_pitch", kind: Slow(ms: 1.5))],"#,
        1,
    ))
    .expect("scene");
    let o = RunOptions {
        executor: Executor::Realtime,
        duration_s: Some(1.5),
        clock: Some(std::sync::Arc::new(armhil::sys::clock::ManualClock::new())),
        ..RunOptions::default()
    };
    let r = runtime::run(&s, &o, &mut |_, _| {}).expect("run");
    let w = joint(&r, "wrist_pitch");
    // Sample at 0.500, answered at 0.5015; the tick of 0.501 misses; 0.502 sends the
    // next: one miss per 2 ms for 0.5 s.
    assert_eq!(
        (w.deadline_misses, w.restarts, w.state),
        (250, 0, JointHealth::Ok),
        "slow is not hung: it answers within 3 periods"
    );
    onset_clear(&r, "wrist_pitch");
    for j in r.joints.iter().filter(|j| j.name != "wrist_pitch") {
        assert_eq!(
            (j.state, j.deadline_misses, j.restarts),
            (JointHealth::Ok, 0, 0),
            "{}",
            j.name
        );
        assert!(
            !r.events
                .iter()
                .any(|e| e.joint == j.name && e.kind == "state"),
            "{} changed state",
            j.name
        );
        assert!(
            j.rms_error_rad <= 0.02,
            "{} rms {}",
            j.name,
            j.rms_error_rad
        );
    }
}

/// Faults sent on the run's control channel (as the CLI's stdin and the GUI do) act at
/// once, controller faults included: they reach the joint's service as a message.
#[test]
fn faults_injected_through_the_control_channel_act_and_clear() {
    use armhil::runtime::command::{ControlCommand, parse_command};
    let _g = shared();
    let s = scene("scenes/arm6.ron");
    let (tx, rx) = crossbeam::channel::bounded(armhil::runtime::command::CAPACITY);
    // Real time on a manual clock: exact.
    let o = RunOptions {
        executor: Executor::Realtime,
        clock: Some(std::sync::Arc::new(armhil::sys::clock::ManualClock::new())),
        duration_s: Some(1.5),
        control: Some(rx),
        schedule: vec![(
            0.5,
            parse_command("fault elbow_pitch:power_loss@0..0.3").expect("parse"),
        )],
        ..RunOptions::default()
    };
    tx.send(ControlCommand::Fault(
        armhil::faults::parse_cli_fault("wrist_roll:panic@0").expect("parse"),
    ))
    .expect("send");
    let r = runtime::run(&s, &o, &mut |_, _| {}).expect("run");
    let (on, off) = onset_clear(&r, "elbow_pitch");
    assert!(
        (on - 0.5).abs() < 1e-9 && (off - on - 0.3).abs() < 1e-9,
        "{on} {off}"
    );
    assert!(
        !r.events.iter().any(|e| e.kind == "fault_refused"),
        "{:#?}",
        r.events
    );
    let panic = r
        .events
        .iter()
        .find(|e| e.kind == "controller_panic")
        .expect("the injected panic struck the running service");
    assert_eq!(panic.joint, "wrist_roll");
    let w = joint(&r, "wrist_roll");
    assert_eq!(
        (w.state, w.restarts),
        (JointHealth::Ok, 1),
        "{:#?}",
        r.events
    );
    assert_eq!(
        joint(&r, "elbow_pitch").state,
        JointHealth::Ok,
        "recovered after the power came back"
    );
}
