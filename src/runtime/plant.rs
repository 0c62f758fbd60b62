//! The plant: physics plus each joint's servo, seen from the executors. It samples
//! what a joint service is sent (trajectory setpoint, encoder reading, gravity
//! torque), turns commands into delivered torque (servo envelope, or the joint's safe
//! state once its service has died), steps the physics and keeps the statistics and
//! the event log. Executors decide *when* things happen; the plant decides *what*.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::control::{ControlInput, Measured, Trajectory};
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
}

/// Physics + servos + bookkeeping.
pub struct Plant {
    pub world: ArmWorld,
    pub joints: Vec<PlantJoint>,
    pub traj: Trajectory,
    pub dt: f64,
    pub t: f64,
    pub steps: u64,
    pub events: Vec<Event>,
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
                });
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
        let j = &mut self.joints[i];
        let measured: Measured = j
            .servo
            .measure(state.pos, state.vel, j.delivered, &mut j.rng);
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

    /// Delivers this step's torques, steps the physics, records statistics.
    pub fn step(&mut self) {
        self.world.clear_torques();
        for i in 0..self.joints.len() {
            let state = self.world.joint_state(i);
            let j = &mut self.joints[i];
            let cmd = match j.mode {
                DriveMode::Controller => j.command,
                DriveMode::Hold { hold } => {
                    j.servo.spec.hold_kp * (hold - state.pos) - j.servo.spec.hold_kd * state.vel
                }
                DriveMode::Limp => 0.0,
            };
            let d = j.servo.deliver(cmd, state.motor_vel);
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
                backend: "sim".into(),
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
