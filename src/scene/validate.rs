//! Raw schema -> typed [`Scene`]. Every check pushes a [`Problem`] naming the field and
//! the expected range; all problems are reported together, and a scene with any
//! problem is refused as a whole.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use nalgebra::{Matrix3, Rotation3};

use super::error::{Problems, SceneError};
use super::model::{ArmModel, JointConfig, KinJoint, Link, PhysicsConfig, Scene};
use super::schema::*;
use super::urdf::{self, UrdfRobot};
use crate::control::{ControllerSpec, PidConfig};

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
        } => inline_arm(base, links, joints, &mut p),
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

fn shape_inertia(shape: &ShapeSpec, m: f64) -> [f64; 3] {
    match *shape {
        ShapeSpec::Box { size: [x, y, z] } => [
            m * (y * y + z * z) / 12.0,
            m * (x * x + z * z) / 12.0,
            m * (x * x + y * y) / 12.0,
        ],
        ShapeSpec::Cylinder {
            radius: r,
            length: h,
        }
        | ShapeSpec::Capsule {
            radius: r,
            length: h,
        } => {
            let side = m * (3.0 * r * r + h * h) / 12.0;
            [side, side, m * r * r / 2.0]
        }
        ShapeSpec::Sphere { radius: r } => [0.4 * m * r * r; 3],
    }
}

fn check_shape(field: &str, shape: &ShapeSpec, p: &mut Problems) {
    let dims: Vec<(&str, f64)> = match *shape {
        ShapeSpec::Box { size } => vec![
            ("size[0]", size[0]),
            ("size[1]", size[1]),
            ("size[2]", size[2]),
        ],
        ShapeSpec::Cylinder { radius, length } | ShapeSpec::Capsule { radius, length } => {
            vec![("radius", radius), ("length", length)]
        }
        ShapeSpec::Sphere { radius } => vec![("radius", radius)],
    };
    for (n, v) in dims {
        p.positive(format!("{field}.{n}"), v, 10.0, "m");
    }
}

fn tensor(i: [f64; 6]) -> Matrix3<f64> {
    let [ixx, iyy, izz, ixy, ixz, iyz] = i;
    Matrix3::new(ixx, ixy, ixz, ixy, iyy, iyz, ixz, iyz, izz)
}

fn to_array(m: &Matrix3<f64>) -> [[f64; 3]; 3] {
    let mut a = [[0.0; 3]; 3];
    for (r, row) in a.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = m[(r, c)];
        }
    }
    a
}

fn check_origin(field: &str, o: &OriginSpec, p: &mut Problems) {
    for i in 0..3 {
        p.range(format!("{field}.xyz[{i}]"), o.xyz[i], -100.0, 100.0, "m");
        p.finite(format!("{field}.rpy[{i}]"), o.rpy[i]);
    }
}

fn inline_arm(base: &str, links: &[LinkSpec], joints: &[JointSpec], p: &mut Problems) -> ArmModel {
    let mut out_links = Vec::new();
    for (i, l) in links.iter().enumerate() {
        let f = format!("arm.links[{i}]");
        p.positive(format!("{f}.mass_kg"), l.mass_kg, 10_000.0, "kg");
        for k in 0..3 {
            p.range(format!("{f}.com[{k}]"), l.com[k], -10.0, 10.0, "m");
        }
        check_origin(&format!("{f}.shape_origin"), &l.shape_origin, p);
        if let Some(s) = &l.shape {
            check_shape(&format!("{f}.shape"), s, p);
        }
        let inertia = match (&l.inertia, &l.shape) {
            (Some(i), _) => {
                let v = [i.ixx, i.iyy, i.izz, i.ixy, i.ixz, i.iyz];
                for (n, x) in ["ixx", "iyy", "izz"].iter().zip(&v[..3]) {
                    p.positive(format!("{f}.inertia.{n}"), *x, 1e4, "kg·m²");
                }
                for (n, x) in ["ixy", "ixz", "iyz"].iter().zip(&v[3..]) {
                    p.range(format!("{f}.inertia.{n}"), *x, -1e4, 1e4, "kg·m²");
                }
                let (a, b, c) = (i.ixx, i.iyy, i.izz);
                if a + b < c * (1.0 - 1e-6) || a + c < b * (1.0 - 1e-6) || b + c < a * (1.0 - 1e-6)
                {
                    p.push(
                        format!("{f}.inertia"),
                        "principal moments violate the triangle inequality (ixx + iyy >= izz, etc.): not a physical body",
                    );
                }
                tensor(v)
            }
            (None, Some(s)) => {
                let d = shape_inertia(s, l.mass_kg.max(0.0));
                let r = rpy_matrix(l.shape_origin.rpy);
                r * Matrix3::from_diagonal(&d.into()) * r.transpose()
            }
            (None, None) => {
                p.push(
                    format!("{f}.inertia"),
                    "missing: give `inertia` or a `shape` to compute it from",
                );
                Matrix3::identity() * 1e-3
            }
        };
        out_links.push(Link {
            name: l.name.clone(),
            mass: l.mass_kg,
            com: l.com,
            inertia: to_array(&inertia),
            shape: l.shape,
            shape_origin: l.shape_origin,
            meshes: Vec::new(),
        });
    }
    let mut kin = Vec::new();
    for (i, j) in joints.iter().enumerate() {
        let f = format!("arm.joints[{i}]");
        check_origin(&format!("{f}.origin"), &j.origin, p);
        let limits = match (j.kind, j.limits) {
            (JointKind::Fixed, _) => None,
            (_, None) => {
                p.push(
                    format!("{f}.limits"),
                    "missing: a revolute or prismatic joint needs (lower: .., upper: ..)",
                );
                None
            }
            (_, Some(l)) => Some((l.lower, l.upper)),
        };
        kin.push(RawJoint {
            field: f,
            name: j.name.clone(),
            kind: j.kind,
            parent: j.parent.clone(),
            child: j.child.clone(),
            origin: j.origin,
            axis: j.axis,
            limits,
            initial: j.initial,
        });
    }
    build_tree(base, out_links, kin, "arm", p)
}

fn urdf_arm(robot: &UrdfRobot, urdf_path: &Path, field: &str, p: &mut Problems) -> ArmModel {
    let mut links = Vec::new();
    for l in &robot.links {
        let r = rpy_matrix(l.inertial_origin.rpy);
        let inertia = r * tensor(l.inertia) * r.transpose();
        links.push(Link {
            name: l.name.clone(),
            mass: l.mass,
            com: l.inertial_origin.xyz,
            inertia: to_array(&inertia),
            shape: None,
            shape_origin: OriginSpec::default(),
            meshes: l.meshes.clone(),
        });
    }
    // The base is the link that is nobody's child.
    let children: BTreeSet<&str> = robot.joints.iter().map(|j| j.child.as_str()).collect();
    let roots: Vec<&str> = robot
        .links
        .iter()
        .map(|l| l.name.as_str())
        .filter(|n| !children.contains(n))
        .collect();
    let base = match roots.as_slice() {
        [one] => one.to_string(),
        _ => {
            p.push(
                format!("{field} ({})", urdf_path.display()),
                format!(
                    "expected exactly one root link, found {}: {:?}",
                    roots.len(),
                    roots
                ),
            );
            return ArmModel {
                base: 0,
                links,
                joints: Vec::new(),
            };
        }
    };
    let joints = robot
        .joints
        .iter()
        .map(|j| RawJoint {
            field: format!("{field} joint \"{}\"", j.name),
            name: j.name.clone(),
            kind: j.kind,
            parent: j.parent.clone(),
            child: j.child.clone(),
            origin: j.origin,
            axis: j.axis,
            limits: if j.continuous || j.kind == JointKind::Fixed {
                None
            } else {
                Some((j.lower, j.upper))
            },
            initial: 0.0_f64.clamp(j.lower.min(j.upper), j.upper.max(j.lower)),
        })
        .collect();
    // Massless or inertia-less links (URDF frames such as a tool tip) are fine when
    // fixed to a parent: they get a negligible mass and inertia. A link that a joint
    // moves must be a physical body.
    let mut arm = build_tree(&base, links, joints, field, p);
    for (i, l) in arm.links.iter_mut().enumerate() {
        let moving = arm
            .joints
            .iter()
            .any(|j| j.child == i && j.kind != JointKind::Fixed);
        let diag_ok = l.inertia[0][0] > 0.0 && l.inertia[1][1] > 0.0 && l.inertia[2][2] > 0.0;
        if moving {
            if !(l.mass > 0.0 && l.mass.is_finite()) {
                p.push(
                    format!("{field} link \"{}\".mass", l.name),
                    format!(
                        "{} is out of range: a link moved by a joint needs mass > 0 kg",
                        l.mass
                    ),
                );
            }
            if !diag_ok {
                p.push(
                    format!("{field} link \"{}\".inertia", l.name),
                    "diagonal (ixx, iyy, izz) must be > 0 kg·m²",
                );
            }
        } else if l.mass <= 1e-6 || !diag_ok {
            l.mass = l.mass.max(1e-6);
            l.inertia = [[1e-12, 0.0, 0.0], [0.0, 1e-12, 0.0], [0.0, 0.0, 1e-12]];
        }
    }
    arm
}

struct RawJoint {
    field: String,
    name: String,
    kind: JointKind,
    parent: String,
    child: String,
    origin: OriginSpec,
    axis: [f64; 3],
    limits: Option<(f64, f64)>,
    initial: f64,
}

fn build_tree(
    base: &str,
    links: Vec<Link>,
    joints: Vec<RawJoint>,
    field: &str,
    p: &mut Problems,
) -> ArmModel {
    let mut index = HashMap::new();
    for (i, l) in links.iter().enumerate() {
        if index.insert(l.name.clone(), i).is_some() {
            p.push(
                format!("{field}.links[{i}].name"),
                format!("duplicate link name \"{}\"", l.name),
            );
        }
    }
    let base_idx = match index.get(base) {
        Some(&b) => b,
        None => {
            p.push(
                format!("{field}.base"),
                format!("\"{base}\" is not one of the links"),
            );
            0
        }
    };
    let mut names = BTreeSet::new();
    let mut parent_of: HashMap<usize, usize> = HashMap::new();
    let mut resolved = Vec::new();
    for j in joints {
        if !names.insert(j.name.clone()) {
            p.push(
                format!("{}.name", j.field),
                format!("duplicate joint name \"{}\"", j.name),
            );
        }
        let (Some(&pa), Some(&ch)) = (index.get(&j.parent), index.get(&j.child)) else {
            p.push(
                &j.field,
                format!(
                    "parent \"{}\" or child \"{}\" is not a link",
                    j.parent, j.child
                ),
            );
            continue;
        };
        if ch == base_idx {
            p.push(
                format!("{}.child", j.field),
                "the base link cannot be a joint's child",
            );
        }
        if parent_of.insert(ch, pa).is_some() {
            p.push(
                format!("{}.child", j.field),
                format!("link \"{}\" has two parent joints", j.child),
            );
        }
        let n = (j.axis[0].powi(2) + j.axis[1].powi(2) + j.axis[2].powi(2)).sqrt();
        let axis = if j.kind == JointKind::Fixed {
            [1.0, 0.0, 0.0]
        } else if !(n.is_finite() && n > 1e-9) {
            p.push(
                format!("{}.axis", j.field),
                "must be a non-zero finite vector",
            );
            [1.0, 0.0, 0.0]
        } else {
            [j.axis[0] / n, j.axis[1] / n, j.axis[2] / n]
        };
        if let Some((lo, hi)) = j.limits {
            p.finite(format!("{}.limits.lower", j.field), lo);
            p.finite(format!("{}.limits.upper", j.field), hi);
            if lo > hi {
                p.push(
                    format!("{}.limits", j.field),
                    format!("lower {lo} > upper {hi}: expected lower <= upper"),
                );
            } else if !(lo - 1e-9..=hi + 1e-9).contains(&j.initial) {
                p.push(
                    format!("{}.initial", j.field),
                    format!("{} is out of range: expected {lo} ..= {hi}", j.initial),
                );
            }
        }
        p.finite(format!("{}.initial", j.field), j.initial);
        resolved.push(KinJoint {
            name: j.name,
            kind: j.kind,
            parent: pa,
            child: ch,
            origin: j.origin,
            axis,
            limits: j.limits,
            initial: j.initial,
        });
    }
    // Topological order from the base; anything unreachable is a cycle or a second tree.
    let mut order = Vec::new();
    let mut attached = vec![false; links.len()];
    if base_idx < attached.len() {
        attached[base_idx] = true;
    }
    let mut progress = true;
    let mut remaining: Vec<KinJoint> = resolved;
    while progress && !remaining.is_empty() {
        progress = false;
        let mut rest = Vec::new();
        for j in remaining {
            if attached[j.parent] && !attached[j.child] {
                attached[j.child] = true;
                order.push(j);
                progress = true;
            } else {
                rest.push(j);
            }
        }
        remaining = rest;
    }
    for j in &remaining {
        p.push(
            format!("{field} joint \"{}\"", j.name),
            "is not connected to the base (cycle or separate tree)",
        );
    }
    for (i, l) in links.iter().enumerate() {
        if !attached[i] && !p.0.iter().any(|q| q.message.contains("not connected")) {
            p.push(
                format!("{field} link \"{}\"", l.name),
                "is not attached to the base by any joint",
            );
        }
    }
    ArmModel {
        base: base_idx,
        links,
        joints: order,
    }
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
}

fn finish(
    path: &Path,
    name: String,
    file: SceneFile,
    arm: ArmModel,
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
        });
    }
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
    })
}

fn join(s: &BTreeSet<&str>) -> String {
    s.iter().copied().collect::<Vec<_>>().join(", ")
}

fn check_trajectory(traj: &[TrajectorySpec], joints: &[JointConfig], p: &mut Problems) {
    let by_name: HashMap<&str, &JointConfig> =
        joints.iter().map(|j| (j.name.as_str(), j)).collect();
    let all: BTreeSet<&str> = by_name.keys().copied().collect();
    let mut covered = BTreeSet::new();
    let mut claim = |field: String, name: &str, p: &mut Problems| -> Option<&JointConfig> {
        match by_name.get(name) {
            None => {
                p.push(
                    field,
                    format!(
                        "\"{name}\" is not an actuated joint (joints: {})",
                        join(&all)
                    ),
                );
                None
            }
            Some(j) => {
                if !covered.insert(name.to_string()) {
                    p.push(
                        field,
                        format!("joint \"{name}\" is driven by two trajectory segments"),
                    );
                }
                Some(*j)
            }
        }
    };
    for (i, seg) in traj.iter().enumerate() {
        let f = format!("trajectory[{i}]");
        match seg {
            TrajectorySpec::Hold { joints } => {
                for (k, n) in joints.iter().enumerate() {
                    claim(format!("{f}.joints[{k}]"), n, p);
                }
            }
            TrajectorySpec::Waypoints { joints, points } => {
                let cfgs: Vec<Option<&JointConfig>> = joints
                    .iter()
                    .enumerate()
                    .map(|(k, n)| claim(format!("{f}.joints[{k}]"), n, p))
                    .collect();
                if points.is_empty() {
                    p.push(format!("{f}.points"), "needs at least one waypoint");
                }
                let mut last_t = f64::NEG_INFINITY;
                for (k, w) in points.iter().enumerate() {
                    let wf = format!("{f}.points[{k}]");
                    p.range(format!("{wf}.t"), w.t, 0.0, MAX_DURATION_S, "s");
                    if w.t <= last_t {
                        p.push(format!("{wf}.t"), format!("{} is not after the previous waypoint ({last_t} s): times must increase", w.t));
                    }
                    last_t = w.t;
                    if w.q.len() != joints.len() {
                        p.push(
                            format!("{wf}.q"),
                            format!(
                                "has {} values, expected {} (one per listed joint)",
                                w.q.len(),
                                joints.len()
                            ),
                        );
                        continue;
                    }
                    for (q, cfg) in w.q.iter().zip(&cfgs) {
                        if let Some(c) = cfg {
                            p.range(
                                format!("{wf}.q[\"{}\"]", c.name),
                                *q,
                                c.limits.0,
                                c.limits.1,
                                "(joint limits)",
                            );
                        }
                    }
                }
            }
            TrajectorySpec::Sine {
                joint,
                amplitude,
                freq_hz,
                center,
                phase,
                ramp_s,
            } => {
                let cfg = claim(format!("{f}.joint"), joint, p);
                p.range(format!("{f}.amplitude"), *amplitude, 0.0, 10.0, "rad or m");
                p.positive(format!("{f}.freq_hz"), *freq_hz, 100.0, "Hz");
                p.finite(format!("{f}.phase"), *phase);
                p.range(format!("{f}.ramp_s"), *ramp_s, 0.0, 3600.0, "s");
                if let Some(c) = cfg {
                    let mid = center.unwrap_or(c.initial);
                    p.finite(format!("{f}.center"), mid);
                    let shift = if *ramp_s > 0.0 {
                        amplitude * phase.sin()
                    } else {
                        0.0
                    };
                    if mid - shift - amplitude < c.limits.0 || mid - shift + amplitude > c.limits.1
                    {
                        p.push(
                            format!("{f}.amplitude"),
                            format!(
                                "center {mid} ± {amplitude} leaves the joint limits {} ..= {}",
                                c.limits.0, c.limits.1
                            ),
                        );
                    }
                }
            }
        }
    }
}
