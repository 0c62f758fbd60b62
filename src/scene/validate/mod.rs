//! Raw schema -> typed [`Scene`]. Every check pushes a [`Problem`] naming the field and
//! the expected range; all problems are reported together, and a scene with any
//! problem is refused as a whole.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use nalgebra::{Matrix3, Rotation3};

use arm::{inline_arm, urdf_arm};
use traj::check_trajectory;

mod arm;
mod traj;

use super::error::{Problems, SceneError};
use super::model::{ArmModel, JointConfig, PhysicsConfig, Scene};
use super::schema::*;
use super::urdf::{self, UrdfRobot};
use crate::control::spec::{ControllerSpec, PidConfig};
use crate::servo::spec::ServoSpec;

/// Longest run accepted, seconds (one day).
pub const MAX_DURATION_S: f64 = 86_400.0;

/// Rotation matrix of a URDF rpy triple (R = Rz(yaw)·Ry(pitch)·Rx(roll)).
pub fn rpy_matrix(rpy: [f64; 3]) -> Matrix3<f64> {
    *Rotation3::from_euler_angles(rpy[0], rpy[1], rpy[2]).matrix()
}

pub(super) fn validate(path: &Path, file: SceneFile) -> Result<Scene, SceneError> {
    let mut p = Problems::default();
    let name = file.name.clone().unwrap_or_else(|| stem(path));
    p.positive("duration_s", file.duration_s, MAX_DURATION_S, "s");
    let phys = &file.physics;
    p.range("physics.rate_hz", phys.rate_hz, 100.0, 20_000.0, "Hz");
    for (i, g) in phys.gravity.iter().enumerate() {
        p.range(format!("physics.gravity[{i}]"), *g, -100.0, 100.0, "m/s²");
    }
    if !(1..=64).contains(&phys.solver_iterations) {
        p.push(
            "physics.solver_iterations",
            format!(
                "{} is out of range: expected 1 ..= 64",
                phys.solver_iterations
            ),
        );
    }

    let arm = match &file.arm {
        ArmSpec::Inline {
            base,
            links,
            joints,
        } => inline_arm(
            base,
            links,
            joints,
            path.parent().unwrap_or(Path::new(".")),
            &mut p,
        ),
        ArmSpec::Urdf { path: rel } => {
            let urdf_path = path.parent().unwrap_or(Path::new(".")).join(rel);
            let robot = read_urdf(&urdf_path)?;
            urdf_arm(&robot, &urdf_path, "arm.Urdf", &mut p)
        }
    };
    finish(path, name, file, arm, p)
}

/// A URDF given directly as the scene: every revolute/prismatic joint gets a default
/// servo (torque and speed from the URDF `<limit>`), a PID with gravity compensation
/// and a hold-position trajectory.
pub(super) fn from_urdf_text(path: &Path, text: &str) -> Result<Scene, SceneError> {
    let robot = urdf::parse(path, text).map_err(|message| SceneError::Urdf {
        file: path.to_path_buf(),
        message,
    })?;
    let mut servos = BTreeMap::new();
    let mut drives = BTreeMap::new();
    for j in &robot.joints {
        if j.kind == JointKind::Fixed {
            continue;
        }
        let servo = default_servo(j.effort, j.velocity, j.damping, j.friction);
        let controller = default_controller(&servo);
        let key = format!("urdf:{}", j.name);
        servos.insert(key.clone(), servo);
        drives.insert(
            j.name.clone(),
            DriveSpec {
                servo: key,
                controller,
                rate_hz: 500.0,
                safe_state: SafeState::Hold,
                supervision: Default::default(),
                backend: BackendSpec::Sim,
                on_link_loss: LinkLossPolicy::HoldInSim,
                isolation: Default::default(),
                process: None,
            },
        );
    }
    let file = SceneFile {
        name: Some(robot.name.clone()),
        seed: 0,
        duration_s: 5.0,
        physics: PhysicsSpec::default(),
        arm: ArmSpec::Urdf {
            path: path.display().to_string(),
        },
        servos,
        default_drive: None,
        drives,
        trajectory: Vec::new(),
        faults: Vec::new(),
        expect: Vec::new(),
        serve: None,
        world: None,
    };
    let mut p = Problems::default();
    let arm = urdf_arm(&robot, path, "urdf", &mut p);
    finish(path, robot.name.clone(), file, arm, p)
}

/// A servo for a URDF joint that names only effort and velocity.
pub fn default_servo(effort: f64, velocity: f64, damping: f64, friction: f64) -> ServoSpec {
    let gear_ratio = 200.0;
    ServoSpec {
        gear_ratio,
        stall_torque_nm: if effort > 0.0 { effort } else { 10.0 },
        no_load_speed_rad_s: if velocity > 0.0 { velocity } else { 5.0 },
        // 0.01 kg·m² of armature at the joint: a typical small geared servo.
        rotor_inertia_kgm2: 0.01 / (gear_ratio * gear_ratio),
        damping_nm_s_per_rad: damping.max(0.0),
        friction_nm: friction.max(0.0),
        encoder_ticks_per_rev: 4096,
        backlash_rad: 0.0,
        noise_ticks: 0.0,
        velocity_resolution_rad_s: 0.0,
        hold_kp: 20.0,
        hold_kd: 0.5,
        protection: Some(Default::default()),
    }
}

fn default_controller(servo: &ServoSpec) -> ControllerSpec {
    let kp = 2.0 * servo.stall_torque_nm;
    ControllerSpec::Pid(PidConfig {
        kp,
        ki: 2.0 * kp,
        kd: 0.05 * servo.stall_torque_nm,
        velocity_ff: servo.damping_nm_s_per_rad,
        gravity_compensation: true,
        integral_limit_nm: None,
    })
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scene".into())
}

fn read_urdf(urdf_path: &Path) -> Result<UrdfRobot, SceneError> {
    let text = std::fs::read_to_string(urdf_path).map_err(|source| SceneError::Io {
        file: urdf_path.to_path_buf(),
        source,
    })?;
    urdf::parse(urdf_path, &text).map_err(|message| SceneError::Urdf {
        file: urdf_path.to_path_buf(),
        message,
    })
}
fn check_servo(f: &str, s: &ServoSpec, p: &mut Problems) {
    p.positive(
        format!("{f}.gear_ratio"),
        s.gear_ratio,
        100_000.0,
        "(motor:output)",
    );
    p.positive(
        format!("{f}.stall_torque_nm"),
        s.stall_torque_nm,
        10_000.0,
        "N·m",
    );
    p.positive(
        format!("{f}.no_load_speed_rad_s"),
        s.no_load_speed_rad_s,
        1_000.0,
        "rad/s",
    );
    p.range(
        format!("{f}.rotor_inertia_kgm2"),
        s.rotor_inertia_kgm2,
        0.0,
        1.0,
        "kg·m²",
    );
    p.range(
        format!("{f}.damping_nm_s_per_rad"),
        s.damping_nm_s_per_rad,
        0.0,
        10_000.0,
        "N·m·s/rad",
    );
    p.range(
        format!("{f}.friction_nm"),
        s.friction_nm,
        0.0,
        10_000.0,
        "N·m",
    );
    if !(16..=1_048_576).contains(&s.encoder_ticks_per_rev) {
        p.push(
            format!("{f}.encoder_ticks_per_rev"),
            format!(
                "{} is out of range: expected 16 ..= 1048576",
                s.encoder_ticks_per_rev
            ),
        );
    }
    p.range(format!("{f}.backlash_rad"), s.backlash_rad, 0.0, 0.1, "rad");
    p.range(
        format!("{f}.noise_ticks"),
        s.noise_ticks,
        0.0,
        100.0,
        "ticks",
    );
    p.range(
        format!("{f}.velocity_resolution_rad_s"),
        s.velocity_resolution_rad_s,
        0.0,
        10.0,
        "rad/s",
    );
    p.range(format!("{f}.hold_kp"), s.hold_kp, 0.0, 1e6, "N·m/rad");
    p.range(format!("{f}.hold_kd"), s.hold_kd, 0.0, 1e5, "N·m·s/rad");
    if let Some(pr) = &s.protection {
        pr.validate(&format!("{f}.protection"), &mut |fl, m| p.push(fl, m));
    }
}

fn finish(
    path: &Path,
    name: String,
    file: SceneFile,
    mut arm: ArmModel,
    mut p: Problems,
) -> Result<Scene, SceneError> {
    for (n, s) in &file.servos {
        check_servo(&format!("servos[\"{n}\"]"), s, &mut p);
    }
    let actuated: Vec<usize> = arm
        .joints
        .iter()
        .enumerate()
        .filter(|(_, j)| j.kind != JointKind::Fixed)
        .map(|(i, _)| i)
        .collect();
    let known: BTreeSet<&str> = arm.joints.iter().map(|j| j.name.as_str()).collect();
    for n in file.drives.keys() {
        if !known.contains(n.as_str()) {
            p.push(
                format!("drives[\"{n}\"]"),
                format!(
                    "\"{n}\" is not a joint of the arm (joints: {})",
                    join(&known)
                ),
            );
        } else if arm
            .joints
            .iter()
            .any(|j| &j.name == n && j.kind == JointKind::Fixed)
        {
            p.push(
                format!("drives[\"{n}\"]"),
                format!("\"{n}\" is a fixed joint and cannot be driven"),
            );
        }
    }
    let mut checked_default = false;
    let mut joints = Vec::new();
    for &k in &actuated {
        let kj = &arm.joints[k];
        let (field, drive) = match (file.drives.get(&kj.name), &file.default_drive) {
            (Some(d), _) => (format!("drives[\"{}\"]", kj.name), d),
            (None, Some(d)) => ("default_drive".to_string(), d),
            (None, None) => {
                p.push(
                    format!("drives[\"{}\"]", kj.name),
                    "missing: every actuated joint needs a drive (or set default_drive)",
                );
                continue;
            }
        };
        let check = field != "default_drive" || !checked_default;
        if field == "default_drive" {
            checked_default = true;
        }
        let Some(servo) = file.servos.get(&drive.servo) else {
            if check {
                p.push(
                    format!("{field}.servo"),
                    format!(
                        "\"{}\" is not in servos (defined: {})",
                        drive.servo,
                        join(&file.servos.keys().map(String::as_str).collect())
                    ),
                );
            }
            continue;
        };
        if check {
            if !drive.rate_hz.is_finite()
                || drive.rate_hz < 1.0
                || drive.rate_hz > file.physics.rate_hz
            {
                p.push(
                    format!("{field}.rate_hz"),
                    format!(
                        "{} is out of range: expected 1 ..= {} Hz (the controller cannot run faster than physics.rate_hz)",
                        drive.rate_hz, file.physics.rate_hz
                    ),
                );
            }
            drive
                .controller
                .validate(&format!("{field}.controller"), servo, &mut |f, m| {
                    p.push(f, m)
                });
            drive.supervision.validate(&field, &mut |f, m| p.push(f, m));
            if let Some(limits) = &drive.process {
                if drive.isolation != crate::control::spec::Isolation::Process {
                    p.push(
                        format!("{field}.process"),
                        "limits apply only to a service in its own process: set isolation: Process"
                            .to_string(),
                    );
                }
                limits.validate(&format!("{field}.process"), cpus_online(), &mut |f, m| {
                    p.push(f, m)
                });
            }
        }
        joints.push(JointConfig {
            name: kj.name.clone(),
            kin: k,
            kind: kj.kind,
            servo_name: drive.servo.clone(),
            servo: servo.clone(),
            controller: drive.controller.clone(),
            rate_hz: drive.rate_hz,
            safe_state: drive.safe_state,
            initial: kj.initial,
            limits: kj.limits.unwrap_or((f64::NEG_INFINITY, f64::INFINITY)),
            backend: drive.backend.clone(),
            on_link_loss: drive.on_link_loss,
            isolation: drive.isolation,
            process: service_program(
                path,
                &field,
                drive.process.clone().unwrap_or_default(),
                &mut p,
            ),
            supervision: drive.supervision,
            recorded: recorded_trace(path, &field, &kj.name, &drive.backend, &mut p),
        });
    }
    check_backends(&joints, &mut p);
    check_trajectory(&file.trajectory, &joints, &mut p);
    let names: Vec<&str> = joints.iter().map(|j| j.name.as_str()).collect();
    for (i, f) in file.faults.iter().enumerate() {
        f.validate(
            &format!("faults[{i}]"),
            &names,
            file.duration_s,
            &mut |fl, m| p.push(fl, m),
        );
    }
    for (i, e) in file.expect.iter().enumerate() {
        e.validate(
            &format!("expect[{i}]"),
            &names,
            file.duration_s,
            &mut |fl, m| p.push(fl, m),
        );
    }
    if let Some(s) = &file.serve {
        s.validate("serve", &names, &mut |fl, m| p.push(fl, m));
    }
    check_world(&file, &arm, &mut p);
    if file.world.is_some() {
        hulls(&mut arm, &mut p);
    }
    if !p.0.is_empty() {
        return Err(SceneError::Invalid {
            file: path.to_path_buf(),
            problems: p.0,
        });
    }
    Ok(Scene {
        name,
        source: PathBuf::from(path),
        seed: file.seed,
        duration_s: file.duration_s,
        physics: PhysicsConfig {
            rate_hz: file.physics.rate_hz,
            gravity: file.physics.gravity,
            solver_iterations: file.physics.solver_iterations,
        },
        arm,
        joints,
        trajectory: file.trajectory,
        faults: file.faults,
        expect: file.expect,
        serve: file.serve,
        world: file.world,
    })
}

/// The world section against the arm's links, and the expectations that judge it.
fn check_world(file: &SceneFile, arm: &ArmModel, p: &mut Problems) {
    let links: Vec<&str> = arm.links.iter().map(|l| l.name.as_str()).collect();
    if let Some(w) = &file.world {
        w.validate("world", &links, &mut |fl, m| p.push(fl, m));
    }
    let objects: Vec<&str> = file
        .world
        .iter()
        .flat_map(|w| w.objects.iter().map(|o| o.name.as_str()))
        .collect();
    let world = file
        .world
        .as_ref()
        .map(|_| (links.as_slice(), objects.as_slice()));
    for (i, e) in file.expect.iter().enumerate() {
        e.validate_world(
            &format!("expect[{i}]"),
            world,
            file.duration_s,
            &mut |fl, m| p.push(fl, m),
        );
    }
}

/// With a world, each mesh a link collides as becomes its convex hull (a file that
/// cannot be used is a problem naming the link and the file).
fn hulls(arm: &mut ArmModel, p: &mut Problems) {
    use crate::physics::spec::ColliderGeom;
    for l in &mut arm.links {
        for (k, c) in l.colliders.iter_mut().enumerate() {
            let ColliderGeom::Mesh { file, scale } = &c.geom else {
                continue;
            };
            match super::mesh::hull(file, *scale) {
                Ok(points) => {
                    c.geom = ColliderGeom::Hull {
                        file: file.clone(),
                        points,
                    }
                }
                Err(e) => p.push(format!("arm.links[{:?}].collision[{k}]", l.name), e),
            }
        }
    }
}

/// Loads the trace of a `Recorded` backend (relative to the scene file).
fn recorded_trace(
    scene: &Path,
    field: &str,
    joint: &str,
    backend: &BackendSpec,
    p: &mut Problems,
) -> Option<super::Trace> {
    let BackendSpec::Recorded { file, joint: from } = backend else {
        return None;
    };
    let from = from.as_deref().unwrap_or(joint);
    let path = scene.parent().unwrap_or(Path::new(".")).join(file);
    let rec = match crate::recording::read(&path) {
        Ok(r) => r,
        Err(e) => {
            p.push(format!("{field}.backend.file"), e.to_string());
            return None;
        }
    };
    match rec.joints.get(from) {
        Some(v) if v.len() >= 2 => Some(super::Trace(std::sync::Arc::new(
            v.iter()
                .map(|s| (s.t, s.measured, s.measured_vel))
                .collect(),
        ))),
        _ => {
            p.push(
                format!("{field}.backend.joint"),
                format!(
                    "{} has no recorded joint \"{from}\" (recorded: {})",
                    path.display(),
                    rec.joints.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
            None
        }
    }
}

pub(super) fn join(s: &BTreeSet<&str>) -> String {
    s.iter().copied().collect::<Vec<_>>().join(", ")
}

/// Hardware backends: IDs and rates in range, one protocol and baud per port, one joint
/// per (port, id).
fn check_backends(joints: &[JointConfig], p: &mut Problems) {
    let mut buses: BTreeMap<&str, (BusProtocol, u32, &str)> = BTreeMap::new();
    let mut used: BTreeMap<(&str, u8), &str> = BTreeMap::new();
    for j in joints {
        let BackendSpec::Serial {
            port,
            protocol,
            id,
            baud,
            zero_tick,
        } = &j.backend
        else {
            continue;
        };
        let f = format!("drives[\"{}\"].backend", j.name);
        if *id > 252 {
            p.push(
                format!("{f}.id"),
                format!("{id} is out of range: expected 0 ..= 252"),
            );
        }
        if !(9_600..=10_500_000).contains(baud) {
            p.push(
                format!("{f}.baud"),
                format!("{baud} is out of range: expected 9600 ..= 10500000 bit/s"),
            );
        }
        if *zero_tick > 4095 {
            p.push(
                format!("{f}.zero_tick"),
                format!("{zero_tick} is out of range: expected 0 ..= 4095"),
            );
        }
        if let Err(why) = crate::hardware::spec::parse(port) {
            p.push(format!("{f}.port"), why);
        }
        match buses.get(port.as_str()) {
            Some((pr, b, other)) if pr != protocol || b != baud => p.push(
                &f,
                format!("port {port:?} is already used by joint \"{other}\" with {pr:?} at {b} bit/s: one protocol and baud per bus"),
            ),
            Some(_) => {}
            None => {
                buses.insert(port, (*protocol, *baud, &j.name));
            }
        }
        if let Some(other) = used.insert((port.as_str(), *id), &j.name) {
            p.push(
                format!("{f}.id"),
                format!("ID {id} on {port:?} is also joint \"{other}\""),
            );
        }
    }
}

/// CPUs online on this machine (for `process.cpus`).
fn cpus_online() -> usize {
    // SAFETY: sysconf only reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// Resolves a service `program` against the scene's directory; it must be an
/// executable file.
fn service_program(
    scene: &Path,
    field: &str,
    mut limits: crate::control::spec::ProcessLimits,
    p: &mut Problems,
) -> crate::control::spec::ProcessLimits {
    use std::os::unix::fs::PermissionsExt;
    if let Some(prog) = &limits.program {
        let path = scene.parent().unwrap_or(Path::new(".")).join(prog);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => {
                limits.program = Some(path.display().to_string());
            }
            Ok(_) => p.push(
                format!("{field}.process.program"),
                format!("{}: not an executable file (chmod +x?)", path.display()),
            ),
            Err(e) => p.push(
                format!("{field}.process.program"),
                format!("{}: {e}", path.display()),
            ),
        }
    }
    limits
}
