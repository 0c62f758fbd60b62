//! The arm as Foxglove's 3D panel draws it: one `SceneEntity` per link, locked to
//! the link's frame on `/tf`, with the link's STL meshes (embedded, so no file
//! access is needed on the client's side) or, for links without a mesh, its
//! simplified shape as primitives. Sent whole to each client that subscribes.

use foxglove::messages::{
    Color, CubePrimitive, CylinderPrimitive, ModelPrimitive, Pose, Quaternion, SceneEntity,
    SceneUpdate, SpherePrimitive, Vector3,
};

use crate::physics::spec::{OriginSpec, ShapeSpec};
use crate::scene::Scene;

/// The topic the arm's shapes are published on.
pub const TOPIC: &str = "/arm/shapes";

/// Links that a joint moves are drawn in this colour, the base in [`BASE`] (the GUI's).
const LINK: Color = Color {
    r: 0.35,
    g: 0.62,
    b: 0.86,
    a: 1.0,
};
const BASE: Color = Color {
    r: 0.45,
    g: 0.45,
    b: 0.48,
    a: 1.0,
};

/// The arm's links as a scene update (meshes read now; a mesh that cannot be read
/// falls back to the link's shape).
pub fn scene_update(scene: &Scene) -> SceneUpdate {
    let arm = &scene.arm;
    let entities = arm
        .links
        .iter()
        .enumerate()
        .map(|(i, link)| {
            let color = if i == arm.base { BASE } else { LINK };
            let mut e = SceneEntity {
                frame_id: link.name.clone(),
                id: format!("link/{}", link.name),
                frame_locked: true,
                ..Default::default()
            };
            for (path, origin, scale) in &link.meshes {
                if let Ok(data) = std::fs::read(path) {
                    e.models.push(ModelPrimitive {
                        pose: Some(pose(origin)),
                        scale: Some(v3(*scale)),
                        color: Some(color),
                        override_color: true,
                        media_type: "model/stl".into(),
                        data: data.into(),
                        ..Default::default()
                    });
                }
            }
            if e.models.is_empty()
                && let Some(s) = &link.shape
            {
                primitives(&mut e, s, &link.shape_origin, color);
            }
            e
        })
        .collect();
    SceneUpdate {
        deletions: Vec::new(),
        entities,
    }
}

/// A shape as primitives (cylinders and capsules along their z axis, as in the
/// scene; a capsule is a cylinder with a sphere at each end).
fn primitives(e: &mut SceneEntity, s: &ShapeSpec, origin: &OriginSpec, color: Color) {
    let at = pose(origin);
    match *s {
        ShapeSpec::Box { size } => e.cubes.push(CubePrimitive {
            pose: Some(at),
            size: Some(v3(size)),
            color: Some(color),
        }),
        ShapeSpec::Sphere { radius } => e.spheres.push(SpherePrimitive {
            pose: Some(at),
            size: Some(v3([2.0 * radius; 3])),
            color: Some(color),
        }),
        ShapeSpec::Cylinder { radius, length } | ShapeSpec::Capsule { radius, length } => {
            e.cylinders.push(CylinderPrimitive {
                pose: Some(at),
                size: Some(v3([2.0 * radius, 2.0 * radius, length])),
                bottom_scale: 1.0,
                top_scale: 1.0,
                color: Some(color),
            });
            if matches!(s, ShapeSpec::Capsule { .. }) {
                let r = nalgebra::Rotation3::from_euler_angles(
                    origin.rpy[0],
                    origin.rpy[1],
                    origin.rpy[2],
                );
                for end in [-0.5, 0.5] {
                    let p = nalgebra::Vector3::from(origin.xyz)
                        + r * nalgebra::Vector3::new(0.0, 0.0, end * length);
                    e.spheres.push(SpherePrimitive {
                        pose: Some(Pose {
                            position: Some(v3([p.x, p.y, p.z])),
                            orientation: at.orientation,
                        }),
                        size: Some(v3([2.0 * radius; 3])),
                        color: Some(color),
                    });
                }
            }
        }
    }
}

fn v3(v: [f64; 3]) -> Vector3 {
    Vector3 {
        x: v[0],
        y: v[1],
        z: v[2],
    }
}

/// An origin (xyz, roll-pitch-yaw) as a pose.
fn pose(o: &OriginSpec) -> Pose {
    let q = nalgebra::UnitQuaternion::from_euler_angles(o.rpy[0], o.rpy[1], o.rpy[2]);
    Pose {
        position: Some(v3(o.xyz)),
        orientation: Some(Quaternion {
            x: q.i,
            y: q.j,
            z: q.k,
            w: q.w,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_link_is_an_entity_locked_to_its_frame_with_a_shape() {
        let scene = Scene::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenes/arm6.ron"
        )))
        .expect("arm6");
        let u = scene_update(&scene);
        assert_eq!(u.entities.len(), scene.arm.links.len());
        for (e, l) in u.entities.iter().zip(&scene.arm.links) {
            assert_eq!(e.frame_id, l.name);
            assert!(e.frame_locked);
            let drawn = e.cubes.len() + e.cylinders.len() + e.spheres.len() + e.models.len();
            assert_eq!(
                drawn > 0,
                l.shape.is_some() || !l.meshes.is_empty(),
                "{}",
                l.name
            );
        }
    }

    #[test]
    fn a_capsule_is_a_cylinder_with_a_sphere_at_each_end_along_its_axis() {
        let mut e = SceneEntity::default();
        let origin = OriginSpec {
            xyz: [0.0, 0.0, 1.0],
            rpy: [0.0, 0.0, 0.0],
        };
        primitives(
            &mut e,
            &ShapeSpec::Capsule {
                radius: 0.1,
                length: 0.4,
            },
            &origin,
            LINK,
        );
        assert_eq!(e.cylinders.len(), 1);
        let zs: Vec<f64> = e
            .spheres
            .iter()
            .map(|s| s.pose.and_then(|p| p.position).map_or(f64::NAN, |p| p.z))
            .collect();
        assert_eq!(zs.len(), 2);
        assert!(
            (zs[0] - 0.8).abs() < 1e-12 && (zs[1] - 1.2).abs() < 1e-12,
            "{zs:?}"
        );
    }
}
