//! The plant: physics plus each joint's servo, seen from the executors. It samples
//! what a joint service is sent (trajectory setpoint, encoder reading, gravity
//! torque), turns commands into delivered torque (servo envelope, or the joint's safe
//! state once its service has died), steps the physics and keeps the statistics and
//! the event log. Executors decide *when* things happen; the plant decides *what*.
//!
//! It is also where supervision acts (see `crate::supervision` for the monitors): symptoms
//! mark injected faults detected (with their latency), conditions make a joint
//! DEGRADED while they last, failures put a joint in its safe state and either
//! schedule a restart or latch it FAULTED, and the e-stop holds every joint until a
//! reset.

mod fault_log;
mod followed;
mod health;
mod summary;

pub use fault_log::PlantFault;
pub use followed::FollowedJoint;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::control::{ControlInput, Measured, Trajectory};
use crate::faults::{FaultClass, FaultKind, FaultSpec};
use crate::physics::{ArmWorld, BuildOptions};
use crate::report::{Event, FaultRecord, JointHealth, JointReport, JointStats, Report};
use crate::scene::{SafeState, Scene};
use crate::servo::ServoModel;
use crate::supervision::{CLEAR_AFTER_S, Monitors, RestartBudget, SupervisionSpec, Symptom};

/// How a joint is being driven right now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DriveMode {
    /// By its controller service's last command.
    Controller,
    /// The servo's own position loop holds `hold` (Hold safe state).
    Hold { hold: f64 },
    /// Torque off.
    Limp,
    /// A hardware joint: the simulated twin follows the real servo's measurement.
    Follow,
}

/// One joint as the plant sees it.
pub struct PlantJoint {
    pub name: String,
    /// Revolute (rad) or prismatic (m).
    pub kind: crate::scene::JointKind,
    pub servo: ServoModel,
    pub rng: ChaCha8Rng,
    pub limits: (f64, f64),
    pub wants_gravity: bool,
    pub period: f64,
    pub next_tick: f64,
    pub seq: u64,
    pub safe_state: SafeState,
    pub mode: DriveMode,
    pub health: JointHealth,
    /// Last command from the controller, N·m, and the sim time it was produced for.
    pub command: f64,
    pub command_t: f64,
    pub delivered: f64,
    pub stats: JointStats,
    pub controller_kind: &'static str,
    /// Set for joints on a serial bus.
    pub hw: Option<FollowedJoint>,
    pub on_link_loss: crate::scene::LinkLossPolicy,
    /// The controller must start afresh with its next sample.
    pub reset_controller: bool,
    pub supervision: SupervisionSpec,
    pub budget: RestartBudget,
    /// A restart is due at this simulated time (the executor builds a new service).
    pub restart_at: Option<f64>,
    pub restarts: u32,
    pub monitors: Monitors,
    /// Last time each [`Condition`] was seen; the joint is DEGRADED while any is recent.
    pub conditions: [Option<f64>; CONDITIONS],
    /// The servo reported an error or no power at the last sample.
    pub servo_down: bool,
    /// The last encoder reading sent to the controller.
    pub last_measured: Measured,
    /// The last setpoint sent: (time, position, velocity).
    last_setpoint: (f64, f64, f64),
    /// Blending back onto the trajectory: (start time, start position, start
    /// velocity, duration).
    pub resume: Option<(f64, f64, f64, f64)>,
    /// Torque the acting faults took away this step, N·m (ground truth).
    pub clipped: f64,
    /// Winding temperature of the simulated servo.
    pub thermal: crate::servo::Thermal,
}

/// Conditions that make a joint DEGRADED while they last (cleared `CLEAR_AFTER_S`
/// after last seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Replies after their deadline.
    Late = 0,
    /// Implausible encoder readings.
    Encoder = 1,
    /// Torque deficit.
    Torque = 2,
    /// Servo status error / no power.
    ServoStatus = 3,
}
const CONDITIONS: usize = 4;
const CONDITION_NAMES: [&str; CONDITIONS] = [
    "late replies",
    "implausible encoder",
    "torque deficit",
    "servo status error",
];

/// Follower stiffness of a hardware joint's simulated twin, per N·m of the servo's
/// stall torque, N·m/rad: 100 gives 335 N·m/rad for an STS3215, so the twin lags the
/// real joint by well under a milliradian.
const FOLLOW_STIFFNESS: f64 = 100.0;

/// Time a swapped-in servo gets to connect before link supervision applies, s.
pub const SWAP_CONNECT_GRACE_S: f64 = 0.25;

/// Physics + servos + bookkeeping.
pub struct Plant {
    pub world: ArmWorld,
    pub joints: Vec<PlantJoint>,
    pub traj: Trajectory,
    pub dt: f64,
    pub t: f64,
    pub steps: u64,
    pub events: Vec<Event>,
    /// The scene's faults, with their onset/clear bookkeeping.
    pub faults: Vec<PlantFault>,
    /// Set when a joint's policy stops the whole run.
    pub stop_requested: Option<String>,
    /// Latched e-stop: why, and when.
    pub estop: Option<(f64, String)>,
}

impl Plant {
    pub fn new(scene: &Scene, opts: BuildOptions) -> Self {
        let world = ArmWorld::with_options(scene, opts);
        let base_traj = Trajectory::new(&scene.trajectory, &scene.joints);
        let mut joints = Vec::new();
        let mut traj = Trajectory { joints: Vec::new() };
        for copy in 0..opts.copies {
            for (i, c) in scene.joints.iter().enumerate() {
                let name = if opts.copies > 1 {
                    format!("{}#{copy}", c.name)
                } else {
                    c.name.clone()
                };
                // Each joint gets its own random stream: independent of the others and
                // of how many joints precede it in the file.
                let stream = crate::sys::seed::seed_for(scene.seed, &name);
                joints.push(PlantJoint {
                    name,
                    kind: c.kind,
                    servo: ServoModel::new(&c.servo, c.kind),
                    rng: ChaCha8Rng::seed_from_u64(stream),
                    limits: c.limits,
                    wants_gravity: c.controller.wants_gravity(),
                    period: 1.0 / c.rate_hz,
                    next_tick: 0.0,
                    seq: 0,
                    safe_state: c.safe_state,
                    mode: DriveMode::Controller,
                    health: JointHealth::Ok,
                    command: 0.0,
                    command_t: 0.0,
                    delivered: 0.0,
                    stats: JointStats::default(),
                    controller_kind: c.controller.kind(),
                    hw: None,
                    on_link_loss: c.on_link_loss,
                    reset_controller: false,
                    supervision: c.supervision,
                    budget: RestartBudget::default(),
                    restart_at: None,
                    restarts: 0,
                    monitors: Monitors::default(),
                    conditions: [None; CONDITIONS],
                    servo_down: false,
                    resume: None,
                    last_measured: Measured::default(),
                    last_setpoint: (f64::NAN, 0.0, 0.0),
                    clipped: 0.0,
                    thermal: crate::servo::Thermal::default(),
                });
                if let (crate::scene::BackendSpec::Serial { .. }, Some(j)) =
                    (&c.backend, joints.last_mut())
                {
                    j.mode = DriveMode::Follow;
                    j.hw = Some(FollowedJoint::new(&c.backend, c.initial));
                }
                if let (Some(trace), Some(j)) = (&c.recorded, joints.last_mut()) {
                    let mut h = FollowedJoint::new(&c.backend, c.initial);
                    h.trace = Some(trace.clone());
                    h.goal = Some(c.initial);
                    j.mode = DriveMode::Follow;
                    j.hw = Some(h);
                }
                traj.joints.push(base_traj.joints[i].clone());
            }
        }
        Self {
            world,
            joints,
            traj,
            dt: scene.physics.dt(),
            t: 0.0,
            steps: 0,
            events: Vec::new(),
            stop_requested: None,
            estop: None,
            faults: if opts.copies == 1 {
                scene
                    .faults
                    .iter()
                    .filter_map(|f| {
                        scene
                            .joints
                            .iter()
                            .position(|c| c.name == f.joint)
                            .map(|joint| PlantFault::new(joint, f.clone()))
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Whether joint `i`'s controller is due this step (advances its schedule).
    pub fn due(&mut self, i: usize) -> bool {
        let j = &mut self.joints[i];
        if self.t + 1e-9 >= j.next_tick {
            j.next_tick += j.period;
            // Never fall more than one period behind (e.g. rates above the step rate).
            if j.next_tick < self.t {
                j.next_tick = self.t + j.period;
            }
            true
        } else {
            false
        }
    }

    /// What joint `i`'s service is sent now.
    pub fn sample(&mut self, i: usize) -> ControlInput {
        let state = self.world.joint_state(i);
        let gravity_torque = if self.joints[i].wants_gravity {
            self.world.gravity_torque(i)
        } else {
            0.0
        };
        let setpoint = self.setpoint(i);
        let (pos, vel) = self.sensed(i, state.pos, state.vel);
        let j = &mut self.joints[i];
        let mut measured: Measured = j.servo.measure(pos, vel, j.delivered, &mut j.rng);
        if let Some(f) = self
            .faults
            .iter()
            .find(|f| f.acting(i) && f.spec.kind == FaultKind::EncoderStuck)
            && j.hw.is_none()
        {
            // A frozen register: the same reading every time, noise and all.
            let r = j.servo.resolution;
            measured.pos = (f.stuck / r).round() * r;
            measured.vel = 0.0;
        }
        j.seq += 1;
        let period = j.period;
        self.observe(i, &measured, setpoint.pos, setpoint.vel);
        self.joints[i].last_measured = measured;
        self.joints[i].last_setpoint = (self.t, setpoint.pos, setpoint.vel);
        ControlInput {
            t: self.t,
            dt: period,
            setpoint,
            measured,
            gravity_torque,
        }
    }

    /// Joint `i`'s setpoint now: its trajectory, or while resuming (after a restart,
    /// a servo coming back, an e-stop reset) a smooth blend from where the joint was
    /// onto the trajectory, so it walks back instead of jumping (and tripping its
    /// following-error limit at once).
    pub fn setpoint(&mut self, i: usize) -> crate::control::Setpoint {
        let sp = self.traj.sample(i, self.t);
        let j = &mut self.joints[i];
        let Some((t0, p0, v0, dur)) = j.resume else {
            return sp;
        };
        let tau = (self.t - t0).max(0.0);
        let x = tau / dur;
        if x >= 1.0 {
            j.resume = None;
            return sp;
        }
        // Where the joint was going: from p0 at v0, braking uniformly to rest at
        // the end of the blend...
        let f = p0 + v0 * tau * (1.0 - 0.5 * x);
        let fv = v0 * (1.0 - x);
        // ...smoothly handed over to the trajectory (smoothstep weight).
        let s = x * x * (3.0 - 2.0 * x);
        let ds = 6.0 * x * (1.0 - x) / dur;
        crate::control::Setpoint {
            pos: f + (sp.pos - f) * s,
            vel: fv * (1.0 - s) + sp.vel * s + (sp.pos - f) * ds,
            acc: sp.acc * s,
        }
    }

    /// Starts a blend from the joint's present position and velocity onto its
    /// trajectory, at up to a quarter of the servo's no-load speed (at least 50 ms,
    /// plus the time to brake): gentle, because the rest of the arm rides on this
    /// joint, and without a velocity step for a joint that is still moving.
    fn resume(&mut self, i: usize) {
        let st = self.world.joint_state(i);
        let target = self.traj.sample(i, self.t).pos;
        let j = &mut self.joints[i];
        let speed = 0.25 * j.servo.spec.no_load_speed_rad_s;
        let brake = st.vel.abs() / speed * 0.1;
        let dur = ((target - st.pos).abs() / speed + brake).max(0.05);
        j.resume = Some((self.t, st.pos, st.vel, dur));
    }

    /// A fresh command from joint `i`'s service.
    pub fn command(&mut self, i: usize, torque: f64, for_t: f64) {
        let j = &mut self.joints[i];
        if j.mode == DriveMode::Controller {
            j.command = torque;
            j.command_t = for_t;
        }
    }

    /// Records an event.
    pub fn event(&mut self, joint: usize, kind: &str, detail: String) {
        let joint = self
            .joints
            .get(joint)
            .map(|j| j.name.clone())
            .unwrap_or_default();
        self.events.push(Event {
            t: self.t,
            joint,
            kind: kind.into(),
            detail,
            state: None,
            latency_s: None,
        });
    }

    /// Joint `i` as a host sees it now: ((setpoint, setpoint velocity), (measured
    /// position, velocity)); the servo's reading for hardware joints, the encoder's
    /// last reading for controlled joints, the physics otherwise.
    pub fn observed(&self, i: usize) -> ((f64, f64), (f64, f64)) {
        let j = &self.joints[i];
        // This step's control sample already has the setpoint, usually.
        let sp = if j.last_setpoint.0 == self.t {
            (j.last_setpoint.1, j.last_setpoint.2)
        } else {
            let sp = self.traj.sample(i, self.t);
            (sp.pos, sp.vel)
        };
        let m = match (&j.hw, j.mode) {
            (Some(h), _) => (h.pos, h.vel),
            (None, DriveMode::Controller) => (j.last_measured.pos, j.last_measured.vel),
            (None, _) => {
                let st = self.world.joint_state(i);
                (st.pos, st.vel)
            }
        };
        (sp, m)
    }

    /// Delivers this step's torques, steps the physics, records statistics (joints
    /// followed from a recording have had their trace played by
    /// [`Plant::play_traces`] first).
    pub fn step(&mut self) {
        for i in 0..self.joints.len() {
            if self.joints[i].conditions.iter().any(Option::is_some) {
                self.refresh_health(i);
            }
        }
        self.world.clear_torques();
        let mut deficits = Vec::new();
        for i in 0..self.joints.len() {
            let state = self.world.joint_state(i);
            let j = &mut self.joints[i];
            let cmd = match j.mode {
                DriveMode::Follow => {
                    // The twin tracks the measured joint stiffly (see FOLLOW_STIFFNESS),
                    // critically damped on the servo's armature, gravity compensated.
                    let hw = j.hw.as_ref().map_or((state.pos, 0.0), |h| (h.pos, h.vel));
                    let kp = FOLLOW_STIFFNESS * j.servo.spec.stall_torque_nm;
                    let kd = 2.0 * (kp * j.servo.armature().max(1e-4)).sqrt();
                    let g = self.world.gravity_torque(i);
                    let tau = kp * (hw.0 - state.pos) + kd * (hw.1 - state.vel) - g;
                    let sp = self.traj.sample(i, self.t);
                    // Torque as the servo reports it (its load), not the twin's.
                    let load = j.hw.as_ref().map_or(0.0, |h| h.load);
                    let servo_tau = load * j.servo.spec.stall_torque_nm;
                    j.stats.record(
                        sp.pos - hw.0,
                        servo_tau,
                        load.abs() >= 0.999,
                        hw.0,
                        j.limits,
                    );
                    j.delivered = tau;
                    self.world.set_torque(i, tau);
                    continue;
                }
                DriveMode::Controller => j.command,
                DriveMode::Hold { hold } => {
                    j.servo.spec.hold_kp * (hold - state.pos) - j.servo.spec.hold_kd * state.vel
                }
                DriveMode::Limp => 0.0,
            };
            let mut d = j.servo.deliver(cmd, state.motor_vel);
            let expected = d.torque;
            for f in &self.faults {
                if !f.acting(i) {
                    continue;
                }
                match f.spec.kind {
                    FaultKind::TorqueSag { factor } => {
                        let lim = factor * j.servo.spec.stall_torque_nm;
                        if d.torque.abs() > lim {
                            d.torque = lim.copysign(d.torque);
                            d.saturated = true;
                        }
                    }
                    FaultKind::PowerLoss | FaultKind::ServoError { .. } => d.torque = 0.0,
                    _ => {}
                }
            }
            j.delivered = d.torque;
            j.clipped = (expected - d.torque).abs();
            j.thermal
                .step(d.torque / j.servo.spec.stall_torque_nm, self.dt);
            if j.mode == DriveMode::Controller {
                let stall = j.servo.spec.stall_torque_nm;
                if let Some(s) = j
                    .monitors
                    .torque(self.t, expected, d.torque, stall, self.dt)
                {
                    deficits.push((i, s, expected, d.torque));
                }
            }
            let sp = self.traj.sample(i, self.t);
            j.stats.record(
                sp.pos - state.pos,
                d.torque,
                d.saturated,
                state.pos,
                j.limits,
            );
            self.world.set_torque(i, d.torque);
        }
        self.track_effect();
        for (i, s, expected, delivered) in deficits {
            self.symptom(
                i,
                s,
                &format!("servo delivers {delivered:.3} N·m where {expected:.3} N·m was commanded"),
            );
            self.condition(i, Condition::Torque);
        }
        self.world.step();
        self.steps += 1;
        self.t = self.steps as f64 * self.dt;
    }
}
