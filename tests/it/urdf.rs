//! URDF import on a real third-party arm: the SO-101 (../shared/models/so101).

use crate::common::*;
use armhil::runtime::{self, RunOptions};
use armhil::scene::{JointKind, Scene};

#[test]
fn so101_loads_with_its_six_revolute_joints_limits_masses_and_inertias() {
    let _g = shared();
    let s = Scene::load(&so101_urdf()).expect("SO-101 loads");
    let names: Vec<&str> = s.joints.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "shoulder_pan",
            "shoulder_lift",
            "elbow_flex",
            "wrist_flex",
            "wrist_roll",
            "gripper"
        ]
    );
    assert!(s.joints.iter().all(|j| j.kind == JointKind::Revolute));
    let lift = &s.joints[1];
    assert!((lift.limits.0 + 1.74533).abs() < 1e-9 && (lift.limits.1 - 1.74533).abs() < 1e-9);
    let roll = &s.joints[4];
    assert!((roll.limits.0 + 2.74385).abs() < 1e-9 && (roll.limits.1 - 2.84121).abs() < 1e-9);
    let upper = s
        .arm
        .links
        .iter()
        .find(|l| l.name == "upper_arm_link")
        .expect("upper_arm_link");
    assert!((upper.mass - 0.103).abs() < 1e-12);
    // rpy = 0 on this link's inertial: the tensor is the URDF's as written.
    assert!((upper.inertia[0][0] - 4.08002e-05).abs() < 1e-12);
    assert!((upper.inertia[0][1] + 1.97819e-05).abs() < 1e-12);
    assert!((upper.com[0] + 0.0898471).abs() < 1e-12);
    // Effort from <limit effort="10"> becomes the default servo's torque limit.
    assert!(s.joints.iter().all(|j| j.servo.stall_torque_nm == 10.0));
    // Visual meshes are resolved next to the URDF.
    let base = s
        .arm
        .links
        .iter()
        .find(|l| l.name == "base_link")
        .expect("base_link");
    assert!(
        base.meshes.iter().all(|(p, _, _)| p.exists()),
        "{:?}",
        base.meshes
    );
}

#[test]
fn so101_holds_its_pose_under_gravity() {
    let _g = shared();
    let s = Scene::load(&so101_urdf()).expect("SO-101 loads");
    let r = runtime::run(
        &s,
        &RunOptions {
            duration_s: Some(3.0),
            ..RunOptions::default()
        },
        &mut |_, _| {},
    )
    .expect("run");
    assert!(r.passed, "{}", r.table());
    for j in &r.joints {
        assert!(
            j.max_error_rad < 0.01,
            "{} drifted {} rad",
            j.name,
            j.max_error_rad
        );
    }
    // Gravity really loads the arm: the lift and elbow servos push against it.
    assert!(joint(&r, "shoulder_lift").peak_torque_nm > 0.1);
    assert!(joint(&r, "elbow_flex").peak_torque_nm > 0.1);
}

#[test]
fn so101_without_control_sags() {
    let _g = shared();
    let s = Scene::load(&so101_urdf()).expect("SO-101 loads");
    let mut w = armhil::physics::ArmWorld::new(&s);
    for _ in 0..1000 {
        w.clear_torques();
        w.step();
    }
    let moved = (0..w.num_joints())
        .map(|i| w.joint_state(i).pos.abs())
        .fold(0.0, f64::max);
    assert!(moved > 0.05, "an unpowered SO-101 should sag: {moved}");
}

#[test]
fn malformed_urdf_is_refused_with_its_file_named() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("bad.urdf");
    std::fs::write(
        &p,
        "<robot name='x'><joint name='j' type='revolute'><parent link='a'/></joint></robot>",
    )
    .expect("write");
    let e = Scene::load(&p).expect_err("accepted");
    let msg = e.to_string();
    assert!(
        msg.contains("bad.urdf") && msg.contains("joint \"j\""),
        "{msg}"
    );
}
