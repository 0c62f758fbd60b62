//! The on-disk RON schema of a scene, exactly as a user writes it.
//!
//! Every struct denies unknown fields so a typo is an error, not a silently ignored
//! setting. Units are in the field names (`_s`, `_hz`, `_nm`, `_rad`, `_kg`) and in each
//! doc comment. These types carry no validation: `validate.rs` turns them into a typed
//! [`crate::scene::Scene`] or a list of precise errors.

use serde::Deserialize;
use std::collections::BTreeMap;

use crate::control::spec::ControllerSpec;
use crate::faults::spec::FaultSpec;
use crate::servo::spec::ServoSpec;

pub use crate::physics::spec::{OriginSpec, ShapeSpec, WorldSpec};

/// A whole scene file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneFile {
    /// Display name; defaults to the file stem.
    #[serde(default)]
    pub name: Option<String>,
    /// Seed of every random stream in the run (sensor noise, fault schedules).
    pub seed: u64,
    /// Simulated duration of the run, seconds, in (0, 86400].
    pub duration_s: f64,
    /// Physics settings; every field has a default.
    #[serde(default)]
    pub physics: PhysicsSpec,
    /// The arm: inline links and joints, or a URDF file relative to the scene file.
    pub arm: ArmSpec,
    /// Named servo models that drives refer to.
    #[serde(default)]
    pub servos: BTreeMap<String, ServoSpec>,
    /// Drive used by every actuated joint that `drives` does not name.
    #[serde(default)]
    pub default_drive: Option<DriveSpec>,
    /// Per-joint drives, keyed by joint name.
    #[serde(default)]
    pub drives: BTreeMap<String, DriveSpec>,
    /// Trajectory segments; a joint named by none holds its initial position.
    #[serde(default)]
    pub trajectory: Vec<TrajectorySpec>,
    /// Timed faults injected into joint services, servos and links.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// What must hold at the end of the run for it to pass (see `crate::expect`).
    #[serde(default)]
    pub expect: Vec<crate::expect::spec::Expectation>,
    /// How `armhil serve` presents the joints to a host as servos on one bus.
    #[serde(default)]
    pub serve: Option<crate::servo::spec::ServeSpec>,
    /// Ground, objects and collisions (see `crate::physics::spec`); `None`: the arm
    /// moves in free space with no colliders at all.
    #[serde(default)]
    pub world: Option<WorldSpec>,
}

/// Physics settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhysicsSpec {
    /// Fixed physics step rate, Hz, in [100, 20000]. 1000 is a good default: servo
    /// controllers rarely run faster than 1 kHz.
    #[serde(default = "default_rate")]
    pub rate_hz: f64,
    /// Gravity vector in the world frame (z up), m/s².
    #[serde(default = "default_gravity")]
    pub gravity: [f64; 3],
    /// Solver iterations per step, in [1, 64]; each is a substep of the step. Cost
    /// grows linearly and dominates the step. 1 is enough for a free-standing arm at
    /// 1 kHz (a swinging pendulum differs from 8 iterations by < 0.01 rad over 1 s,
    /// see tests/it/physics.rs); raise it for lower rates or stiff limits.
    #[serde(default = "default_iterations")]
    pub solver_iterations: u32,
}

fn default_rate() -> f64 {
    1000.0
}
fn default_gravity() -> [f64; 3] {
    [0.0, 0.0, -9.81]
}
fn default_iterations() -> u32 {
    1
}

impl Default for PhysicsSpec {
    fn default() -> Self {
        Self {
            rate_hz: default_rate(),
            gravity: default_gravity(),
            solver_iterations: default_iterations(),
        }
    }
}

/// Where the arm's kinematics and inertia come from.
#[derive(Debug, Clone, Deserialize)]
pub enum ArmSpec {
    /// Links and joints written in the scene.
    Inline {
        /// Name of the fixed base link (must be one of `links`).
        base: String,
        links: Vec<LinkSpec>,
        joints: Vec<JointSpec>,
    },
    /// A URDF file, path relative to the scene file.
    Urdf { path: String },
}

/// One rigid link.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub name: String,
    /// Mass, kg, > 0.
    pub mass_kg: f64,
    /// Centre of mass in the link frame, m.
    #[serde(default)]
    pub com: [f64; 3],
    /// Inertia tensor about the centre of mass, kg·m²; computed from `shape` when absent.
    #[serde(default)]
    pub inertia: Option<InertiaSpec>,
    /// Visual / inertia shape, placed at `shape_origin` in the link frame.
    #[serde(default)]
    pub shape: Option<ShapeSpec>,
    /// Pose of the shape in the link frame.
    #[serde(default)]
    pub shape_origin: OriginSpec,
    /// Visual meshes (STL) for the 3D view, relative to the scene file; a file that is
    /// not there is skipped (the shape is shown instead), so a scene can name
    /// third-party meshes that only some machines have.
    #[serde(default)]
    pub meshes: Vec<MeshSpec>,
    /// With a `world`, the link collides as its `shape`; false: it never collides.
    #[serde(default = "yes")]
    pub collision: bool,
}

fn yes() -> bool {
    true
}

/// A visual mesh of a link.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshSpec {
    /// STL file, relative to the scene file.
    pub file: String,
    /// Pose of the mesh in the link frame.
    #[serde(default)]
    pub origin: OriginSpec,
    /// Scale per axis (STL files are often in mm: 0.001).
    #[serde(default = "unit_scale")]
    pub scale: [f64; 3],
}

fn unit_scale() -> [f64; 3] {
    [1.0; 3]
}

/// Inertia tensor components, kg·m².
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InertiaSpec {
    pub ixx: f64,
    pub iyy: f64,
    pub izz: f64,
    #[serde(default)]
    pub ixy: f64,
    #[serde(default)]
    pub ixz: f64,
    #[serde(default)]
    pub iyz: f64,
}

/// Kind of a joint.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq)]
pub enum JointKind {
    Revolute,
    Prismatic,
    Fixed,
}

/// One joint between two links.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointSpec {
    pub name: String,
    pub kind: JointKind,
    pub parent: String,
    pub child: String,
    /// Pose of the joint frame (and of the child link frame at q = 0) in the parent frame.
    #[serde(default)]
    pub origin: OriginSpec,
    /// Joint axis in the joint frame (normalised on load, must be non-zero).
    #[serde(default = "default_axis")]
    pub axis: [f64; 3],
    /// Position limits, rad or m; required for revolute and prismatic joints.
    #[serde(default)]
    pub limits: Option<LimitsSpec>,
    /// Initial joint position, rad or m, inside the limits.
    #[serde(default)]
    pub initial: f64,
}

fn default_axis() -> [f64; 3] {
    [0.0, 0.0, 1.0]
}

/// Joint position limits.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    pub lower: f64,
    pub upper: f64,
}

/// What a joint does when it fails (its controller dies or hangs, or it trips on
/// its following error): the fault policy, applied while it restarts and once it
/// latches FAULTED.
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
pub enum SafeState {
    /// The servo's own position loop holds the last measured position.
    #[default]
    Hold,
    /// Torque off: the joint goes limp.
    Limp,
    /// This joint holds and the whole arm e-stops (every joint holds, latched until
    /// a `reset` command); no restart.
    StopAll,
}

/// How one joint is driven.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DriveSpec {
    /// Name of a servo model in `servos`.
    pub servo: String,
    /// The joint's controller.
    pub controller: ControllerSpec,
    /// Controller rate, Hz, in [1, physics rate_hz].
    pub rate_hz: f64,
    /// Fault policy: what the joint does when it fails.
    #[serde(default)]
    pub safe_state: SafeState,
    /// Heartbeat, restart budget and following-error limit; every field has a default.
    #[serde(default)]
    pub supervision: crate::supervision::spec::SupervisionSpec,
    /// Simulated (default) or a real servo on a serial bus.
    #[serde(default)]
    pub backend: BackendSpec,
    /// What a hardware joint does while its link is OFFLINE.
    #[serde(default)]
    pub on_link_loss: LinkLossPolicy,
    /// Where the joint's controller service runs: `Thread` (default) or `Process`.
    #[serde(default)]
    pub isolation: crate::control::spec::Isolation,
    /// Resource limits of the service's process (only with `isolation: Process`;
    /// defaults: 256 MB heap, any CPU, nice 0).
    #[serde(default)]
    pub process: Option<crate::control::spec::ProcessLimits>,
}

/// What a hardware joint does while its servo link is lost.
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
pub enum LinkLossPolicy {
    /// The simulated twin holds the last measured position (default).
    #[default]
    HoldInSim,
    /// The joint falls back to its simulated twin under its own controller; when the
    /// link returns the servo is walked to it and takes over again (bumpless).
    SimTwin,
    /// The simulated twin goes limp (torque off).
    Limp,
    /// The whole run stops (an e-stop).
    StopAll,
}

/// Servo bus protocol of a hardware joint.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq)]
pub enum BusProtocol {
    /// Feetech STS (STS3215): position at address 56, goal at 42, 4096 ticks/rev.
    Sts,
    /// Dynamixel Protocol 2.0 X series: position at 132, goal at 116, 4096 ticks/rev.
    Dxl,
}

/// Where a joint's servo lives.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
pub enum BackendSpec {
    /// Simulated servo and controller service.
    #[default]
    Sim,
    /// A real servo on a serial bus. Joints that share a port share one bus: one
    /// sync write and one sync read per bus per control tick. The servo's own
    /// position loop tracks the joint's trajectory; the simulated joint follows the
    /// measured position.
    Serial {
        /// Device path, e.g. "/dev/ttyUSB0" (or a pty from `armhil virtual-servo`), or
        /// a serial server: "tcp://HOST:PORT" (raw, e.g. ser2net) or
        /// "rfc2217://HOST:PORT".
        port: String,
        protocol: BusProtocol,
        /// Servo ID, 0..=252.
        id: u8,
        /// Line rate, bit/s, 9600..=10500000.
        baud: u32,
        /// Encoder tick that is joint position 0, 0..=4095 (default 2048).
        #[serde(default = "default_zero_tick")]
        zero_tick: u32,
    },
    /// A joint driven by a recording (`--record`): its measured position and velocity,
    /// interpolated on simulated time, so a bench session replays headless and
    /// deterministically. After the recording ends the joint holds its last position.
    Recorded {
        /// MCAP file, relative to the scene file.
        file: String,
        /// The recorded joint to follow; defaults to this joint's name.
        #[serde(default)]
        joint: Option<String>,
    },
}

impl BackendSpec {
    /// A real servo on a serial bus (runs in real time).
    pub fn is_hardware(&self) -> bool {
        matches!(self, BackendSpec::Serial { .. })
    }
}

fn default_zero_tick() -> u32 {
    2048
}

/// One trajectory segment.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub enum TrajectorySpec {
    /// Hold these joints at their initial positions.
    Hold { joints: Vec<String> },
    /// Timed joint-space waypoints, smoothly interpolated (cubic, continuous velocity);
    /// the joints hold the first point before it and the last point after it.
    Waypoints {
        joints: Vec<String>,
        points: Vec<WaypointSpec>,
    },
    /// A sinusoid on one joint: centre + amplitude·sin(2π·freq·t + phase), faded in over
    /// `ramp_s` so that it starts without a velocity step.
    Sine {
        joint: String,
        amplitude: f64,
        freq_hz: f64,
        #[serde(default)]
        center: Option<f64>,
        #[serde(default)]
        phase: f64,
        #[serde(default = "default_ramp")]
        ramp_s: f64,
    },
}

fn default_ramp() -> f64 {
    0.5
}

/// One waypoint: time (s) and one position per listed joint.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WaypointSpec {
    pub t: f64,
    pub q: Vec<f64>,
}
