//! Generated scenes for benchmarks and tests: serial chains of N joints. They are
//! written as RON text and loaded through the normal parser and validation, so they
//! are exactly what a user could write.

use std::fmt::Write;
use std::path::Path;

use super::{Scene, SceneError};

/// RON text of a serial chain of `n` revolute joints (alternating yaw and pitch axes,
/// 0.05 m / 0.1 kg links, 1 kHz physics, 500 Hz PID with gravity compensation, each
/// joint following a small sinusoid).
pub fn chain_ron(n: usize, duration_s: f64) -> String {
    let mut links =
        String::from("(name: \"base\", mass_kg: 1.0, shape: Box(size: (0.1, 0.1, 0.05))),\n");
    let mut joints = String::new();
    let mut traj = String::new();
    for i in 0..n {
        let _ = writeln!(
            links,
            "(name: \"l{i}\", mass_kg: 0.1, com: (0, 0, 0.025), shape: Cylinder(radius: 0.015, length: 0.05), shape_origin: (xyz: (0, 0, 0.025))),"
        );
        let parent = if i == 0 {
            "base".to_string()
        } else {
            format!("l{}", i - 1)
        };
        let axis = if i % 2 == 0 { "(0, 0, 1)" } else { "(0, 1, 0)" };
        let _ = writeln!(
            joints,
            "(name: \"j{i}\", kind: Revolute, parent: \"{parent}\", child: \"l{i}\", origin: (xyz: (0, 0, 0.05)), axis: {axis}, limits: (lower: -2.5, upper: 2.5)),"
        );
        let _ = writeln!(traj, "Sine(joint: \"j{i}\", amplitude: 0.2, freq_hz: 0.5),");
    }
    format!(
        r#"(
    name: "chain{n}",
    seed: 1,
    duration_s: {duration_s},
    arm: Inline(base: "base", links: [
{links}], joints: [
{joints}]),
    servos: {{
        "generic": (gear_ratio: 200, stall_torque_nm: 60.0, no_load_speed_rad_s: 6.0,
                    rotor_inertia_kgm2: 2.5e-7, damping_nm_s_per_rad: 0.05, friction_nm: 0.01,
                    encoder_ticks_per_rev: 4096),
    }},
    default_drive: (servo: "generic", rate_hz: 500,
        controller: Pid(kp: 40.0, ki: 20.0, kd: 1.0, velocity_ff: 0.05, gravity_compensation: true)),
    trajectory: [
{traj}],
)"#
    )
}

/// The validated chain scene.
pub fn chain(n: usize, duration_s: f64) -> Result<Scene, SceneError> {
    Scene::from_ron_str(
        Path::new(&format!("<generated chain{n}>")),
        &chain_ron(n, duration_s),
    )
}
