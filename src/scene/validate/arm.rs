//! The kinematic tree: inline links and joints or a parsed URDF -> [`ArmModel`], with
//! inertia from shapes, range checks, and a parent-before-child joint order.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use nalgebra::Matrix3;

use super::rpy_matrix;
use crate::physics::spec::{ColliderGeom, LinkCollider};
use crate::scene::error::Problems;
use crate::scene::model::{ArmModel, KinJoint, Link};
use crate::scene::schema::*;
use crate::scene::urdf::UrdfRobot;

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
    shape.validate(field, &mut |f, m| p.push(f, m));
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
    o.validate(field, &mut |f, m| p.push(f, m));
}

pub(super) fn inline_arm(
    base: &str,
    links: &[LinkSpec],
    joints: &[JointSpec],
    dir: &std::path::Path,
    p: &mut Problems,
) -> ArmModel {
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
            // Meshes that are there (see `LinkSpec::meshes`).
            meshes: l
                .meshes
                .iter()
                .map(|m| (dir.join(&m.file), m.origin, m.scale))
                .filter(|(path, _, _)| path.is_file())
                .collect(),
            colliders: match (l.collision, l.shape) {
                (true, Some(shape)) => vec![LinkCollider {
                    geom: ColliderGeom::Shape(shape),
                    origin: l.shape_origin,
                }],
                _ => Vec::new(),
            },
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

pub(super) fn urdf_arm(
    robot: &UrdfRobot,
    urdf_path: &Path,
    field: &str,
    p: &mut Problems,
) -> ArmModel {
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
            colliders: l.colliders.clone(),
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
                urdf: Some(urdf_path.to_path_buf()),
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
    arm.urdf = Some(urdf_path.to_path_buf());
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
        urdf: None,
    }
}
