//! Physics: PD hold converges under gravity, a limp arm falls, limits hold, servo
//! torque limits bound the torque.

use crate::common::*;
use armhil::physics::ArmWorld;
use armhil::runtime::{self, RunOptions};

#[test]
fn pd_hold_under_gravity_converges_to_the_setpoint() {
    let _g = shared();
    // Start at 0 (upright), hold 1.0 rad from t = 0: a step the PD must settle.
    let s = parse(&pendulum(
        0.0,
        PD_DRIVE,
        r#"trajectory: [Waypoints(joints: ["pitch"], points: [(t: 0.0, q: [1.0])])],"#,
    ))
    .expect("scene");
    let r = runtime::run(&s, &RunOptions::default(), &mut |_, _| {}).expect("run");
    assert!(r.passed);
    let j = joint(&r, "pitch");
    assert!(
        j.max_error_rad >= 0.99,
        "the step starts 1 rad away: {}",
        j.max_error_rad
    );
    assert!(
        (j.max_pos_rad - 1.0).abs() < 0.05,
        "overshoot: max {}",
        j.max_pos_rad
    );
    let (_, last) = final_state(&s, 3.0);
    assert!((last - 1.0).abs() < 0.005, "final position {last}");
}

/// Runs the scene through a plant with the controller inline and returns (time, pos).
fn final_state(s: &armhil::scene::Scene, seconds: f64) -> (f64, f64) {
    use armhil::runtime::plant::Plant;
    let mut plant = Plant::new(s, Default::default());
    let mut ctl: Vec<_> = s
        .joints
        .iter()
        .map(|j| armhil::control::build(&j.controller, &j.servo))
        .collect();
    while plant.t() < seconds {
        for (i, c) in ctl.iter_mut().enumerate() {
            if plant.due(i) {
                let inp = plant.sample(i);
                let u = c.update(&inp);
                plant.command(i, u, inp.t);
            }
        }
        plant.step();
    }
    (plant.t(), plant.world().joint_state(0).pos)
}

#[test]
fn limp_arm_falls() {
    let _g = shared();
    let s = parse(&pendulum(0.3, PD_DRIVE, "")).expect("scene");
    let mut w = ArmWorld::new(&s);
    let start = w.joint_state(0).pos;
    for _ in 0..1000 {
        w.clear_torques();
        w.step();
    }
    let end = w.joint_state(0).pos;
    assert!((start - 0.3).abs() < 1e-6);
    assert!(
        end > 1.0,
        "a limp pendulum tilted 0.3 rad must fall toward +: {end}"
    );
}

#[test]
fn joint_limits_hold_against_full_torque() {
    let _g = shared();
    let s = parse(&pendulum(0.0, PD_DRIVE, "")).expect("scene");
    let mut w = ArmWorld::new(&s);
    let mut max = f64::MIN;
    for _ in 0..3000 {
        w.clear_torques();
        w.set_torque(0, 20.0);
        w.step();
        max = max.max(w.joint_state(0).pos);
    }
    assert!(max < 2.0 + 0.02, "limit 2.0 rad exceeded: {max}");
    assert!(max > 1.9, "the joint should reach its limit: {max}");
}

#[test]
fn gravity_torque_matches_the_analytic_pendulum() {
    let _g = shared();
    let s = parse(&pendulum(0.5, PD_DRIVE, "")).expect("scene");
    let w = ArmWorld::new(&s);
    // 1 kg at 0.15 m, tilted 0.5 rad about +y: τ = m g l sin θ, pushing further (+).
    let expect = 1.0 * 9.81 * 0.15 * 0.5f64.sin();
    let got = w.gravity_torque(0);
    assert!((got - expect).abs() < 1e-3, "{got} vs {expect}");
}

#[test]
fn backlash_lets_the_output_move_within_the_play_only() {
    let _g = shared();
    let text = std::fs::read_to_string(root().join("scenes/sts3215_arm.ron")).expect("read");
    let s = parse(&text).expect("scene");
    let mut w = ArmWorld::new(&s);
    // Hold the motors still (large damping via zero torque is not enough): compare
    // output and motor positions while gravity loads the gear train.
    let mut max_gap: f64 = 0.0;
    for _ in 0..500 {
        w.clear_torques();
        w.step();
        for i in 0..w.num_joints() {
            let st = w.joint_state(i);
            max_gap = max_gap.max((st.pos - st.motor_pos).abs());
        }
    }
    assert!(
        max_gap > 0.004,
        "gravity should take up some play: {max_gap}"
    );
    assert!(
        max_gap < 0.0087266 + 0.002,
        "play exceeded ±0.5°: {max_gap}"
    );
}

/// Each solver iteration is a substep; the default of 1 at 1 kHz must not change the
/// dynamics of a free-swinging arm noticeably compared with 8.
#[test]
fn one_solver_iteration_matches_eight_on_a_swinging_pendulum() {
    let _g = shared();
    let swing = |iters: u32| -> Vec<f64> {
        let text = pendulum(
            0.3,
            PD_DRIVE,
            &format!("physics: (solver_iterations: {iters}),"),
        );
        let text = text
            .replace("friction_nm: 0.02", "friction_nm: 0.0")
            .replace("damping_nm_s_per_rad: 0.1", "damping_nm_s_per_rad: 0.0");
        let s = parse(&text).expect("scene");
        let mut w = ArmWorld::new(&s);
        let mut out = Vec::new();
        for k in 0..1000 {
            w.clear_torques();
            w.step();
            if k % 100 == 99 {
                out.push(w.joint_state(0).pos);
            }
        }
        out
    };
    let (a, b) = (swing(1), swing(8));
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let range =
        b.iter().copied().fold(f64::MIN, f64::max) - b.iter().copied().fold(f64::MAX, f64::min);
    assert!(range > 0.5, "the pendulum should swing: {b:?}");
    assert!(
        worst < 0.01,
        "1 vs 8 iterations differ by {worst} rad: {a:?} vs {b:?}"
    );
}

#[test]
fn limits_hold_with_one_solver_iteration() {
    let _g = shared();
    let s = parse(&pendulum(0.0, PD_DRIVE, "physics: (solver_iterations: 1),")).expect("scene");
    let mut w = ArmWorld::new(&s);
    let mut max = f64::MIN;
    for _ in 0..3000 {
        w.clear_torques();
        w.set_torque(0, 20.0);
        w.step();
        max = max.max(w.joint_state(0).pos);
    }
    assert!(max < 2.0 + 0.02 && max > 1.9, "{max}");
}

/// Replays pose the arm kinematically: every joint (backlash included) lands exactly
/// on the asked position, and the links move accordingly.
#[test]
fn set_positions_poses_the_arm_exactly_backlash_included() {
    let _g = shared();
    for name in ["scenes/arm6.ron", "scenes/sts3215_arm.ron"] {
        let s = scene(name);
        let mut w = armhil::physics::ArmWorld::new(&s);
        let before = w.link_poses();
        let q: Vec<f64> = (0..w.num_joints()).map(|i| 0.1 + 0.05 * i as f64).collect();
        w.set_positions(&q);
        for (i, want) in q.iter().enumerate() {
            let st = w.joint_state(i);
            assert!(
                (st.pos - want).abs() < 1e-5,
                "{name} joint {i}: {} vs {want}",
                st.pos
            );
            assert!((st.motor_pos - want).abs() < 1e-5, "{name} joint {i} motor");
        }
        let after = w.link_poses();
        assert_eq!(before[0], after[0], "{name}: the base does not move");
        assert_ne!(before.last(), after.last(), "{name}: the last link moved");
        // Twice the same positions: the same pose (absolute, not incremental).
        w.set_positions(&q);
        let again = w.link_poses();
        for (a, b) in after.iter().zip(&again) {
            for k in 0..3 {
                assert!((a.0[k] - b.0[k]).abs() < 1e-5, "{name}");
            }
        }
    }
}
