//! The world the arm touches, when the scene has one: link colliders, the ground,
//! objects, which pairs may collide, and what is touching what after each step.
//!
//! Link colliders carry no mass (the link's inertia is the scene's). Two links of one
//! arm never collide when a joint joins them (also across a backlash gear body, which
//! rapier's own rule would miss), when the scene names the pair in
//! `disable_collisions`, or when `self_collision` is off: a pair filter (rapier's
//! contact-pair hook) decides, set on link colliders only, so object and ground pairs
//! cost nothing extra. Dynamic objects use CCD, so a small fast part cannot pass
//! through a link in one step.

use std::collections::HashMap;

use rapier3d::math::{Pose, Vector};
use rapier3d::prelude::*;

use super::spec::{ColliderGeom, ShapeSpec, WorldSpec};

/// Something that can touch: a link (index into the world's link bodies, all arm
/// copies in order), an object (index into the scene's objects), or the ground.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Toucher {
    Link(usize),
    Object(usize),
    Ground,
}

/// Two things in contact after a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Touch {
    /// The pair, in order (`a < b`).
    pub a: Toucher,
    pub b: Toucher,
    /// Normal force between them over the step, N.
    pub force_n: f64,
    /// Deepest interpenetration, m (≥ 0).
    pub depth_m: f64,
    /// Where (the deepest contact point), world frame, m.
    pub point: [f32; 3],
    /// Contact normal, world frame, pointing from `a` to `b`.
    pub normal: [f32; 3],
}

/// Which pairs of link bodies never collide. A link body carries its arm copy and
/// link index in its `user_data` (copy << 32 | link + 1; 0: not a link), so the
/// filter, which rapier calls for every candidate pair each step, reads two bodies and
/// one bit instead of hashing.
pub(super) struct PairFilter {
    links: usize,
    /// `never[a * links + b]`: links a and b of one copy never collide.
    never: Vec<bool>,
    self_collision: bool,
}

/// What a link body's `user_data` says: (copy, link).
fn link_tag(copy: usize, link: usize) -> u128 {
    ((copy as u128) << 32) | (link as u128 + 1)
}

fn untag(v: u128) -> Option<(u128, usize)> {
    let link = (v & 0xffff_ffff) as usize;
    (link > 0).then(|| (v >> 32, link - 1))
}

impl PhysicsHooks for PairFilter {
    fn filter_contact_pair(&self, c: &PairFilterContext) -> Option<SolverFlags> {
        let tag = |h: Option<RigidBodyHandle>| {
            h.and_then(|h| c.bodies.get(h))
                .and_then(|b| untag(b.user_data))
        };
        if let (Some((ca, a)), Some((cb, b))) = (tag(c.rigid_body1), tag(c.rigid_body2))
            && ca == cb
            && (!self.self_collision || self.never.get(a * self.links + b).copied().unwrap_or(true))
        {
            return None;
        }
        Some(SolverFlags::COMPUTE_RIGID_IMPULSES)
    }
}

/// The collision side of the world.
pub(super) struct Collide {
    pub(super) filter: PairFilter,
    owner: HashMap<ColliderHandle, Toucher>,
    /// Each object's body, in scene order.
    pub(super) objects: Vec<RigidBodyHandle>,
    /// What touched after the last step, sorted by pair.
    pub(super) touches: Vec<Touch>,
}

/// A link's place for building: its body, arm copy, scene link index.
pub(super) struct LinkBody {
    pub body: RigidBodyHandle,
    pub copy: usize,
    pub link: usize,
}

fn shape(s: &ShapeSpec) -> SharedShape {
    match *s {
        ShapeSpec::Box { size } => SharedShape::cuboid(
            size[0] as f32 / 2.0,
            size[1] as f32 / 2.0,
            size[2] as f32 / 2.0,
        ),
        ShapeSpec::Cylinder { radius, length } => {
            // rapier's cylinders stand along y; ours along z.
            SharedShape::cylinder(length as f32 / 2.0, radius as f32)
        }
        ShapeSpec::Capsule { radius, length } => {
            SharedShape::capsule_z(length as f32 / 2.0, radius as f32)
        }
        ShapeSpec::Sphere { radius } => SharedShape::ball(radius as f32),
    }
}

/// The cylinder's turn from rapier's y axis onto our z axis.
fn shape_turn(s: &ShapeSpec) -> Pose {
    match s {
        ShapeSpec::Cylinder { .. } => Pose::from_rotation(
            rapier3d::math::Rotation::from_rotation_x(std::f32::consts::FRAC_PI_2),
        ),
        _ => Pose::IDENTITY,
    }
}

impl Collide {
    /// Colliders for every link (`links`), the ground and the objects of `spec`;
    /// `joined`: link pairs a joint joins, as (copy, link, link) (every copy the same).
    pub(super) fn build(
        world: &mut PhysicsWorld,
        spec: &WorldSpec,
        arm: &crate::scene::ArmModel,
        links: &[LinkBody],
        joined: &[(usize, usize, usize)],
        origin_pose: impl Fn(&crate::scene::OriginSpec) -> Pose,
    ) -> Self {
        let mut owner = HashMap::new();
        for (k, lb) in links.iter().enumerate() {
            if let Some(b) = world.bodies.get_mut(lb.body) {
                b.user_data = link_tag(lb.copy, lb.link);
            }
            for c in &arm.links[lb.link].colliders {
                let turn;
                let sh = match &c.geom {
                    ColliderGeom::Shape(s) => {
                        turn = shape_turn(s);
                        shape(s)
                    }
                    ColliderGeom::Hull { points, .. } => {
                        turn = Pose::IDENTITY;
                        let pts: Vec<Vector> = points
                            .iter()
                            .map(|p| Vector::new(p[0], p[1], p[2]))
                            .collect();
                        match SharedShape::convex_hull(&pts) {
                            Some(s) => s,
                            None => continue,
                        }
                    }
                    // Validation turns every mesh into its hull.
                    ColliderGeom::Mesh { .. } => continue,
                };
                let co = ColliderBuilder::new(sh)
                    .position(origin_pose(&c.origin) * turn)
                    .density(0.0)
                    .friction(spec.link_friction as f32)
                    .active_hooks(ActiveHooks::FILTER_CONTACT_PAIRS);
                let h = world
                    .colliders
                    .insert_with_parent(co, lb.body, &mut world.bodies);
                owner.insert(h, Toucher::Link(k));
            }
        }
        let n = arm.links.len();
        let mut never = vec![false; n * n];
        let mut forbid = |a: usize, b: usize| {
            never[a * n + b] = true;
            never[b * n + a] = true;
        };
        for &(_, a, b) in joined {
            forbid(a, b);
        }
        let index = |name: &str| arm.links.iter().position(|l| l.name == name);
        for (a, b) in &spec.disable_collisions {
            if let (Some(a), Some(b)) = (index(a), index(b)) {
                forbid(a, b);
            }
        }
        if let Some(g) = &spec.ground {
            let body = world
                .bodies
                .insert(RigidBodyBuilder::fixed().translation(Vector::new(0.0, 0.0, g.z as f32)));
            let co = ColliderBuilder::halfspace(rapier3d::na::Unit::new_unchecked(Vector::Z))
                .friction(g.friction as f32);
            let h = world
                .colliders
                .insert_with_parent(co, body, &mut world.bodies);
            owner.insert(h, Toucher::Ground);
        }
        let mut objects = Vec::new();
        for (k, o) in spec.objects.iter().enumerate() {
            let rb = if o.fixed {
                RigidBodyBuilder::fixed()
            } else {
                RigidBodyBuilder::dynamic().ccd_enabled(true)
            };
            let body = world.bodies.insert(rb.pose(origin_pose(&o.pose)));
            let co = ColliderBuilder::new(shape(&o.shape))
                .position(shape_turn(&o.shape))
                .mass(o.mass_kg as f32)
                .friction(o.friction as f32)
                .restitution(o.restitution as f32);
            let h = world
                .colliders
                .insert_with_parent(co, body, &mut world.bodies);
            owner.insert(h, Toucher::Object(k));
            objects.push(body);
        }
        Self {
            filter: PairFilter {
                links: n,
                never,
                self_collision: spec.self_collision,
            },
            owner,
            objects,
            touches: Vec::new(),
        }
    }

    /// Reads what touches what from the narrow phase (after a step of `dt` s).
    pub(super) fn update(&mut self, world: &PhysicsWorld, dt: f32) {
        self.touches.clear();
        for pair in world.narrow_phase.contact_pairs() {
            if !pair.has_any_active_contact() {
                continue;
            }
            let (Some(&o1), Some(&o2)) = (
                self.owner.get(&pair.collider1),
                self.owner.get(&pair.collider2),
            ) else {
                continue;
            };
            let force = pair.total_impulse().length() / dt;
            let mut normal = Vector::ZERO;
            let mut point = Vector::ZERO;
            let mut depth = 0.0f32;
            let mut dist = f32::INFINITY;
            if let Some((m, c)) = pair.find_deepest_contact()
                && let Some(co) = world.colliders.get(pair.collider1)
            {
                normal = m.data.normal;
                point = co.position().transform_point(c.local_p1);
                depth = (-c.dist).max(0.0);
                dist = c.dist;
            }
            // rapier keeps contacts a little ahead of touching (its prediction
            // distance); a touch is one that pushes, or surfaces that meet.
            if force <= 0.0 && dist > 0.0 {
                continue;
            }
            // The same touch, whichever collider came first.
            let (a, b, normal) = if o1 <= o2 {
                (o1, o2, normal)
            } else {
                (o2, o1, -normal)
            };
            let t = Touch {
                a,
                b,
                force_n: force as f64,
                depth_m: depth as f64,
                point: point.to_array(),
                normal: normal.to_array(),
            };
            // A link or object with several colliders: one touch per pair of things.
            match self.touches.iter_mut().find(|x| x.a == a && x.b == b) {
                Some(x) => {
                    x.force_n += t.force_n;
                    if t.depth_m > x.depth_m {
                        (x.depth_m, x.point, x.normal) = (t.depth_m, t.point, t.normal);
                    }
                }
                None => self.touches.push(t),
            }
        }
        self.touches.sort_by_key(|x| (x.a, x.b));
    }
}
