//! Scene validation: each kind of bad scene is refused with its own error naming the
//! field and the expected range, before anything runs.

use crate::common::*;
use armhil::scene::{Scene, SceneError};

/// The arm6 scene text with one substitution applied (which must match).
fn arm6_with(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(root().join("scenes/arm6.ron")).expect("read arm6");
    assert!(text.contains(from), "test setup: {from:?} not in arm6.ron");
    text.replacen(from, to, 1)
}

fn problems(text: &str) -> Vec<(String, String)> {
    match parse(text) {
        Err(SceneError::Invalid { problems, .. }) => {
            problems.into_iter().map(|p| (p.field, p.message)).collect()
        }
        Err(e) => panic!("expected Invalid, got: {e}"),
        Ok(_) => panic!("scene was accepted"),
    }
}

fn assert_problem(text: &str, field: &str, message_part: &str) {
    let ps = problems(text);
    assert!(
        ps.iter()
            .any(|(f, m)| f == field && m.contains(message_part)),
        "no problem at {field} containing {message_part:?}; got {ps:#?}"
    );
}

#[test]
fn shipped_scenes_are_valid() {
    let _g = shared();
    // Every scene shipped, scenarios included (found on disk, so a new one is covered
    // without touching this test).
    fn ron_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("scenes/ readable").flatten() {
            let p = e.path();
            if p.is_dir() {
                ron_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "ron") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    ron_files(&root().join("scenes"), &mut files);
    files.sort();
    assert!(files.len() >= 18, "scenes found: {files:?}");
    for f in &files {
        let sc = Scene::load(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(sc.joints.len(), 6, "{}", f.display());
        assert!(sc.duration_s > 0.0, "{}", f.display());
    }
}

#[test]
fn unknown_field_is_refused_with_line_and_column() {
    let _g = shared();
    let text = arm6_with("seed: 42,", "seed: 42,\n    sed: 1,");
    match parse(&text) {
        Err(SceneError::Parse {
            line,
            column,
            message,
            ..
        }) => {
            assert_eq!(line, 7, "{message}");
            assert!(column > 0);
            assert!(message.contains("sed"), "{message}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn missing_field_is_refused() {
    let _g = shared();
    let text = arm6_with("    seed: 42,\n", "");
    match parse(&text) {
        Err(SceneError::Parse { message, .. }) => assert!(message.contains("seed"), "{message}"),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn nonpositive_mass_is_refused() {
    let _g = shared();
    let text = arm6_with("mass_kg: 1.2,", "mass_kg: 0.0,");
    assert_problem(&text, "arm.links[1].mass_kg", "expected > 0");
}

#[test]
fn limits_min_above_max_are_refused() {
    let _g = shared();
    let text = arm6_with(
        "limits: (lower: -1.9, upper: 1.9)",
        "limits: (lower: 1.9, upper: -1.9)",
    );
    assert_problem(&text, "arm.joints[1].limits", "expected lower <= upper");
}

#[test]
fn zero_gear_ratio_is_refused() {
    let _g = shared();
    let text = arm6_with("gear_ratio: 353.5", "gear_ratio: 0.0");
    assert_problem(&text, "servos[\"xm430\"].gear_ratio", "expected > 0");
}

#[test]
fn controller_rate_above_physics_rate_is_refused() {
    let _g = shared();
    let text = arm6_with("rate_hz: 250,", "rate_hz: 2000,");
    assert_problem(
        &text,
        "drives[\"base_yaw\"].rate_hz",
        "cannot run faster than physics.rate_hz",
    );
}

#[test]
fn duplicate_joint_names_are_refused() {
    let _g = shared();
    let text = arm6_with("(name: \"elbow_pitch\",", "(name: \"shoulder_pitch\",");
    assert_problem(&text, "arm.joints[2].name", "duplicate joint name");
}

#[test]
fn trajectory_naming_an_unknown_joint_is_refused() {
    let _g = shared();
    let text = arm6_with("Sine(joint: \"wrist_roll\"", "Sine(joint: \"wrist_rool\"");
    assert_problem(
        &text,
        "trajectory[1].joint",
        "\"wrist_rool\" is not an actuated joint",
    );
}

#[test]
fn nan_is_refused() {
    let _g = shared();
    let text = arm6_with("duration_s: 10.0,", "duration_s: NaN,");
    assert_problem(&text, "duration_s", "NaN");
}

#[test]
fn waypoint_outside_limits_is_refused() {
    let _g = shared();
    let text = arm6_with(
        "(t: 5.0, q: [0.8,  1.1, 1.0, 0.9]),",
        "(t: 5.0, q: [0.8,  2.5, 1.0, 0.9]),",
    );
    assert_problem(
        &text,
        "trajectory[0].points[2].q[\"shoulder_pitch\"]",
        "out of range",
    );
}

#[test]
fn drive_for_unknown_joint_and_unknown_servo_are_refused() {
    let _g = shared();
    let text = arm6_with(
        "\"base_yaw\":       (servo: \"xm540\"",
        "\"base_yew\":       (servo: \"xm999\"",
    );
    let ps = problems(&text);
    assert!(
        ps.iter().any(|(f, _)| f == "drives[\"base_yew\"]"),
        "{ps:#?}"
    );
    assert!(
        ps.iter()
            .any(|(f, m)| f == "drives[\"base_yaw\"]" && m.contains("missing")),
        "{ps:#?}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let _g = shared();
    let text = arm6_with("mass_kg: 1.2,", "mass_kg: -1.0,").replacen(
        "gear_ratio: 353.5",
        "gear_ratio: 0.0",
        1,
    );
    let ps = problems(&text);
    assert!(ps.len() >= 2, "{ps:#?}");
}

#[test]
fn error_message_names_file_field_and_range() {
    let _g = shared();
    let text = arm6_with("mass_kg: 1.2,", "mass_kg: 0.0,");
    let e = parse(&text).expect_err("accepted");
    let msg = e.to_string();
    assert!(msg.starts_with("test.ron: arm.links[1].mass_kg:"), "{msg}");
    assert!(msg.contains("expected > 0"), "{msg}");
}

#[test]
fn urdf_scene_path_is_relative_to_the_scene_file() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let urdf = std::fs::read_to_string(so101_urdf()).expect("so101 urdf");
    std::fs::write(dir.path().join("arm.urdf"), urdf).expect("write");
    let text = r#"(seed: 1, duration_s: 1.0, arm: Urdf(path: "arm.urdf"),
        servos: { "s": (gear_ratio: 345, stall_torque_nm: 3.35, no_load_speed_rad_s: 4.8, rotor_inertia_kgm2: 2.35e-7,
                       damping_nm_s_per_rad: 0.6, friction_nm: 0.052, encoder_ticks_per_rev: 4096) },
        default_drive: (servo: "s", rate_hz: 500, controller: Pid(kp: 20.0, kd: 0.5, gravity_compensation: true)))"#;
    let path = dir.path().join("s.ron");
    std::fs::write(&path, text).expect("write");
    let s = armhil::scene::Scene::load(&path).expect("load");
    assert_eq!(s.joints.len(), 6);
    assert!(s.joints.iter().all(|j| j.servo.stall_torque_nm == 3.35));
}
