//! The plant: physics plus each joint's servo, seen from the executors. It samples
//! what a joint service is sent (trajectory setpoint, encoder reading, gravity
//! torque), turns commands into delivered torque (servo envelope, or the joint's safe
//! state once its service has died), steps the physics and keeps the statistics and
//! the event log. Executors decide *when* things happen; the supervisor
//! (`runtime::supervisor`) decides what a joint's health is and what its failures
//! lead to; the plant carries it out (`drive.rs`).

mod commanded;
mod contacts;
mod drive;
mod fault_log;
mod followed;
mod protect;
mod served;

pub use fault_log::PlantFault;
pub use followed::FollowedJoint;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::control::{ControlInput, Measured, Trajectory};
use crate::faults::{FaultClass, FaultKind, FaultSpec};
use crate::physics::{ArmWorld, BuildOptions};
use crate::report::{Event, JointStats};
use crate::scene::{SafeState, Scene};
use crate::servo::ServoModel;

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
    /// A served joint: its servo's firmware, driven by a host over the served bus.
    Served,
}

/// One joint as the plant sees it.
pub struct PlantJoint {
    name: String,
    /// Revolute (rad) or prismatic (m).
    kind: crate::scene::JointKind,
    servo: ServoModel,
    rng: ChaCha8Rng,
    limits: (f64, f64),
    wants_gravity: bool,
    period: f64,
    next_tick: f64,
    seq: u64,
    safe_state: SafeState,
    mode: DriveMode,
    /// Last command from the controller, N·m, and the sim time it was produced for.
    command: f64,
    command_t: f64,
    delivered: f64,
    /// The torque the servo would have delivered this step without the faults
    /// acting on it, N·m.
    expected: f64,
    stats: JointStats,
    controller_kind: &'static str,
    /// Set for joints on a serial bus.
    hw: Option<FollowedJoint>,
    /// The controller must start afresh with its next sample.
    reset_controller: bool,
    /// The last encoder reading sent to the controller.
    last_measured: Measured,
    /// The last setpoint sent: (time, position, velocity).
    last_setpoint: (f64, f64, f64),
    /// Blending back onto the trajectory: (start time, start position, start
    /// velocity, duration).
    resume: Option<(f64, f64, f64, f64)>,
    /// Torque the acting faults took away this step, N·m (ground truth).
    clipped: f64,
    /// Winding temperature of the simulated servo.
    thermal: crate::servo::Thermal,
    /// Set for joints a host drives over the served bus.
    served: Option<served::Served>,
    /// The simulated servo's own protections.
    guard: protect::SimGuard,
    /// Set once the joint is commanded from outside the run (`commanded.rs`), with
    /// where from.
    commanded: Option<crate::runtime::commanded::Target>,
    commanded_by: Option<String>,
}

/// What the rest of the runtime may read of a joint; the plant alone changes it.
impl PlantJoint {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Revolute (rad) or prismatic (m).
    pub fn kind(&self) -> crate::scene::JointKind {
        self.kind
    }

    pub fn servo(&self) -> &ServoModel {
        &self.servo
    }

    /// Position limits (rad or m).
    pub fn limits(&self) -> (f64, f64) {
        self.limits
    }

    /// Control period, s.
    pub fn period(&self) -> f64 {
        self.period
    }

    /// Samples sent to its service so far (the newest one's number).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn safe_state(&self) -> SafeState {
        self.safe_state
    }

    pub fn mode(&self) -> DriveMode {
        self.mode
    }

    /// Last command from the controller, N·m.
    pub fn command(&self) -> f64 {
        self.command
    }

    /// Torque delivered this step, N·m.
    pub fn delivered(&self) -> f64 {
        self.delivered
    }

    /// Torque the servo would have delivered this step without the acting faults.
    pub fn expected(&self) -> f64 {
        self.expected
    }

    pub fn stats(&self) -> &JointStats {
        &self.stats
    }

    pub fn controller_kind(&self) -> &'static str {
        self.controller_kind
    }

    /// The servo or recording it follows, if any.
    pub fn followed(&self) -> Option<&FollowedJoint> {
        self.hw.as_ref()
    }

    /// Winding temperature of the simulated servo.
    pub fn thermal(&self) -> &crate::servo::Thermal {
        &self.thermal
    }

    /// What drives it, as reports name it: `sim`, a followed servo's or recording's
    /// label, or a served servo's (`served:sts:1`).
    pub fn backend_label(&self) -> String {
        match (&self.hw, &self.served) {
            (Some(h), _) => h.label.clone(),
            (None, Some(s)) => s.label().to_string(),
            (None, None) => "sim".into(),
        }
    }

    /// Where the joint's target comes from since it was first commanded from
    /// outside the run.
    pub fn commanded_by(&self) -> Option<&str> {
        self.commanded_by.as_deref()
    }

    /// Whether the joint is being blended back onto its trajectory.
    pub fn resuming(&self) -> bool {
        self.resume.is_some()
    }
}

/// Follower stiffness of a hardware joint's simulated twin, per N·m of the servo's
/// stall torque, N·m/rad: 100 gives 335 N·m/rad for an STS3215, so the twin lags the
/// real joint by well under a milliradian.
const FOLLOW_STIFFNESS: f64 = 100.0;

/// A jam's stiffness per N·m of the servo's stall torque, N·m/rad (a rigid stop).
const JAM_STIFFNESS_PER_STALL: f64 = 300.0;
/// A jam's reaction, at most this many times the servo's stall torque.
const JAM_MAX_PER_STALL: f64 = 20.0;

/// Time a swapped-in servo gets to connect before link supervision applies, s.
pub const SWAP_CONNECT_GRACE_S: f64 = 0.25;

/// Physics + servos + bookkeeping.
pub struct Plant {
    world: ArmWorld,
    joints: Vec<PlantJoint>,
    traj: Trajectory,
    dt: f64,
    t: f64,
    steps: u64,
    events: Vec<Event>,
    /// The scene's faults, with their onset/clear bookkeeping.
    faults: Vec<PlantFault>,
    /// Contacts, for scenes with a world.
    contacts: Option<contacts::ContactLog>,
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
                    command: 0.0,
                    command_t: 0.0,
                    delivered: 0.0,
                    expected: 0.0,
                    stats: JointStats::default(),
                    controller_kind: c.controller.kind(),
                    hw: None,
                    // The first sample tells the service to start afresh: an
                    // external service may have served a run before this one.
                    reset_controller: true,
                    resume: None,
                    last_measured: Measured::default(),
                    last_setpoint: (f64::NAN, 0.0, 0.0),
                    clipped: 0.0,
                    thermal: crate::servo::Thermal::default(),
                    served: None,
                    guard: protect::SimGuard::new(c.servo.protection),
                    commanded: None,
                    commanded_by: None,
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
            contacts: scene.world.as_ref().map(|w| {
                let n = scene.arm.links.len();
                let links = (0..n * opts.copies)
                    .map(|k| match (opts.copies, &scene.arm.links[k % n].name) {
                        (1, name) => name.clone(),
                        (_, name) => format!("{name}#{}", k / n),
                    })
                    .collect();
                contacts::ContactLog::new(links, w.objects.iter().map(|o| o.name.clone()).collect())
            }),
        }
    }

    /// Simulated time, s.
    pub fn t(&self) -> f64 {
        self.t
    }

    /// Physics step, s.
    pub fn dt(&self) -> f64 {
        self.dt
    }

    /// Physics steps so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    pub fn world(&self) -> &ArmWorld {
        &self.world
    }

    pub fn joints(&self) -> &[PlantJoint] {
        &self.joints
    }

    /// The event log so far.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The injected faults, with their onset, detection and end.
    pub fn faults(&self) -> &[PlantFault] {
        &self.faults
    }

    /// Joint `i`'s service missed a deadline.
    pub fn missed_deadline(&mut self, i: usize) {
        self.joints[i].stats.deadline_misses += 1;
    }

    /// Counts `n` garbled replies from joint `i`'s (external) service.
    pub fn garbled(&mut self, i: usize, n: u64) {
        self.joints[i].stats.garbled_replies += n;
    }

    /// Whether joint `i`'s controller must start afresh with this sample (cleared).
    pub fn take_reset(&mut self, i: usize) -> bool {
        std::mem::take(&mut self.joints[i].reset_controller)
    }

    /// How old each controlled joint's last command is now: the oldest is kept.
    pub fn note_command_ages(&mut self) {
        for j in self.joints.iter_mut() {
            if j.mode == DriveMode::Controller {
                let age = self.t - j.command_t;
                j.stats.max_command_age_s = j.stats.max_command_age_s.max(age);
            }
        }
    }

    /// Records an event that changed joint `i`'s health to `state`.
    pub fn state_event(&mut self, i: usize, detail: String, state: crate::report::JointHealth) {
        self.event(i, "state", detail);
        if let Some(e) = self.events.last_mut() {
            e.state = Some(state);
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
        let sp = self.target(i);
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
        let target = self.target(i).pos;
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
            j.command = j.commanded.map_or(torque, |c| c.torque(torque));
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
        let sp = if let Some(goal) = self.served_goal(i) {
            (goal, 0.0)
        } else if j.last_setpoint.0 == self.t {
            (j.last_setpoint.1, j.last_setpoint.2)
        } else {
            let sp = self.target(i);
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

    /// The obstacle's reaction while a `Jam` fault acts on joint `i`: it holds the
    /// joint where it was at onset (stiff and damped, up to [`JAM_MAX_PER_STALL`] ×
    /// the servo's stall torque, more than any servo can push), N·m.
    fn jam_torque(&self, i: usize, st: &crate::physics::JointState) -> f64 {
        let Some(f) = self
            .faults
            .iter()
            .find(|f| f.acting(i) && f.spec.kind == FaultKind::Jam)
        else {
            return 0.0;
        };
        let j = &self.joints[i];
        let stall = j.servo.spec.stall_torque_nm;
        let k = JAM_STIFFNESS_PER_STALL * stall;
        let c = 2.0 * (k * j.servo.armature().max(1e-4)).sqrt();
        let lim = JAM_MAX_PER_STALL * stall;
        (-k * (st.motor_pos - f.jammed_at) - c * st.motor_vel).clamp(-lim, lim)
    }

    /// One unsupervised step: [`Plant::actuate`], then [`Plant::advance`] (joints
    /// followed from a recording have had their trace played by
    /// [`Plant::play_traces`] first).
    pub fn step(&mut self) {
        self.actuate();
        self.advance();
    }

    /// Steps the physics under the torques delivered: simulated time moves on.
    pub fn advance(&mut self) {
        self.world.step();
        self.steps += 1;
        self.t = self.steps as f64 * self.dt;
        if let Some(c) = &mut self.contacts {
            let mut out = Vec::new();
            c.step(self.t, self.dt, self.world.touches(), &mut out);
            for (kind, detail) in out {
                self.event(usize::MAX, kind, detail);
            }
        }
    }

    /// What touched what in the last step (scenes with a world).
    pub fn touches(&self) -> &[crate::physics::Touch] {
        self.world.touches()
    }

    /// Whether the scene has a world (colliders, contacts, objects).
    pub fn has_world(&self) -> bool {
        self.contacts.is_some()
    }

    /// The name of a link, an object or the ground (scenes with a world).
    pub fn toucher_name(&self, t: crate::physics::Toucher) -> &str {
        self.contacts.as_ref().map_or("?", |c| c.name(t))
    }

    /// The objects' names, in scene order (empty without a world).
    pub fn object_names(&self) -> &[String] {
        self.contacts.as_ref().map_or(&[], |c| c.object_names())
    }

    /// Each object's pose now (translation, quaternion xyzw), in scene order.
    pub fn object_poses(&self) -> Vec<crate::physics::BodyPose> {
        self.world.object_poses()
    }

    /// The report's `links[]` and `objects[]` (empty without a world).
    pub fn world_report(
        &self,
    ) -> (
        Vec<crate::report::LinkContactReport>,
        Vec<crate::report::ObjectReport>,
    ) {
        self.contacts
            .as_ref()
            .map_or((Vec::new(), Vec::new()), |c| {
                c.report(self.t, &self.world.object_poses())
            })
    }

    /// Delivers this step's torques (what each joint's drive asks, through its servo's
    /// envelope and the faults acting on it) and records statistics.
    pub fn actuate(&mut self) {
        self.follow_proxies();
        self.world.clear_torques();
        for i in 0..self.joints.len() {
            let state = self.world.joint_state(i);
            let served = self.joints[i].mode == DriveMode::Served;
            let firmware = if served { self.served_command(i) } else { 0.0 };
            let target = self.target(i).pos;
            let j = &mut self.joints[i];
            let cmd = match j.mode {
                DriveMode::Served => firmware,
                DriveMode::Follow => {
                    // The twin tracks the measured joint stiffly (see FOLLOW_STIFFNESS),
                    // critically damped on the servo's armature, gravity compensated.
                    let hw = j.hw.as_ref().map_or((state.pos, 0.0), |h| (h.pos, h.vel));
                    let kp = FOLLOW_STIFFNESS * j.servo.spec.stall_torque_nm;
                    let kd = 2.0 * (kp * j.servo.armature().max(1e-4)).sqrt();
                    let g = self.world.gravity_torque(i);
                    let tau = kp * (hw.0 - state.pos) + kd * (hw.1 - state.vel) - g;
                    // Torque as the servo reports it (its load), not the twin's.
                    let load = j.hw.as_ref().map_or(0.0, |h| h.load);
                    let servo_tau = load * j.servo.spec.stall_torque_nm;
                    j.stats.record(
                        target - hw.0,
                        servo_tau,
                        load.abs() >= 0.999,
                        hw.0,
                        j.limits,
                    );
                    j.delivered = tau;
                    j.expected = tau;
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
            let guarded = !served;
            let mut expected = expected;
            if guarded && j.guard.cut() {
                // The servo's own protection has cut its torque (not a fault's doing).
                (d.torque, d.saturated, expected) = (0.0, false, 0.0);
            }
            j.delivered = d.torque;
            j.expected = expected;
            j.clipped = (expected - d.torque).abs();
            let load = d.torque / j.servo.spec.stall_torque_nm;
            j.thermal.step(load, self.dt);
            if guarded
                && let Some(change) =
                    j.guard
                        .after_step(self.t + self.dt, self.dt, load, j.thermal.temp_c)
            {
                let (kind, detail) = j.guard.event(change);
                self.event(i, kind, detail);
            }
            let j = &mut self.joints[i];
            let sp = match &j.served {
                // A served joint's target is the host's goal.
                Some(_) if served => self.served_goal(i).unwrap_or(state.pos),
                _ => target,
            };
            let j = &mut self.joints[i];
            j.stats
                .record(sp - state.pos, d.torque, d.saturated, state.pos, j.limits);
            let jam = self.jam_torque(i, &state);
            self.world.set_torque(i, d.torque + jam);
            if served {
                self.served_report(i);
            }
        }
        self.track_effect();
    }
}
