//! What a scene says about the physical world around the arm (`world: (...)`):
//! ground, self-collision, pairs that never collide, and free or fixed objects; plus
//! the shapes and poses that links and objects share. Data and range checks only;
//! [`super::collide`] builds the colliders. A scene without `world` has no colliders
//! at all: the arm moves in free space, as it always has.

use serde::{Deserialize, Serialize};

/// Simple shapes (metres). Cylinders and capsules run along their local z axis.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
pub enum ShapeSpec {
    Box { size: [f64; 3] },
    Cylinder { radius: f64, length: f64 },
    Capsule { radius: f64, length: f64 },
    Sphere { radius: f64 },
}

impl ShapeSpec {
    /// Every dimension in (0, 10] m.
    pub fn validate(&self, field: &str, problem: &mut dyn FnMut(String, String)) {
        let dims: Vec<(&str, f64)> = match *self {
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
            if !(v > 0.0 && v <= 10.0) {
                problem(
                    format!("{field}.{n}"),
                    format!("{v} is out of range: expected > 0 and <= 10 m"),
                );
            }
        }
    }
}

/// A pose: translation (m) then roll/pitch/yaw (rad, URDF convention R = Rz·Ry·Rx).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OriginSpec {
    #[serde(default)]
    pub xyz: [f64; 3],
    #[serde(default)]
    pub rpy: [f64; 3],
}

impl OriginSpec {
    /// Translation within ±100 m, angles finite.
    pub fn validate(&self, field: &str, problem: &mut dyn FnMut(String, String)) {
        for i in 0..3 {
            let v = self.xyz[i];
            if !(-100.0..=100.0).contains(&v) {
                problem(
                    format!("{field}.xyz[{i}]"),
                    format!("{v} is out of range: expected -100 ..= 100 m"),
                );
            }
            if !self.rpy[i].is_finite() {
                problem(
                    format!("{field}.rpy[{i}]"),
                    format!("{} is not a finite number", self.rpy[i]),
                );
            }
        }
    }
}

/// The scene's `world: (...)` section. Every field has a default; an empty
/// `world: ()` gives the links colliders and self-collision, and nothing else.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorldSpec {
    /// A horizontal plane the arm stands on; `None`: no ground.
    #[serde(default)]
    pub ground: Option<GroundSpec>,
    /// Links of the arm collide with each other (never two links joined by a joint).
    #[serde(default = "yes")]
    pub self_collision: bool,
    /// Further link pairs that never collide (as a URDF's SRDF
    /// `<disable_collisions>`), by link name.
    #[serde(default)]
    pub disable_collisions: Vec<(String, String)>,
    /// Things to touch: free bodies, or obstacles (`fixed: true`).
    #[serde(default)]
    pub objects: Vec<ObjectSpec>,
    /// Coulomb friction coefficient of the links' surfaces, in [0, 10] (a pair uses
    /// the mean of its two).
    #[serde(default = "d_friction")]
    pub link_friction: f64,
}

fn yes() -> bool {
    true
}

impl Default for WorldSpec {
    fn default() -> Self {
        Self {
            ground: None,
            self_collision: true,
            disable_collisions: Vec::new(),
            objects: Vec::new(),
            link_friction: d_friction(),
        }
    }
}

/// The ground plane.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroundSpec {
    /// Height of the plane, m, in [-10, 10] (the arm's base stands at z = 0).
    #[serde(default)]
    pub z: f64,
    /// Coulomb friction coefficient, in [0, 10].
    #[serde(default = "d_friction")]
    pub friction: f64,
}

fn d_friction() -> f64 {
    0.8
}

/// One object in the world.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObjectSpec {
    /// Unique among objects and links.
    pub name: String,
    pub shape: ShapeSpec,
    /// Where it starts (its centre), in the world frame.
    #[serde(default)]
    pub pose: OriginSpec,
    /// Mass, kg, in (0, 1000]; ignored when `fixed`.
    #[serde(default = "d_mass")]
    pub mass_kg: f64,
    /// Coulomb friction coefficient, in [0, 10] (a pair uses the mean of its two).
    #[serde(default = "d_friction")]
    pub friction: f64,
    /// Bounciness, in [0, 1].
    #[serde(default)]
    pub restitution: f64,
    /// An obstacle that never moves.
    #[serde(default)]
    pub fixed: bool,
}

fn d_mass() -> f64 {
    0.1
}

impl WorldSpec {
    /// Range checks, unique names, and link names that exist (`links`).
    pub fn validate(&self, field: &str, links: &[&str], problem: &mut dyn FnMut(String, String)) {
        if let Some(g) = &self.ground {
            if !(-10.0..=10.0).contains(&g.z) {
                problem(
                    format!("{field}.ground.z"),
                    format!("{} is out of range: expected -10 ..= 10 m", g.z),
                );
            }
            check_friction(&format!("{field}.ground.friction"), g.friction, problem);
        }
        check_friction(
            &format!("{field}.link_friction"),
            self.link_friction,
            problem,
        );
        for (i, (a, b)) in self.disable_collisions.iter().enumerate() {
            for (k, n) in [(0, a), (1, b)] {
                if !links.contains(&n.as_str()) {
                    problem(
                        format!("{field}.disable_collisions[{i}].{k}"),
                        format!("unknown link {n:?}: expected one of {links:?}"),
                    );
                }
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        for (i, o) in self.objects.iter().enumerate() {
            let f = format!("{field}.objects[{i}]");
            if o.name.is_empty() {
                problem(format!("{f}.name"), "empty: expected a name".into());
            } else if links.contains(&o.name.as_str()) || seen.contains(&o.name.as_str()) {
                problem(
                    format!("{f}.name"),
                    format!(
                        "{:?} is taken: object names are unique among objects and links",
                        o.name
                    ),
                );
            }
            seen.push(&o.name);
            o.shape.validate(&format!("{f}.shape"), problem);
            o.pose.validate(&format!("{f}.pose"), problem);
            if !(o.mass_kg > 0.0 && o.mass_kg <= 1000.0) {
                problem(
                    format!("{f}.mass_kg"),
                    format!("{} is out of range: expected > 0 and <= 1000 kg", o.mass_kg),
                );
            }
            check_friction(&format!("{f}.friction"), o.friction, problem);
            if !(0.0..=1.0).contains(&o.restitution) {
                problem(
                    format!("{f}.restitution"),
                    format!("{} is out of range: expected 0 ..= 1", o.restitution),
                );
            }
        }
    }
}

fn check_friction(field: &str, v: f64, problem: &mut dyn FnMut(String, String)) {
    if !(0.0..=10.0).contains(&v) {
        problem(
            field.to_string(),
            format!("{v} is out of range: expected 0 ..= 10"),
        );
    }
}

/// The geometry of one of a link's colliders.
#[derive(Debug, Clone, PartialEq)]
pub enum ColliderGeom {
    /// A primitive.
    Shape(ShapeSpec),
    /// An STL mesh (absolute path, scale per axis), collided as its convex hull.
    Mesh {
        file: std::path::PathBuf,
        scale: [f64; 3],
    },
    /// A mesh's convex hull, as validation computed it: its vertices, link frame
    /// before `origin`, m.
    Hull {
        file: std::path::PathBuf,
        points: std::sync::Arc<Vec<[f32; 3]>>,
    },
}

/// One collider of a link, posed in the link frame.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkCollider {
    pub geom: ColliderGeom,
    pub origin: OriginSpec,
}
