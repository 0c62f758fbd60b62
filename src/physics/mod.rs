//! The rapier world: the arm as one reduced-coordinate multibody on a fixed base,
//! stepped at a fixed rate, with joint sensors read straight from the multibody's
//! generalized coordinates.
//!
//! Each actuated joint's servo shows up here as: per-DoF armature (rotor inertia ×
//! gear²), viscous damping and Coulomb friction (rapier's multibody `armature`,
//! `damping`, `frictions` vectors), position limits, and, when the servo has
//! backlash, an extra light "gear" link: motor DoF (actuated, limited) → backlash DoF
//! (free within ±backlash, as the SO-101 MJCF models it) → the link. The drive torque
//! is applied as an equal and opposite torque pair on the gear (or link) body and its
//! parent. Without a scene `world` there are no colliders: the arm moves in free
//! space. With one, [`collide`] adds link colliders, the ground and objects, and
//! reads what touches what after each step.

mod collide;
pub mod spec;

pub use collide::{Touch, Toucher};

use rapier3d::math::{Matrix, Pose, Rotation, Vector};
use rapier3d::prelude::*;

use crate::scene::OriginSpec;
use crate::scene::{JointKind, Scene};
use crate::servo::ServoModel;

/// Per-DoF damping and armature of the backlash DoF (from the SO-101 MJCF).
const BACKLASH_DAMPING: f32 = 0.01;
const BACKLASH_ARMATURE: f32 = 1e-4;
/// How far ahead contacts are predicted, m: 5 m/s for one 1 ms step.
const PREDICTION_M: f32 = 0.005;
/// Mass of the virtual gear link between motor and backlash DoFs, kg.
const GEAR_MASS: f32 = 1e-3;

/// Where one actuated joint lives in the multibody.
#[derive(Debug, Clone)]
struct PhysJoint {
    kind: JointKind,
    /// Body receiving +torque (gear body, or the child link without backlash).
    drive_body: RigidBodyHandle,
    parent_body: RigidBodyHandle,
    /// Axis in the drive body frame.
    axis_local: Vector,
    /// Anchor (joint origin) in the drive body frame.
    anchor_local: Vector,
    /// Multibody link of the motor DoF (resolved once the multibody is assembled).
    motor_link: Option<MultibodyLinkId>,
    /// Multibody link of the backlash DoF, when the servo has backlash.
    backlash_link: Option<MultibodyLinkId>,
    /// The link body behind the backlash DoF, when the servo has backlash.
    backlash_child: Option<RigidBodyHandle>,
    /// (body, mass kg, centre of mass in the body frame) of every link this joint
    /// carries (for the gravity torque).
    subtree_mass: Vec<(RigidBodyHandle, f32, Vector)>,
}

/// A body's world pose: translation (m), rotation quaternion (x, y, z, w).
pub type BodyPose = ([f32; 3], [f32; 4]);

/// Joint state read from the physics (true values, before the servo's encoder).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JointState {
    /// Output position (motor + backlash), rad or m.
    pub pos: f64,
    /// Output velocity, rad/s or m/s.
    pub vel: f64,
    /// Motor-side position (without backlash), rad or m.
    pub motor_pos: f64,
    pub motor_vel: f64,
}

/// The simulated arm(s).
pub struct ArmWorld {
    world: PhysicsWorld,
    joints: Vec<PhysJoint>,
    /// Every link body, for snapshots.
    pub link_bodies: Vec<RigidBodyHandle>,
    gravity: Vector,
    /// Colliders and contacts, when the scene has a world.
    collide: Option<collide::Collide>,
}

fn v3(a: [f64; 3]) -> Vector {
    Vector::new(a[0] as f32, a[1] as f32, a[2] as f32)
}

fn origin_pose(o: &OriginSpec) -> Pose {
    let r = Rotation::from_euler(
        rapier3d::math::glamx::EulerRot::ZYX,
        o.rpy[2] as f32,
        o.rpy[1] as f32,
        o.rpy[0] as f32,
    );
    Pose::from_parts(v3(o.xyz), r)
}

/// Options for building worlds in benchmarks.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    /// Copies of the arm placed side by side in one world (1 = normal).
    pub copies: usize,
    /// Spacing between copies along y, m.
    pub spacing: f64,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            copies: 1,
            spacing: 1.0,
        }
    }
}

impl ArmWorld {
    /// Builds the world for a validated scene (one copy of the arm).
    pub fn new(scene: &Scene) -> Self {
        Self::with_options(scene, BuildOptions::default())
    }

    /// Builds `opts.copies` copies of the arm; joints are ordered copy by copy.
    pub fn with_options(scene: &Scene, opts: BuildOptions) -> Self {
        let mut world = PhysicsWorld {
            gravity: v3(scene.physics.gravity),
            ..PhysicsWorld::default()
        };
        world.integration_parameters.dt = scene.physics.dt() as f32;
        world.integration_parameters.num_solver_iterations =
            scene.physics.solver_iterations as usize;
        // Contacts are predicted this far ahead (rapier's default, 2 cm, suits
        // metre-sized bodies): a desk arm's links move at most a few mm per 1 ms
        // step, and every pair within the distance is a constraint to solve.
        world.integration_parameters.normalized_prediction_distance = PREDICTION_M;
        let arm = &scene.arm;
        let mut joints = Vec::new();
        let mut link_bodies = Vec::new();
        // Per-DoF settings to apply once the multibody exists: (rb, link kind, values).
        let mut dof_settings: Vec<(RigidBodyHandle, f32, f32, f32)> = Vec::new();
        let mut initial: Vec<(RigidBodyHandle, f32)> = Vec::new();
        // For colliders: every link body in `link_bodies` order, and the link pairs
        // that a joint joins.
        let mut placed: Vec<collide::LinkBody> = Vec::new();
        let mut joined: Vec<(usize, usize, usize)> = Vec::new();
        // Each copy is its own multibody on its own fixed base.
        for copy in 0..opts.copies {
            let offset = Vector::new(0.0, (copy as f64 * opts.spacing) as f32, 0.0);
            let mut world_pose = vec![Pose::IDENTITY; arm.links.len()];
            let mut handles = vec![None; arm.links.len()];
            world_pose[arm.base] = Pose::from_translation(offset);
            let base = &arm.links[arm.base];
            let base_h = world.bodies.insert(
                RigidBodyBuilder::fixed()
                    .pose(world_pose[arm.base])
                    .additional_mass_properties(mass_props(base.mass, base.com, base.inertia)),
            );
            handles[arm.base] = Some(base_h);
            let mut joint_of_child: Vec<Option<usize>> = vec![None; arm.links.len()];
            let first_joint = joints.len();
            for (ji, j) in arm.joints.iter().enumerate() {
                let parent_h = handles[j.parent].unwrap_or(base_h);
                let origin = origin_pose(&j.origin);
                let child_pose = world_pose[j.parent] * origin;
                world_pose[j.child] = child_pose;
                let link = &arm.links[j.child];
                let child_h = world.bodies.insert(
                    RigidBodyBuilder::dynamic()
                        .pose(child_pose)
                        .can_sleep(false)
                        .additional_mass_properties(mass_props(
                            link.mass.max(1e-9),
                            link.com,
                            link.inertia,
                        )),
                );
                handles[j.child] = Some(child_h);
                joint_of_child[j.child] = Some(ji);
                let axis = v3(j.axis);
                let rax = GenericJoint::complete_ang_frame(axis);
                let frame1 = Pose::from_parts(origin.translation, origin.rotation * rax);
                let frame2 = Pose::from_rotation(rax);
                let cfg = scene.joints.iter().find(|c| c.kin == ji);
                let (locked, jaxis) = match j.kind {
                    JointKind::Fixed => (JointAxesMask::LOCKED_FIXED_AXES, JointAxis::AngX),
                    JointKind::Revolute => (JointAxesMask::LOCKED_REVOLUTE_AXES, JointAxis::AngX),
                    JointKind::Prismatic => (JointAxesMask::LOCKED_PRISMATIC_AXES, JointAxis::LinX),
                };
                let backlash = cfg.map_or(0.0, |c| c.servo.backlash_rad);
                let mut motor = GenericJointBuilder::new(locked)
                    .local_frame1(frame1)
                    .local_frame2(frame2);
                if let Some((lo, hi)) = j.limits {
                    motor = motor.limits(jaxis, [lo as f32, hi as f32]);
                }
                let drive_h = if backlash > 0.0 && j.kind != JointKind::Fixed {
                    let gear_h = world.bodies.insert(
                        RigidBodyBuilder::dynamic()
                            .pose(child_pose)
                            .can_sleep(false)
                            .additional_mass_properties(MassProperties::new(
                                Vector::ZERO,
                                GEAR_MASS,
                                Vector::splat(1e-7),
                            )),
                    );
                    world
                        .multibody_joints
                        .insert(parent_h, gear_h, motor.build(), true);
                    let b = backlash as f32;
                    let play = GenericJointBuilder::new(locked)
                        .local_frame1(Pose::from_rotation(rax))
                        .local_frame2(frame2)
                        .limits(jaxis, [-b, b]);
                    world
                        .multibody_joints
                        .insert(gear_h, child_h, play.build(), true);
                    gear_h
                } else {
                    world
                        .multibody_joints
                        .insert(parent_h, child_h, motor.build(), true);
                    child_h
                };
                if let Some(c) = cfg {
                    let servo = ServoModel::new(&c.servo, c.kind);
                    dof_settings.push((
                        drive_h,
                        servo.armature() as f32,
                        c.servo.damping_nm_s_per_rad as f32,
                        c.servo.friction_nm as f32,
                    ));
                    if drive_h != child_h {
                        dof_settings.push((child_h, BACKLASH_ARMATURE, BACKLASH_DAMPING, 0.0));
                    }
                    initial.push((drive_h, c.initial as f32));
                    joints.push(PhysJoint {
                        kind: j.kind,
                        drive_body: drive_h,
                        parent_body: parent_h,
                        axis_local: axis,
                        anchor_local: Vector::ZERO,
                        motor_link: None,
                        backlash_link: None,
                        backlash_child: (drive_h != child_h).then_some(child_h),
                        subtree_mass: Vec::new(),
                    });
                }
            }
            // Each link's mass loads every actuated joint on its path to the base.
            for (li, _) in arm.links.iter().enumerate() {
                let Some(body) = handles[li] else { continue };
                let mut cur = li;
                while let Some(ji) = joint_of_child[cur] {
                    if let Some(k) = scene.joints.iter().position(|c| c.kin == ji) {
                        let pj = &mut joints[first_joint + k];
                        let l = &arm.links[li];
                        pj.subtree_mass.push((body, l.mass as f32, v3(l.com)));
                    }
                    cur = arm.joints[ji].parent;
                }
            }
            link_bodies.extend(handles.iter().flatten().copied());
            placed.extend(
                handles
                    .iter()
                    .enumerate()
                    .filter_map(|(link, h)| h.map(|body| collide::LinkBody { body, copy, link })),
            );
            joined.extend(arm.joints.iter().map(|j| (copy, j.parent, j.child)));
        }
        let collide = scene.world.as_ref().map(|spec| {
            collide::Collide::build(&mut world, spec, arm, &placed, &joined, origin_pose)
        });
        let mut aw = ArmWorld {
            gravity: world.gravity,
            world,
            joints,
            link_bodies,
            collide,
        };
        // Resolve link ids now that all multibodies are assembled (they are stable
        // from here on: the topology never changes during a run).
        for pj in aw.joints.iter_mut() {
            pj.motor_link = aw
                .world
                .multibody_joints
                .rigid_body_link(pj.drive_body)
                .copied();
            if let Some(child) = pj.backlash_child {
                pj.backlash_link = aw.world.multibody_joints.rigid_body_link(child).copied();
            }
        }
        for (body, armature, damping, friction) in dof_settings {
            aw.with_dof(body, |mb, dof| {
                mb.armature_mut()[dof] = armature;
                mb.damping_mut()[dof] = damping;
                mb.frictions_mut()[dof] = friction;
            });
        }
        for (body, q) in initial {
            if let Some(link) = aw.world.multibody_joints.rigid_body_link(body).copied()
                && let Some(mb) = aw.world.multibody_joints.get_multibody_mut(link.multibody)
                && let Some(l) = mb.link_mut(link.id)
            {
                l.joint.apply_displacement(&[q]);
            }
        }
        aw.sync_kinematics();
        aw
    }

    fn with_dof(&mut self, body: RigidBodyHandle, f: impl FnOnce(&mut Multibody, usize)) {
        if let Some(link) = self.world.multibody_joints.rigid_body_link(body).copied()
            && let Some(mb) = self
                .world
                .multibody_joints
                .get_multibody_mut(link.multibody)
        {
            let dof = mb.link(link.id).map(|l| l.assembly_id());
            if let Some(dof) = dof {
                f(mb, dof);
            }
        }
    }

    /// Recomputes body poses from joint coordinates (after setting coordinates).
    fn sync_kinematics(&mut self) {
        let w = &mut self.world;
        let handles: Vec<_> = w
            .multibody_joints
            .multibodies()
            .map(|m| m.root().rigid_body_handle())
            .collect();
        for root in handles {
            if let Some(link) = w.multibody_joints.rigid_body_link(root).copied()
                && let Some(mb) = w.multibody_joints.get_multibody_mut(link.multibody)
            {
                mb.forward_kinematics(&w.bodies, true);
                mb.update_rigid_bodies(&mut w.bodies, true);
            }
        }
    }

    /// Poses the arm at joint positions `q` (rad or m, one per actuated joint), with
    /// no backlash, purely kinematically: for replays, which show what was recorded
    /// rather than simulate it.
    pub fn set_positions(&mut self, q: &[f64]) {
        for (i, &target) in q.iter().enumerate().take(self.joints.len()) {
            if !target.is_finite() {
                continue;
            }
            let st = self.joint_state(i);
            let pj = &self.joints[i];
            let moves = [
                (pj.backlash_link, st.motor_pos - st.pos),
                (pj.motor_link, target - st.motor_pos),
            ];
            for (id, d) in moves {
                if let Some(id) = id
                    && let Some(mb) = self.world.multibody_joints.get_multibody_mut(id.multibody)
                    && let Some(l) = mb.link_mut(id.id)
                {
                    l.joint.apply_displacement(&[d as f32]);
                }
            }
        }
        self.sync_kinematics();
    }

    /// Number of actuated joints (all copies).
    pub fn num_joints(&self) -> usize {
        self.joints.len()
    }

    /// Step length, s.
    pub fn dt(&self) -> f64 {
        self.world.integration_parameters.dt as f64
    }

    fn link_state(&self, id: Option<MultibodyLinkId>) -> (f64, f64) {
        let Some(id) = id else { return (0.0, 0.0) };
        let Some(mb) = self.world.multibody_joints.get_multibody(id.multibody) else {
            return (0.0, 0.0);
        };
        let Some(link) = mb.link(id.id) else {
            return (0.0, 0.0);
        };
        let c = link.joint().coords();
        let lin = link.joint().data.locked_axes.bits() & 0b111 != 0b111;
        let pos = if lin { c[0] } else { c[3] };
        let vel = mb.joint_velocity(link).get(0).copied().unwrap_or(0.0);
        (pos as f64, vel as f64)
    }

    /// True state of joint `i`.
    pub fn joint_state(&self, i: usize) -> JointState {
        let pj = &self.joints[i];
        let (mp, mv) = self.link_state(pj.motor_link);
        let (bp, bv) = self.link_state(pj.backlash_link);
        JointState {
            pos: mp + bp,
            vel: mv + bv,
            motor_pos: mp,
            motor_vel: mv,
        }
    }

    /// Torque that gravity exerts about joint `i`'s axis at the current pose, N·m
    /// (force along the axis, N, for prismatic joints).
    pub fn gravity_torque(&self, i: usize) -> f64 {
        let pj = &self.joints[i];
        let bodies = &self.world.bodies;
        let Some(drive) = bodies.get(pj.drive_body) else {
            return 0.0;
        };
        let pose = drive.position();
        let axis = pose.rotation * pj.axis_local;
        let anchor = pose.transform_point(pj.anchor_local);
        let mut tau = 0.0f32;
        for (h, mass, com) in &pj.subtree_mass {
            let Some(b) = bodies.get(*h) else { continue };
            let f = self.gravity * *mass;
            let c = b.position().transform_point(*com);
            tau += match pj.kind {
                JointKind::Prismatic => f.dot(axis),
                _ => (c - anchor).cross(f).dot(axis),
            };
        }
        tau as f64
    }

    /// Sets the drive torque (N·m, or N) of joint `i` for the next step.
    pub fn set_torque(&mut self, i: usize, torque: f64) {
        let pj = &self.joints[i];
        let bodies = &mut self.world.bodies;
        let Some(drive) = bodies.get(pj.drive_body) else {
            return;
        };
        let axis = drive.position().rotation * pj.axis_local;
        let v = axis * torque as f32;
        let prismatic = pj.kind == JointKind::Prismatic;
        if let Some(b) = bodies.get_mut(pj.drive_body) {
            if prismatic {
                b.add_force(v, true)
            } else {
                b.add_torque(v, true)
            }
        }
        if let Some(b) = bodies.get_mut(pj.parent_body)
            && b.is_dynamic()
        {
            if prismatic {
                b.add_force(-v, true)
            } else {
                b.add_torque(-v, true)
            }
        }
    }

    /// Clears all drive torques (call before setting this step's torques).
    pub fn clear_torques(&mut self) {
        for pj in &self.joints {
            for h in [pj.drive_body, pj.parent_body] {
                if let Some(b) = self.world.bodies.get_mut(h) {
                    b.reset_torques(false);
                    b.reset_forces(false);
                }
            }
        }
    }

    /// Advances the world by one fixed step.
    pub fn step(&mut self) {
        match &mut self.collide {
            None => self.world.step(),
            Some(c) => {
                self.world.step_with_events(&c.filter, &());
                c.update(&self.world, self.world.integration_parameters.dt);
            }
        }
    }

    /// What touched what in the last step, sorted by pair (empty without a world).
    pub fn touches(&self) -> &[Touch] {
        self.collide.as_ref().map_or(&[], |c| &c.touches)
    }

    /// World pose (translation, rotation quaternion xyzw) of every object, in scene
    /// order.
    pub fn object_poses(&self) -> Vec<BodyPose> {
        self.collide
            .as_ref()
            .map_or(Vec::new(), |c| self.poses(&c.objects))
    }

    fn poses(&self, bodies: &[RigidBodyHandle]) -> Vec<BodyPose> {
        bodies
            .iter()
            .filter_map(|h| self.world.bodies.get(*h))
            .map(|b| {
                let p = b.position();
                (p.translation.to_array(), p.rotation.to_array())
            })
            .collect()
    }

    /// Linear velocity of object `k`, m/s.
    pub fn object_velocity(&self, k: usize) -> [f64; 3] {
        let v = self
            .collide
            .as_ref()
            .and_then(|c| c.objects.get(k))
            .and_then(|h| self.world.bodies.get(*h))
            .map_or(Vector::ZERO, |b| b.linvel());
        [v.x as f64, v.y as f64, v.z as f64]
    }

    /// World pose (translation, rotation quaternion xyzw) of every link body.
    pub fn link_poses(&self) -> Vec<BodyPose> {
        self.poses(&self.link_bodies)
    }

    /// World position of a link body's origin.
    pub fn link_translation(&self, link: usize) -> [f64; 3] {
        let Some(b) = self
            .link_bodies
            .get(link)
            .and_then(|h| self.world.bodies.get(*h))
        else {
            return [0.0; 3];
        };
        let t = b.translation();
        [t.x as f64, t.y as f64, t.z as f64]
    }

    /// Sum of all bodies' kinetic energy, J (a divergence check for tests).
    pub fn kinetic_energy(&self) -> f64 {
        self.world
            .bodies
            .iter()
            .map(|(_, b)| b.kinetic_energy() as f64)
            .sum()
    }
}

fn mass_props(mass: f64, com: [f64; 3], inertia: [[f64; 3]; 3]) -> MassProperties {
    let m = Matrix::from_cols_array_2d(&[
        [
            inertia[0][0] as f32,
            inertia[1][0] as f32,
            inertia[2][0] as f32,
        ],
        [
            inertia[0][1] as f32,
            inertia[1][1] as f32,
            inertia[2][1] as f32,
        ],
        [
            inertia[0][2] as f32,
            inertia[1][2] as f32,
            inertia[2][2] as f32,
        ],
    ]);
    MassProperties::with_inertia_matrix(v3(com), mass as f32, m)
}
