//! The plant: physics plus each joint's servo, seen from the executors. It samples
//! what a joint service is sent (trajectory setpoint, encoder reading, gravity
//! torque), turns commands into delivered torque (servo envelope, or the joint's safe
//! state once its service has died), steps the physics and keeps the statistics and
//! the event log. Executors decide *when* things happen; the plant decides *what*.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::control::{ControlInput, Measured, Trajectory};
use crate::faults::{FaultKind, FaultSpec};
use crate::physics::{ArmWorld, BuildOptions};
use crate::scene::{SafeState, Scene};
use crate::servo::ServoModel;
use crate::telemetry::{Event, JointHealth, JointReport, JointStats, Report};

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
}

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
            faults: if opts.copies == 1 {
                scene
                    .faults
                    .iter()
                    .filter_map(|f| {
                        scene
                            .joints
                            .iter()
                            .position(|c| c.name == f.joint)
                            .map(|joint| PlantFault {
                                joint,
                                spec: f.clone(),
                                started: false,
                                cleared: false,
                                stuck: 0.0,
                            })
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
        let setpoint = self.traj.sample(i, self.t);
        let (pos, vel) = self.sensed(i, state.pos, state.vel);
        let j = &mut self.joints[i];
        let measured: Measured = j.servo.measure(pos, vel, j.delivered, &mut j.rng);
        j.seq += 1;
        ControlInput {
            t: self.t,
            dt: j.period,
            setpoint,
            measured,
            gravity_torque,
        }
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
        });
    }

    /// Joint `i`'s service has failed: move it to its safe state and report.
    pub fn fault(&mut self, i: usize, kind: &str, detail: String) {
        if self.joints[i].health == JointHealth::Faulted {
            return;
        }
        let pos = self.world.joint_state(i).pos;
        let j = &mut self.joints[i];
        j.mode = match j.safe_state {
            SafeState::Hold => DriveMode::Hold { hold: pos },
            SafeState::Limp => DriveMode::Limp,
        };
        let safe = match j.safe_state {
            SafeState::Hold => format!("holding {pos:.4}"),
            SafeState::Limp => "limp".into(),
        };
        j.health = JointHealth::Faulted;
        self.event(i, kind, detail);
        self.event(i, "state", format!("OK -> FAULTED ({safe})"));
    }

    fn set_health(&mut self, i: usize, to: JointHealth, why: &str) {
        let from = self.joints[i].health;
        if from == to || from == JointHealth::Faulted {
            return;
        }
        self.joints[i].health = to;
        self.event(
            i,
            "state",
            format!("{} -> {} ({why})", from.as_str(), to.as_str()),
        );
        if self.joints[i].hw.is_some() {
            self.apply_link_policy(i, from, to);
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
                for &i in joints {
                    if let Some(h) = self.joints[i].hw.as_mut() {
                        h.transactions += 1;
                        h.latencies_us.push(us);
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
                        self.set_health(i, JointHealth::Ok, "valid reply");
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
                        self.set_health(i, JointHealth::Degraded, &format!("link error: {e:?}"));
                    }
                }
            }
            BusEvent::Offline { reason } => {
                for &i in joints {
                    if let Some(h) = self.joints[i].hw.as_mut() {
                        h.vel = 0.0;
                    }
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
                    self.stop_requested =
                        Some(format!("link lost on joint '{name}' (policy StopAll)"));
                    self.event(i, "link_policy", "link lost: stopping the run".into());
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

    /// Adds a sensor or actuator fault while running. A fault whose `at` has passed
    /// starts now and keeps its length. Controller faults live inside the joint's
    /// service and can only be scheduled before the run.
    pub fn inject(&mut self, mut spec: FaultSpec) -> Result<(), String> {
        if spec.kind.in_controller() {
            return Err(format!(
                "{} faults can only be scheduled before the run (scene or --fault)",
                spec.kind.name()
            ));
        }
        let Some(joint) = self.joints.iter().position(|j| j.name == spec.joint) else {
            return Err(format!("no joint named '{}'", spec.joint));
        };
        if spec.at < self.t {
            let len = spec.until.map(|u| u - spec.at);
            spec.at = self.t;
            spec.until = len.map(|l| self.t + l.max(0.0));
        }
        self.faults.push(PlantFault {
            joint,
            spec,
            started: false,
            cleared: false,
            stuck: 0.0,
        });
        Ok(())
    }

    /// Onsets and clears of scheduled faults at the current time: one event each.
    fn fault_timeline(&mut self) {
        let t = self.t;
        for k in 0..self.faults.len() {
            let (joint, spec, started, cleared) = {
                let f = &self.faults[k];
                (f.joint, f.spec.clone(), f.started, f.cleared)
            };
            if !started && spec.active(t) {
                self.faults[k].started = true;
                self.faults[k].stuck = self.world.joint_state(joint).pos;
                let window = spec
                    .until
                    .map_or("until the end".to_string(), |u| format!("until {u:.3} s"));
                self.event(
                    joint,
                    "fault_onset",
                    format!("{} {:?} {window}", spec.kind.name(), spec.kind),
                );
                if let FaultKind::ServoError { bit } = spec.kind {
                    self.set_health(
                        joint,
                        JointHealth::Degraded,
                        &format!("servo error bit {bit:?}: torque off"),
                    );
                } else if spec.kind == FaultKind::PowerLoss {
                    self.set_health(joint, JointHealth::Degraded, "power loss: limp");
                }
            } else if started && !cleared && spec.until.is_some_and(|u| t + 1e-12 >= u) {
                self.faults[k].cleared = true;
                self.event(
                    joint,
                    "fault_clear",
                    format!("{} cleared after {:.3} s", spec.kind.name(), t - spec.at),
                );
                if matches!(
                    spec.kind,
                    FaultKind::ServoError { .. } | FaultKind::PowerLoss
                ) {
                    self.set_health(joint, JointHealth::Ok, "fault cleared");
                }
            }
        }
    }

    /// What joint `i`'s encoder sees of (pos, vel) under the active sensor faults.
    fn sensed(&mut self, i: usize, pos: f64, vel: f64) -> (f64, f64) {
        let (mut p, mut v) = (pos, vel);
        for f in &self.faults {
            if f.joint != i || !f.started || f.cleared {
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
        self.fault_timeline();
        self.world.clear_torques();
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
            for f in &self.faults {
                if f.joint != i || !f.started || f.cleared {
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
        self.world.step();
        self.steps += 1;
        self.t = self.steps as f64 * self.dt;
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
        Report {
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
            events: self.events.clone(),
        }
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
