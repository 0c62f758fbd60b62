//! The plant: physics plus each joint's servo, seen from the executors. It samples
//! what a joint service is sent (trajectory setpoint, encoder reading, gravity
//! torque), turns commands into delivered torque (servo envelope, or the joint's safe
//! state once its service has died), steps the physics and keeps the statistics and
//! the event log. Executors decide *when* things happen; the plant decides *what*.
//!
//! It is also where supervision acts (see `supervisor.rs` for the monitors): symptoms
//! mark injected faults detected (with their latency), conditions make a joint
//! DEGRADED while they last, failures put a joint in its safe state and either
//! schedule a restart or latch it FAULTED, and the e-stop holds every joint until a
//! reset.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::supervisor::{CLEAR_AFTER_S, Monitors, RestartBudget, SupervisionSpec};
use crate::control::{ControlInput, Measured, Trajectory};
use crate::faults::{FaultClass, FaultKind, FaultSpec, Symptom};
use crate::physics::{ArmWorld, BuildOptions};
use crate::scene::{SafeState, Scene};
use crate::servo::ServoModel;
use crate::telemetry::{Event, FaultRecord, JointHealth, JointReport, JointStats, Report};

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

/// A joint whose servo is on a serial bus.
#[derive(Debug, Clone)]
pub struct HwJoint {
    /// Index of its bus (buses in order of first appearance) and its slot on it.
    pub bus: usize,
    pub slot: usize,
    /// e.g. "serial:/dev/ttyUSB0:sts:3".
    pub label: String,
    /// Last measurement: rad, rad/s, load.
    pub pos: f64,
    pub vel: f64,
    pub load: f64,
    /// Sim time of the last valid measurement.
    pub last_ok_t: f64,
    pub transactions: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub latencies_us: Vec<f32>,
    /// The backend this joint is on.
    pub spec: crate::scene::BackendSpec,
    /// Swapping in: the joint is still simulated while its servo is walked to the
    /// simulated position; it follows the servo once they agree.
    pub handover: bool,
    /// Last goal sent to the servo, rad (none before its first reply).
    pub goal: Option<f64>,
    /// Consecutive transactions that took over half the control period.
    pub slow: u32,
}

impl HwJoint {
    /// A joint on `spec` (a Serial backend), starting at `pos`.
    pub fn new(spec: &crate::scene::BackendSpec, pos: f64) -> Self {
        let label = match spec {
            crate::scene::BackendSpec::Serial {
                port, protocol, id, ..
            } => {
                let p = if *protocol == crate::scene::BusProtocol::Sts {
                    "sts"
                } else {
                    "dxl"
                };
                format!("serial:{port}:{p}:{id}")
            }
            crate::scene::BackendSpec::Sim => "sim".into(),
        };
        Self {
            bus: 0,
            slot: 0,
            label,
            pos,
            vel: 0.0,
            load: 0.0,
            last_ok_t: 0.0,
            transactions: 0,
            errors: 0,
            timeouts: 0,
            latencies_us: Vec::new(),
            spec: spec.clone(),
            handover: false,
            goal: None,
            slow: 0,
        }
    }
}

/// One joint as the plant sees it.
pub struct PlantJoint {
    pub name: String,
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
    pub hw: Option<HwJoint>,
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
    /// Blending back onto the trajectory: (start time, start position, start
    /// velocity, duration).
    pub resume: Option<(f64, f64, f64, f64)>,
    /// Torque the acting faults took away this step, N·m (ground truth).
    pub clipped: f64,
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

/// A scheduled fault as the plant tracks it.
#[derive(Debug, Clone)]
pub struct PlantFault {
    pub joint: usize,
    pub spec: FaultSpec,
    pub started: bool,
    pub cleared: bool,
    /// Position the encoder froze at (EncoderStuck).
    pub stuck: f64,
    pub detected_at: Option<f64>,
    pub cleared_at: Option<f64>,
    /// One-shot controller faults: when the struck service was replaced.
    pub ended_at: Option<f64>,
    /// Ground truth (for the fuzzer's oracle, never for supervision): the fault
    /// changed what the joint did. See [`Plant::track_effect`].
    pub effective: bool,
    effect_steps: u32,
    /// Setpoint at onset (EncoderStuck effect).
    sp0: f64,
}

impl PlantFault {
    fn new(joint: usize, spec: FaultSpec) -> Self {
        Self {
            joint,
            spec,
            started: false,
            cleared: false,
            stuck: 0.0,
            detected_at: None,
            cleared_at: None,
            ended_at: None,
            effective: false,
            effect_steps: 0,
            sp0: 0.0,
        }
    }

    /// Acting now (started, not cleared).
    fn acting(&self, i: usize) -> bool {
        self.joint == i && self.started && !self.cleared
    }
}

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
    /// The joints' configurations (index-aligned with `joints`; empty for copies > 1).
    pub configs: Vec<crate::scene::JointConfig>,
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
                let stream = seed_for(scene.seed, &name);
                joints.push(PlantJoint {
                    name,
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
                    clipped: 0.0,
                });
                if let (crate::scene::BackendSpec::Serial { .. }, Some(j)) =
                    (&c.backend, joints.last_mut())
                {
                    j.mode = DriveMode::Follow;
                    j.hw = Some(HwJoint::new(&c.backend, c.initial));
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
            configs: if opts.copies == 1 {
                scene.joints.clone()
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

    /// Puts joint `i` in its safe state (hold or limp; StopAll holds and e-stops).
    fn safe_state(&mut self, i: usize) -> String {
        let pos = self.world.joint_state(i).pos;
        let j = &mut self.joints[i];
        j.monitors.reset();
        match j.safe_state {
            SafeState::Hold | SafeState::StopAll => {
                j.mode = DriveMode::Hold { hold: pos };
                format!("holding {pos:.4}")
            }
            SafeState::Limp => {
                j.mode = DriveMode::Limp;
                "limp".into()
            }
        }
    }

    /// Joint `i` has failed for good (no restart): safe state, FAULTED, latched.
    pub fn fault(&mut self, i: usize, kind: &str, detail: String) {
        if self.joints[i].health == JointHealth::Faulted {
            return;
        }
        let safe = self.safe_state(i);
        self.joints[i].restart_at = None;
        self.event(i, kind, detail);
        self.force_health(i, JointHealth::Faulted, &safe);
        self.stop_all_policy(i);
    }

    /// Joint `i` has failed (its controller died or hung, or it tripped on its
    /// following error): safe state, then a restart if its budget allows (OTP style:
    /// at most `max_restarts` within `restart_window_s`), else latched FAULTED.
    pub fn controller_failed(&mut self, i: usize, kind: &str, detail: String) {
        let h = self.joints[i].health;
        if h == JointHealth::Faulted || self.joints[i].restart_at.is_some() {
            return;
        }
        let t = self.t;
        let j = &mut self.joints[i];
        let sup = j.supervision;
        if j.safe_state == SafeState::StopAll
            || !j.budget.take(t, sup.max_restarts, sup.restart_window_s)
        {
            let why = if j.safe_state == SafeState::StopAll {
                detail
            } else {
                format!(
                    "{detail}; restart budget exhausted ({} restarts within {} s)",
                    sup.max_restarts, sup.restart_window_s
                )
            };
            self.fault(i, kind, why);
            return;
        }
        let used = j.budget.used();
        // Exponential backoff: each restart within the window waits twice as long.
        let delay = sup.restart_delay_s * 2f64.powi(used.saturating_sub(1).min(16) as i32);
        j.restart_at = Some(t + delay);
        let safe = self.safe_state(i);
        self.event(i, kind, detail);
        self.force_health(
            i,
            JointHealth::Restarting,
            &format!(
                "{safe}; restart {used}/{} within {} s in {:.0} ms",
                sup.max_restarts,
                sup.restart_window_s,
                delay * 1e3
            ),
        );
    }

    /// Whether joint `i`'s restart is due now (the executor then builds a fresh
    /// service and calls [`Plant::restarted`]).
    pub fn restart_due(&self, i: usize) -> bool {
        self.estop.is_none()
            && self.joints[i]
                .restart_at
                .is_some_and(|at| self.t + 1e-12 >= at)
    }

    /// A fresh service now drives joint `i`; it stays RESTARTING until its first reply.
    pub fn restarted(&mut self, i: usize) {
        let j = &mut self.joints[i];
        j.restart_at = None;
        j.restarts += 1;
        j.mode = DriveMode::Controller;
        j.reset_controller = true;
        j.monitors.reset();
        // The last command belongs to the dead service.
        j.command = 0.0;
        j.command_t = self.t;
        let n = j.restarts;
        let t = self.t;
        // A one-shot controller fault ends with the instance it struck.
        for f in self.faults.iter_mut() {
            if f.joint == i && f.spec.one_shot() && f.detected_at.is_some() && f.ended_at.is_none()
            {
                f.ended_at = Some(t);
            }
        }
        self.resume(i);
        self.event(i, "restart", format!("service restarted (restart #{n})"));
    }

    /// A valid reply from joint `i`'s service.
    pub fn replied(&mut self, i: usize) {
        if self.joints[i].health == JointHealth::Restarting {
            self.set_health(i, JointHealth::Ok, "restarted service answered");
            self.refresh_health(i);
        }
    }

    fn stop_all_policy(&mut self, i: usize) {
        if self.joints[i].safe_state == SafeState::StopAll {
            let name = self.joints[i].name.clone();
            self.latch_estop(format!("joint '{name}' failed (policy StopAll)"));
        }
    }

    /// Latches the e-stop: every joint holds where it is (hardware joints keep their
    /// last goal) until [`Plant::reset_estop`].
    pub fn latch_estop(&mut self, why: String) {
        if self.estop.is_some() {
            return;
        }
        for i in 0..self.joints.len() {
            let pos = self.world.joint_state(i).pos;
            let j = &mut self.joints[i];
            if j.hw.is_none() || j.mode == DriveMode::Controller {
                j.mode = DriveMode::Hold { hold: pos };
            }
        }
        self.event(usize::MAX, "estop", format!("latched: {why}"));
        self.estop = Some((self.t, why));
    }

    /// Releases the e-stop: every joint that is not FAULTED goes back to its
    /// controller (afresh) or to following its servo.
    pub fn reset_estop(&mut self) -> Result<(), String> {
        if self.estop.take().is_none() {
            return Err("the e-stop is not latched".into());
        }
        for i in 0..self.joints.len() {
            let j = &mut self.joints[i];
            if j.health == JointHealth::Faulted || j.restart_at.is_some() {
                continue;
            }
            j.monitors.reset();
            match &j.hw {
                Some(h) if !h.handover && j.mode != DriveMode::Controller => {
                    j.mode = DriveMode::Follow
                }
                _ => {
                    j.mode = DriveMode::Controller;
                    j.reset_controller = true;
                    self.resume(i);
                }
            }
        }
        self.event(usize::MAX, "estop", "reset: joints resume".into());
        Ok(())
    }

    /// Clears a latched FAULTED joint (operator reset): it restarts with a fresh
    /// service and budget.
    pub fn reset_joint(&mut self, i: usize) -> Result<(), String> {
        let j = &mut self.joints[i];
        if j.health != JointHealth::Faulted {
            return Err(format!("joint '{}' is not FAULTED", j.name));
        }
        j.budget = RestartBudget::default();
        j.restart_at = Some(self.t);
        j.health = JointHealth::Restarting;
        self.push_state(
            i,
            JointHealth::Faulted,
            JointHealth::Restarting,
            "operator reset",
        );
        Ok(())
    }

    fn push_state(&mut self, i: usize, from: JointHealth, to: JointHealth, why: &str) {
        self.event(
            i,
            "state",
            format!("{} -> {} ({why})", from.as_str(), to.as_str()),
        );
        if let Some(e) = self.events.last_mut() {
            e.state = Some(to);
        }
    }

    /// Changes health even out of RESTARTING (failures and restarts).
    fn force_health(&mut self, i: usize, to: JointHealth, why: &str) {
        let from = self.joints[i].health;
        if from == to || from == JointHealth::Faulted {
            return;
        }
        self.joints[i].health = to;
        self.push_state(i, from, to, why);
    }

    fn set_health(&mut self, i: usize, to: JointHealth, why: &str) {
        let from = self.joints[i].health;
        if from == to || from == JointHealth::Faulted {
            return;
        }
        // A restarting joint is OK again only through `replied`.
        if from == JointHealth::Restarting
            && self.joints[i].hw.is_none()
            && why != "restarted service answered"
        {
            return;
        }
        self.joints[i].health = to;
        self.push_state(i, from, to, why);
        if self.joints[i].hw.is_some() {
            self.apply_link_policy(i, from, to);
        }
    }

    /// A symptom seen on joint `i` now: every acting (or just-cleared), undetected
    /// fault on it that the symptom reveals is detected, with its latency.
    pub fn symptom(&mut self, i: usize, s: Symptom, detail: &str) {
        let t = self.t;
        let period = self.joints[i].period;
        let grace = self.joints[i].supervision.silent_periods as f64 * period + 1e-9;
        let mut hits = Vec::new();
        for (k, f) in self.faults.iter_mut().enumerate() {
            let recent = f.started && (!f.cleared || f.cleared_at.is_some_and(|c| t - c <= grace));
            if f.joint == i && recent && f.detected_at.is_none() && f.spec.kind.revealed_by(s) {
                f.detected_at = Some(t);
                hits.push(k);
            }
        }
        for k in hits {
            let f = &self.faults[k];
            let latency = (t - f.spec.at).max(0.0);
            let what = f.spec.kind.describe();
            self.event(
                i,
                "fault_detected",
                format!(
                    "{what}: {detail} ({:.1} ms = {:.2} control periods after onset)",
                    latency * 1e3,
                    latency / period
                ),
            );
            if let Some(e) = self.events.last_mut() {
                e.latency_s = Some(latency);
            }
        }
    }

    /// A DEGRADING condition seen on joint `i` now.
    pub fn condition(&mut self, i: usize, c: Condition) {
        self.joints[i].conditions[c as usize] = Some(self.t);
        self.refresh_health(i);
    }

    /// OK or DEGRADED from the joint's recent conditions (simulated joints that are
    /// neither restarting nor faulted).
    fn refresh_health(&mut self, i: usize) {
        let t = self.t;
        let j = &mut self.joints[i];
        if j.hw.is_some() || !matches!(j.health, JointHealth::Ok | JointHealth::Degraded) {
            return;
        }
        let mut active = Vec::new();
        for (k, c) in j.conditions.iter_mut().enumerate() {
            if c.is_some_and(|seen| t - seen > CLEAR_AFTER_S) {
                *c = None;
            }
            if c.is_some() {
                active.push(CONDITION_NAMES[k]);
            }
        }
        if active.is_empty() {
            self.set_health(i, JointHealth::Ok, "conditions cleared");
        } else {
            let why = active.join(", ");
            self.set_health(i, JointHealth::Degraded, &why);
        }
    }

    /// What the host sees of joint `i` on a control sample: servo status, encoder
    /// plausibility, following error.
    fn observe(&mut self, i: usize, m: &Measured, sp_pos: f64, sp_vel: f64) {
        if self.joints[i].mode != DriveMode::Controller || self.joints[i].hw.is_some() {
            return;
        }
        let t = self.t;
        // The servo's status byte: error bits, or silence when it has no power.
        let status = self.faults.iter().find_map(|f| match f.spec.kind {
            FaultKind::ServoError { bit } if f.acting(i) => Some(format!(
                "servo status error bits {:#04x} ({bit:?})",
                bit.mask()
            )),
            FaultKind::PowerLoss if f.acting(i) => Some("servo has no power (no status)".into()),
            _ => None,
        });
        let j = &mut self.joints[i];
        if let Some(why) = status {
            // The servo has shut its torque off and says why: the supervisor waits
            // for it (no following-error trip, no restart) and starts the controller
            // afresh when the servo is back.
            j.servo_down = true;
            j.monitors.reset();
            self.symptom(i, Symptom::ServoStatus, &why);
            self.condition(i, Condition::ServoStatus);
            return;
        }
        if std::mem::take(&mut j.servo_down) {
            j.reset_controller = true;
            j.monitors.reset();
            self.resume(i);
            return;
        }
        let j = &mut self.joints[i];
        let tick = j.servo.resolution;
        let spec = &j.servo.spec;
        let enc = j.monitors.encoder(
            t,
            m.pos,
            m.vel,
            sp_pos,
            tick,
            spec.noise_ticks,
            spec.velocity_resolution_rad_s,
            spec.backlash_rad,
            j.period,
        );
        // While blending back onto its trajectory the joint follows a path the
        // supervisor made up for it: the following-error limit applies again (to the
        // trajectory itself) once the blend is over.
        let fe = if j.resume.is_some() {
            None
        } else {
            j.monitors
                .following(t, sp_pos - m.pos, sp_vel, &j.supervision)
        };
        if let Some(s) = enc {
            self.symptom(
                i,
                s,
                "encoder reading inconsistent with its velocity or frozen",
            );
            self.condition(i, Condition::Encoder);
        }
        if let Some(s) = fe {
            let sup = self.joints[i].supervision;
            let limit = sup.following_error_rad + sup.following_error_per_rad_s * sp_vel.abs();
            let detail = format!(
                "following error {:.4} rad over its limit {limit:.4} rad for {:.0} ms",
                sp_pos - m.pos,
                sup.following_error_trip_s * 1e3
            );
            self.symptom(i, s, &detail);
            self.controller_failed(i, "following_error", detail);
        }
    }

    /// Applies a report of bus thread to its joints (`joints[slot]` = plant index).
    pub fn hw_event(&mut self, joints: &[usize], ev: &crate::hardware::bridge::BusEvent) {
        use crate::hardware::bridge::{BusEvent, LinkError};
        match ev {
            BusEvent::Tick {
                latency,
                samples,
                errors,
            } => {
                let us = latency.as_secs_f64() as f32 * 1e6;
                let slow_now = |p: f64| latency.as_secs_f64() > 0.5 * p;
                for &i in joints {
                    let period = self.joints[i].period;
                    if let Some(h) = self.joints[i].hw.as_mut() {
                        h.transactions += 1;
                        h.latencies_us.push(us);
                        h.slow = if slow_now(period) { h.slow + 1 } else { 0 };
                    }
                    // Transactions that keep taking over half the joint's period leave
                    // no room for a retry: the link is too slow (3 in a row, so one
                    // late wake-up of the bus thread is not a slow link).
                    if self.joints[i].hw.as_ref().is_some_and(|h| h.slow >= 3) {
                        self.symptom(
                            i,
                            Symptom::LinkError,
                            &format!("transaction took {:.2} ms", latency.as_secs_f64() * 1e3),
                        );
                    }
                }
                for s in samples {
                    let Some(&i) = joints.get(s.slot) else {
                        continue;
                    };
                    let t = self.t;
                    if let Some(h) = self.joints[i].hw.as_mut() {
                        h.pos = s.pos;
                        h.vel = s.vel;
                        h.load = s.load;
                        h.last_ok_t = t;
                        h.goal.get_or_insert(s.pos);
                    }
                    self.check_handover(i);
                    if s.error != 0 {
                        self.event(
                            i,
                            "servo_error",
                            format!("status error bits {:#04x}", s.error),
                        );
                        self.set_health(i, JointHealth::Degraded, "servo error bits");
                    } else if !errors.iter().any(|(slot, _)| *slot == s.slot) {
                        if self.joints[i].hw.as_ref().is_some_and(|h| h.slow >= 3) {
                            let why = format!(
                                "slow link: transaction took {:.2} ms",
                                latency.as_secs_f64() * 1e3
                            );
                            self.set_health(i, JointHealth::Degraded, &why);
                        } else {
                            self.set_health(i, JointHealth::Ok, "valid reply");
                        }
                    }
                }
                for (slot, e) in errors {
                    let blamed: Vec<usize> = if *slot == usize::MAX {
                        joints.to_vec()
                    } else {
                        joints.get(*slot).copied().into_iter().collect()
                    };
                    for i in blamed {
                        if let Some(h) = self.joints[i].hw.as_mut() {
                            h.errors += 1;
                            h.timeouts += (*e == LinkError::Timeout) as u64;
                        }
                        self.symptom(i, Symptom::LinkError, &format!("link error: {e:?}"));
                        // OFFLINE ends only with a valid reply, not with more errors.
                        if self.joints[i].health != JointHealth::Offline {
                            self.set_health(
                                i,
                                JointHealth::Degraded,
                                &format!("link error: {e:?}"),
                            );
                        }
                    }
                }
            }
            BusEvent::Offline { reason } => {
                for &i in joints {
                    if let Some(h) = self.joints[i].hw.as_mut() {
                        h.vel = 0.0;
                    }
                    self.symptom(i, Symptom::LinkError, &format!("link down: {reason}"));
                    self.set_health(i, JointHealth::Offline, reason);
                }
            }
            BusEvent::Online => {
                if let Some(&i) = joints.first() {
                    self.event(i, "link_online", "port open".into());
                }
            }
        }
    }

    /// A hardware joint's link went down or came back: apply its policy.
    fn apply_link_policy(&mut self, i: usize, from: JointHealth, to: JointHealth) {
        use crate::scene::LinkLossPolicy as P;
        let policy = self.joints[i].on_link_loss;
        let name = self.joints[i].name.clone();
        let j = &mut self.joints[i];
        let handing_over = j.hw.as_ref().is_some_and(|h| h.handover);
        if to == JointHealth::Offline {
            match policy {
                P::HoldInSim => {}
                P::SimTwin => {
                    j.mode = DriveMode::Controller;
                    j.reset_controller = true;
                    self.event(
                        i,
                        "link_policy",
                        "link lost: the simulated twin takes over under its controller".into(),
                    );
                }
                P::Limp => {
                    j.mode = DriveMode::Limp;
                    self.event(
                        i,
                        "link_policy",
                        "link lost: the simulated twin goes limp".into(),
                    );
                }
                P::StopAll => {
                    let why = format!("link lost on joint '{name}' (policy StopAll)");
                    self.stop_requested = Some(why.clone());
                    self.event(i, "link_policy", "link lost: stopping the run".into());
                    self.latch_estop(why);
                }
            }
        } else if from == JointHealth::Offline && !handing_over {
            match policy {
                P::SimTwin => {
                    // Bumpless return: walk the servo to the twin before following it.
                    if let Some(h) = j.hw.as_mut() {
                        h.handover = true;
                        h.goal = Some(h.pos);
                    }
                    self.event(
                        i,
                        "link_policy",
                        "link back: walking the servo to the simulated twin".into(),
                    );
                }
                P::Limp => j.mode = DriveMode::Follow,
                P::HoldInSim | P::StopAll => {}
            }
        }
    }

    /// Adds a fault while running and returns it as scheduled (a fault whose `at`
    /// has passed starts now and keeps its length). Controller faults must also be
    /// sent to the joint's service (the executor does that).
    pub fn inject(&mut self, mut spec: FaultSpec) -> Result<(usize, FaultSpec), String> {
        let Some(joint) = self.joints.iter().position(|j| j.name == spec.joint) else {
            return Err(format!("no joint named '{}'", spec.joint));
        };
        if spec.at < self.t {
            let len = spec.until.map(|u| u - spec.at);
            spec.at = self.t;
            spec.until = len.map(|l| self.t + l.max(0.0));
        }
        self.faults.push(PlantFault::new(joint, spec.clone()));
        Ok((joint, spec))
    }

    /// Link faults acting now on the hardware joints: (joint, kind) pairs, for the
    /// executor to hand to each bus's man-in-the-middle layer.
    pub fn link_faults(&self) -> Vec<(usize, FaultKind)> {
        self.faults
            .iter()
            .filter(|f| f.started && !f.cleared && f.spec.kind.class() == FaultClass::Link)
            .map(|f| (f.joint, f.spec.kind))
            .collect()
    }

    /// Onsets and clears of scheduled faults at the current time: one event each.
    /// Executors call it first thing each step, before any service runs. Returns
    /// whether any link fault started or cleared (see [`Plant::link_faults`]).
    pub fn timeline(&mut self) -> bool {
        let t = self.t;
        let mut link_changed = false;
        for k in 0..self.faults.len() {
            let (joint, spec, started, cleared) = {
                let f = &self.faults[k];
                (f.joint, f.spec.clone(), f.started, f.cleared)
            };
            if !started && spec.active(t) {
                self.faults[k].started = true;
                self.faults[k].stuck = self.world.joint_state(joint).pos;
                self.faults[k].sp0 = self.traj.sample(joint, t).pos;
                link_changed |= spec.kind.class() == FaultClass::Link;
                // A link fault acts on the wire of a hardware joint (ground truth).
                self.faults[k].effective =
                    spec.kind.class() == FaultClass::Link && self.joints[joint].hw.is_some();
                let window = spec.until.map_or(
                    if spec.one_shot() {
                        "once".to_string()
                    } else {
                        "until the end".to_string()
                    },
                    |u| format!("until {u:.3} s"),
                );
                let note = match (spec.kind.class(), self.joints[joint].hw.is_some()) {
                    (FaultClass::Link, false) => " (no serial link on this joint: no effect)",
                    (FaultClass::Sensor | FaultClass::Actuator, true) => {
                        " (a real servo: simulated sensor/actuator faults have no effect)"
                    }
                    _ => "",
                };
                self.event(
                    joint,
                    "fault_onset",
                    format!("{} {window}{note}", spec.kind.describe()),
                );
            } else if started && !cleared && spec.until.is_some_and(|u| t + 1e-12 >= u) {
                self.faults[k].cleared = true;
                self.faults[k].cleared_at = Some(t);
                link_changed |= spec.kind.class() == FaultClass::Link;
                self.event(
                    joint,
                    "fault_clear",
                    format!("{} cleared after {:.3} s", spec.kind.name(), t - spec.at),
                );
            }
        }
        link_changed
    }

    /// What joint `i`'s encoder sees of (pos, vel) under the active sensor faults.
    fn sensed(&mut self, i: usize, pos: f64, vel: f64) -> (f64, f64) {
        let (mut p, mut v) = (pos, vel);
        if self.joints[i].hw.is_some() {
            return (p, v);
        }
        for f in &self.faults {
            if !f.acting(i) {
                continue;
            }
            match f.spec.kind {
                FaultKind::EncoderStuck => {
                    p = f.stuck;
                    v = 0.0;
                }
                FaultKind::EncoderOffset { rad } => p += rad,
                FaultKind::EncoderNoise { sigma_rad } => {
                    p += sigma_rad * crate::servo::gaussian(&mut self.joints[i].rng)
                }
                _ => {}
            }
        }
        (p, v)
    }

    /// Servo resolution, rad (4096 ticks per revolution on both families).
    fn tick(&self) -> f64 {
        std::f64::consts::TAU / 4096.0
    }

    /// Swapping in: once the servo stands where the simulated joint is (within 2
    /// ticks) and the last goal is within 1 tick of it, the joint starts following the
    /// servo.
    fn check_handover(&mut self, i: usize) {
        let sim = self.world.joint_state(i).pos;
        let tick = self.tick();
        let j = &mut self.joints[i];
        let Some(h) = j.hw.as_mut() else { return };
        if !h.handover {
            return;
        }
        let Some(goal) = h.goal else { return };
        if (h.pos - sim).abs() <= 2.0 * tick && (goal - sim).abs() <= tick {
            h.handover = false;
            j.mode = DriveMode::Follow;
            let detail = format!(
                "handover complete: servo {:.2} ticks, last goal {:.2} ticks from the simulated joint",
                (h.pos - sim) / tick,
                (goal - sim) / tick
            );
            let label = h.label.clone();
            self.event(i, "swap", format!("{detail}; now on {label}"));
        }
    }

    /// The goal to send joint `i`'s servo this tick, rad: the simulated position
    /// while handing over, the trajectory once following; rate-limited to the servo's
    /// no-load speed so the command never jumps. `None` before the servo's first reply.
    pub fn hw_goal(&mut self, i: usize) -> Option<f64> {
        let sim = self.world.joint_state(i).pos;
        let sp = self.traj.sample(i, self.t).pos;
        let j = &mut self.joints[i];
        let max_step = j.servo.spec.no_load_speed_rad_s * j.period;
        let h = j.hw.as_mut()?;
        let target = if h.handover { sim } else { sp };
        let g = h.goal? + (target - h.goal?).clamp(-max_step, max_step);
        h.goal = Some(g);
        Some(g)
    }

    /// Starts moving joint `i` to `backend`. To a serial servo: the joint stays
    /// simulated until the servo has been walked to it (see `check_handover`). To
    /// sim: the controller takes over from the followed position at once.
    pub fn swap(&mut self, i: usize, backend: &crate::scene::BackendSpec) -> Result<(), String> {
        let pos = self.world.joint_state(i).pos;
        let t = self.t;
        let j = &mut self.joints[i];
        if j.health == JointHealth::Faulted {
            return Err(format!("joint '{}' is FAULTED", j.name));
        }
        match backend {
            crate::scene::BackendSpec::Sim => {
                let Some(h) = j.hw.take() else {
                    return Err(format!("joint '{}' is already simulated", j.name));
                };
                j.mode = DriveMode::Controller;
                j.health = JointHealth::Ok;
                j.reset_controller = true;
                self.event(i, "swap", format!("{} -> sim at {pos:.4}", h.label));
            }
            crate::scene::BackendSpec::Serial { .. } => {
                if j.hw.is_some() {
                    return Err(format!("joint '{}' is already on a serial bus", j.name));
                }
                let mut h = HwJoint::new(backend, pos);
                h.handover = true;
                // The bus needs a moment to open the port and engage the servo:
                // supervision starts after SWAP_CONNECT_GRACE_S.
                h.last_ok_t = t + SWAP_CONNECT_GRACE_S;
                let label = h.label.clone();
                j.hw = Some(h);
                self.event(
                    i,
                    "swap",
                    format!("sim -> {label}: walking the servo to {pos:.4}"),
                );
            }
        }
        Ok(())
    }

    /// A hardware joint without a valid measurement for 3 of its periods is OFFLINE;
    /// its simulated twin holds the last measured position.
    pub fn hw_supervise(&mut self) {
        for i in 0..self.joints.len() {
            let j = &mut self.joints[i];
            let Some(h) = j.hw.as_mut() else { continue };
            if self.t - h.last_ok_t > 3.0 * j.period + 1e-9
                && matches!(j.health, JointHealth::Ok | JointHealth::Degraded)
            {
                h.vel = 0.0;
                let periods = ((self.t - h.last_ok_t) / j.period).floor();
                self.set_health(
                    i,
                    JointHealth::Offline,
                    &format!("no valid reply for {periods} periods"),
                );
            }
        }
    }

    /// Delivers this step's torques, steps the physics, records statistics.
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

    /// Ground truth for the fuzzer's oracle: marks faults that changed what their
    /// joint did while it was under its controller. Controller, servo-status, noise
    /// and offset faults always do; a slow cycle only if it overruns the period; a
    /// torque sag only if it took away more than the deficit threshold for 10 ms; a
    /// stuck encoder only if the setpoint moved more than 32 ticks from where it was
    /// at onset at least 30 ms in.
    fn track_effect(&mut self) {
        let t = self.t;
        for k in 0..self.faults.len() {
            let f = &self.faults[k];
            let i = f.joint;
            if !f.acting(i) || f.effective {
                continue;
            }
            let j = &self.joints[i];
            if j.mode != DriveMode::Controller || j.hw.is_some() {
                continue;
            }
            let effective = match f.spec.kind {
                FaultKind::Slow { ms } => ms / 1e3 > j.period + 1e-9,
                FaultKind::TorqueSag { .. } => {
                    let thr = (0.02f64).max(0.02 * j.servo.spec.stall_torque_nm);
                    let steps = if j.clipped > thr {
                        f.effect_steps + 1
                    } else {
                        0
                    };
                    self.faults[k].effect_steps = steps;
                    steps as f64 * self.dt >= 0.01 - 1e-12
                }
                FaultKind::EncoderStuck => {
                    let tick = j.servo.resolution;
                    t - f.spec.at >= 0.03
                        && (self.traj.sample(i, t).pos - f.sp0).abs() > 32.0 * tick
                }
                FaultKind::LinkDrop { .. }
                | FaultKind::LinkCorrupt { .. }
                | FaultKind::LinkLatency { .. }
                | FaultKind::Unplug
                | FaultKind::WrongId { .. } => false,
                _ => true,
            };
            self.faults[k].effective = effective;
        }
    }

    /// The report for this run so far.
    pub fn report(
        &self,
        scene: &Scene,
        executor: &str,
        wall_time_s: f64,
        aborted: Option<String>,
    ) -> Report {
        let joints: Vec<JointReport> = self
            .joints
            .iter()
            .map(|j| JointReport {
                name: j.name.clone(),
                backend: j
                    .hw
                    .as_ref()
                    .map_or_else(|| "sim".to_string(), |h| h.label.clone()),
                controller: j.controller_kind.into(),
                rate_hz: 1.0 / j.period,
                state: j.health,
                rms_error_rad: j.stats.rms_error(),
                max_error_rad: j.stats.max_error,
                peak_torque_nm: j.stats.peak_torque,
                saturated_fraction: j.stats.saturated_fraction(),
                deadline_misses: j.stats.deadline_misses,
                restarts: j.restarts,
                max_command_age_s: j.stats.max_command_age_s,
                at_limit_fraction: if j.stats.steps == 0 {
                    0.0
                } else {
                    j.stats.limit_steps as f64 / j.stats.steps as f64
                },
                min_pos_rad: j.stats.min_pos,
                max_pos_rad: j.stats.max_pos,
                link: j.hw.as_ref().map(|h| {
                    crate::telemetry::LinkReport::new(
                        h.transactions,
                        h.errors,
                        h.timeouts,
                        &h.latencies_us,
                    )
                }),
            })
            .collect();
        let passed = aborted.is_none() && joints.iter().all(|j| j.state == JointHealth::Ok);
        let mut report = Report {
            armhil_version: env!("CARGO_PKG_VERSION").into(),
            scene: scene.name.clone(),
            scene_file: scene.source.display().to_string(),
            executor: executor.into(),
            seed: scene.seed,
            steps: self.steps,
            sim_time_s: self.t,
            wall_time_s,
            real_time_factor: if wall_time_s > 0.0 {
                self.t / wall_time_s
            } else {
                0.0
            },
            passed,
            aborted,
            step_lateness_us: None,
            joints,
            faults: Vec::new(),
            estop: self
                .estop
                .as_ref()
                .map(|(t, why)| format!("at {t:.4} s: {why}")),
            expectations: Vec::new(),
            events: self.events.clone(),
        };
        report.faults = self
            .faults
            .iter()
            .map(|f| {
                let j = &self.joints[f.joint];
                let latency = f.detected_at.map(|d| (d - f.spec.at).max(0.0));
                let ended_at = if f.spec.one_shot() {
                    f.ended_at
                } else {
                    f.cleared_at
                };
                FaultRecord {
                    joint: j.name.clone(),
                    kind: f.spec.kind.name().into(),
                    detail: f.spec.kind.describe(),
                    at: f.spec.at,
                    until: f.spec.until,
                    detection_latency_s: latency,
                    detection_latency_periods: latency.map(|l| l / j.period),
                    ended_at,
                    effective: f.effective,
                    recovery_s: ended_at
                        .and_then(|e| crate::expect::ok_again(&report, &j.name, e).map(|t| t - e)),
                }
            })
            .collect();
        if !scene.expect.is_empty() {
            report.expectations = crate::expect::check_all(&scene.expect, &report);
            report.passed =
                report.aborted.is_none() && report.expectations.iter().all(|v| v.passed);
        } else {
            report.passed &= report.estop.is_none();
        }
        report
    }
}

/// Seed of a joint's random stream: the scene seed mixed with the joint name (FNV-1a).
pub fn seed_for(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
