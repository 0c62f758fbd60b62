//! The validated, typed scene. Every value here has been range-checked; code that
//! consumes a [`Scene`] never re-validates.

use std::path::PathBuf;

use crate::control::spec::ControllerSpec;
use crate::faults::spec::FaultSpec;
use crate::servo::spec::ServoSpec;

use super::schema::{BackendSpec, JointKind, OriginSpec, SafeState, ShapeSpec, TrajectorySpec};

/// A validated scene, ready to run.
#[derive(Debug, Clone)]
pub struct Scene {
    pub name: String,
    /// The file it came from (for reports and relative paths).
    pub source: PathBuf,
    pub seed: u64,
    pub duration_s: f64,
    pub physics: PhysicsConfig,
    pub arm: ArmModel,
    /// Actuated joints, in the order the arm lists them (parents before children).
    pub joints: Vec<JointConfig>,
    pub trajectory: Vec<TrajectorySpec>,
    pub faults: Vec<FaultSpec>,
    /// Checked at the end of a run; empty: the run passes when every joint ends OK.
    pub expect: Vec<crate::expect::spec::Expectation>,
    /// How `armhil serve` presents the joints to a host (`None`: its defaults).
    pub serve: Option<crate::servo::spec::ServeSpec>,
    /// Ground, objects, collisions; `None`: free space, no colliders.
    pub world: Option<crate::physics::spec::WorldSpec>,
}

/// Physics settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhysicsConfig {
    /// Step rate, Hz.
    pub rate_hz: f64,
    /// World gravity, m/s², z up.
    pub gravity: [f64; 3],
    /// Solver iterations per step.
    pub solver_iterations: u32,
}

impl PhysicsConfig {
    /// Step length, seconds.
    pub fn dt(&self) -> f64 {
        1.0 / self.rate_hz
    }
}

/// Kinematic tree: links and the joints between them. `joints` are sorted so that a
/// joint's parent link is always attached before its child.
#[derive(Debug, Clone)]
pub struct ArmModel {
    /// Index of the fixed base link in `links`.
    pub base: usize,
    pub links: Vec<Link>,
    pub joints: Vec<KinJoint>,
    /// The URDF the arm was read from, if it was.
    pub urdf: Option<PathBuf>,
}

/// A rigid link with its inertia about the centre of mass.
#[derive(Debug, Clone)]
pub struct Link {
    pub name: String,
    /// kg.
    pub mass: f64,
    /// Centre of mass in the link frame, m.
    pub com: [f64; 3],
    /// Inertia tensor about the centre of mass, link axes, kg·m².
    pub inertia: [[f64; 3]; 3],
    /// Simplified shape for display.
    pub shape: Option<ShapeSpec>,
    pub shape_origin: OriginSpec,
    /// Visual meshes from a URDF (absolute paths) with their origins.
    pub meshes: Vec<(PathBuf, OriginSpec, [f64; 3])>,
    /// What the link collides as, with a `world` (empty: it never collides).
    pub colliders: Vec<crate::physics::spec::LinkCollider>,
}

/// A joint of the kinematic tree.
#[derive(Debug, Clone)]
pub struct KinJoint {
    pub name: String,
    pub kind: JointKind,
    pub parent: usize,
    pub child: usize,
    pub origin: OriginSpec,
    /// Unit axis in the joint frame.
    pub axis: [f64; 3],
    /// (lower, upper), rad or m; `None` for fixed or continuous joints.
    pub limits: Option<(f64, f64)>,
    pub initial: f64,
}

/// An actuated joint: kinematics plus its drive.
#[derive(Debug, Clone)]
pub struct JointConfig {
    pub name: String,
    /// Index into `ArmModel::joints`.
    pub kin: usize,
    pub kind: JointKind,
    pub servo_name: String,
    pub servo: ServoSpec,
    pub controller: ControllerSpec,
    /// Controller rate, Hz.
    pub rate_hz: f64,
    pub safe_state: SafeState,
    pub initial: f64,
    /// (lower, upper); continuous joints get (-inf, inf).
    pub limits: (f64, f64),
    /// Simulated or on a serial bus.
    pub backend: BackendSpec,
    /// What a hardware joint does while its link is lost.
    pub on_link_loss: super::schema::LinkLossPolicy,
    /// Where the controller service runs, and its process's limits.
    pub isolation: crate::control::spec::Isolation,
    pub process: crate::control::spec::ProcessLimits,
    /// Heartbeat, restarts, following error.
    pub supervision: crate::supervision::spec::SupervisionSpec,
    /// For a `Recorded` backend: the recorded trace, loaded at validation.
    pub recorded: Option<Trace>,
}

/// A recorded joint trace: (t s, position, velocity), in time order.
#[derive(Clone, PartialEq)]
pub struct Trace(pub std::sync::Arc<Vec<(f64, f64, f64)>>);

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trace({} samples)", self.0.len())
    }
}

impl Trace {
    /// Position and velocity at `t`, linearly interpolated; `None` after the end.
    pub fn at(&self, t: f64) -> Option<(f64, f64)> {
        let v = &self.0;
        let last = v.last()?;
        if t > last.0 + 1e-9 {
            return None;
        }
        let k = v.partition_point(|s| s.0 <= t);
        if k == 0 {
            return Some((v[0].1, v[0].2));
        }
        let a = v[k - 1];
        let Some(&b) = v.get(k) else {
            return Some((a.1, a.2));
        };
        let x = ((t - a.0) / (b.0 - a.0)).clamp(0.0, 1.0);
        Some((a.1 + (b.1 - a.1) * x, a.2 + (b.2 - a.2) * x))
    }

    /// Last recorded time, s.
    pub fn end(&self) -> f64 {
        self.0.last().map_or(0.0, |s| s.0)
    }
}
