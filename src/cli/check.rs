//! `armhil check`: validate a scene and print what it holds; run nothing.
use std::path::Path;
use std::process::ExitCode;

use armhil::scene::JointKind;
use armhil::servo::ServoModel;

use super::load;

pub(super) fn cmd_check(path: &Path) -> anyhow::Result<ExitCode> {
    let scene = load(path)?;
    println!("scene {} ({}): OK", scene.name, scene.source.display());
    println!(
        "  physics {:.0} Hz, {} solver iterations, gravity {:?} m/s², duration {} s, seed {}",
        scene.physics.rate_hz,
        scene.physics.solver_iterations,
        scene.physics.gravity,
        scene.duration_s,
        scene.seed
    );
    let total_mass: f64 = scene.arm.links.iter().map(|l| l.mass).sum();
    println!(
        "  {} links ({:.3} kg), {} joints, {} actuated",
        scene.arm.links.len(),
        total_mass,
        scene.arm.joints.len(),
        scene.joints.len()
    );
    let w = scene
        .joints
        .iter()
        .map(|j| j.servo_name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "  {:<16} {:<9} {:>17} {:<w$} {:>8} {:>8} {:>9} {:>8} {:>8} {:<10} {:>7} {:<8} service",
        "joint",
        "kind",
        "limits (rad|m)",
        "servo",
        "τ max",
        "ω max",
        "armature",
        "ticks",
        "backlash",
        "controller",
        "rate",
        "safe"
    );
    for j in &scene.joints {
        let m = ServoModel::new(&j.servo, j.kind);
        println!(
            "  {:<16} {:<9} {:>8.3}..{:<8.3} {:<w$} {:>8.3} {:>8.2} {:>9.4} {:>8} {:>7.2}° {:<10} {:>5.0}Hz {:<8} {}",
            j.name,
            match j.kind {
                JointKind::Revolute => "revolute",
                JointKind::Prismatic => "prismatic",
                JointKind::Fixed => "fixed",
            },
            j.limits.0,
            j.limits.1,
            j.servo_name,
            j.servo.stall_torque_nm,
            j.servo.no_load_speed_rad_s,
            m.armature(),
            j.servo.encoder_ticks_per_rev,
            j.servo.backlash_rad.to_degrees(),
            j.controller.kind(),
            j.rate_hz,
            format!("{:?}", j.safe_state),
            service(j)
        );
    }
    println!(
        "  trajectory segments: {}, faults: {}, expectations: {}",
        scene.trajectory.len(),
        scene.faults.len(),
        scene.expect.len()
    );
    for f in &scene.faults {
        let until = f.until.map_or(String::new(), |u| format!(" until {u} s"));
        println!(
            "    fault {} on {} at {} s{until}",
            f.kind.describe(),
            f.joint,
            f.at
        );
    }
    for e in &scene.expect {
        println!("    expect {}", e.label());
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a joint's service will run, with its process's limits.
fn service(j: &armhil::scene::JointConfig) -> String {
    if let armhil::control::ControllerSpec::External(e) = &j.controller {
        return format!("zenoh {} (external)", e.key);
    }
    match j.isolation {
        armhil::control::Isolation::Thread => "thread".into(),
        armhil::control::Isolation::Process => {
            let p = &j.process;
            let cpus = if p.cpus.is_empty() {
                "any CPU".to_string()
            } else {
                format!(
                    "CPUs {}",
                    p.cpus
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                )
            };
            format!(
                "process ({} MiB heap, {cpus}, nice {})",
                p.memory_mb, p.nice
            )
        }
    }
}
