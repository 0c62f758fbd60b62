//! Followed joints on the plant: joints driven from outside the simulation, by a real
//! servo on a serial bus (what the bus threads report, link supervision and link-loss
//! policies, bumpless swaps between simulated and real servos) or by a recording
//! played back on simulated time. The simulated twin follows the measurement.

use super::*;

/// A joint followed from a servo on a serial bus, or from a recorded trace.
#[derive(Debug, Clone)]
pub struct FollowedJoint {
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
    /// A `Recorded` backend's trace (no bus: the plant plays it back).
    pub trace: Option<crate::scene::Trace>,
}

impl FollowedJoint {
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
            crate::scene::BackendSpec::Recorded { file, joint } => match joint {
                Some(j) => format!("recorded:{file}:{j}"),
                None => format!("recorded:{file}"),
            },
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
            trace: None,
        }
    }
}

impl Plant {
    /// Applies a report of bus thread to its joints (`joints[slot]` = plant index).
    pub fn hw_event(&mut self, joints: &[usize], ev: &crate::hardware::bridge::BusTick) {
        use crate::hardware::bridge::{BusTick, LinkError};
        let BusTick {
            latency,
            samples,
            errors,
        } = ev;
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
                    self.set_health(i, JointHealth::Degraded, &format!("link error: {e:?}"));
                }
            }
        }
    }

    /// A bus's link changed (`downs_seen`: how many of its outages this plant has
    /// already applied). An outage missed while looking elsewhere is applied too.
    pub fn link_changed(
        &mut self,
        joints: &[usize],
        link: &crate::hardware::bridge::Link,
        downs_seen: &mut u64,
    ) {
        if link.downs > *downs_seen {
            *downs_seen = link.downs;
            for &i in joints {
                if let Some(h) = self.joints[i].hw.as_mut() {
                    h.vel = 0.0;
                }
                let reason = &link.reason;
                self.symptom(i, Symptom::LinkError, &format!("link down: {reason}"));
                self.set_health(i, JointHealth::Offline, reason);
            }
        }
        if link.up
            && let Some(&i) = joints.first()
        {
            self.event(i, "link_online", "port open".into());
        }
    }

    /// A hardware joint's link went down or came back: apply its policy.
    pub(super) fn apply_link_policy(&mut self, i: usize, from: JointHealth, to: JointHealth) {
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

    /// The serial port joint `i`'s servo is on, as the scene names it.
    pub fn port_of(&self, i: usize) -> Option<&str> {
        match &self.joints.get(i)?.hw.as_ref()?.spec {
            crate::scene::BackendSpec::Serial { port, .. } => Some(port),
            _ => None,
        }
    }

    /// Servo resolution, rad (4096 ticks per revolution on both families).
    pub(super) fn tick(&self) -> f64 {
        std::f64::consts::TAU / 4096.0
    }

    /// Swapping in: once the servo stands where the simulated joint is (within 2
    /// ticks) and the last goal is within 1 tick of it, the joint starts following the
    /// servo.
    pub(super) fn check_handover(&mut self, i: usize) {
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
    pub fn swap(
        &mut self,
        i: usize,
        backend: &crate::scene::BackendSpec,
    ) -> Result<(), crate::runtime::refusal::Refusal> {
        use crate::runtime::refusal::Refusal;
        let pos = self.world.joint_state(i).pos;
        let t = self.t;
        let j = &mut self.joints[i];
        if j.health == JointHealth::Faulted {
            return Err(Refusal::Faulted(j.name.clone()));
        }
        match backend {
            crate::scene::BackendSpec::Recorded { .. } => {
                return Err(Refusal::SwapToRecording);
            }
            crate::scene::BackendSpec::Sim => {
                let Some(h) = j.hw.take() else {
                    return Err(Refusal::AlreadySimulated(j.name.clone()));
                };
                j.mode = DriveMode::Controller;
                j.health = JointHealth::Ok;
                j.reset_controller = true;
                self.event(i, "swap", format!("{} -> sim at {pos:.4}", h.label));
            }
            crate::scene::BackendSpec::Serial { .. } => {
                if j.hw.is_some() {
                    return Err(Refusal::AlreadyOnBus(j.name.clone()));
                }
                let mut h = FollowedJoint::new(backend, pos);
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

    /// Recorded joints: the trace's position and velocity at the current time, as if
    /// a servo had reported them; after its end the joint holds its last position.
    pub fn play_traces(&mut self) {
        let t = self.t;
        let mut ended = Vec::new();
        for (i, j) in self.joints.iter_mut().enumerate() {
            let Some(h) = j.hw.as_mut() else { continue };
            let Some(tr) = &h.trace else { continue };
            match tr.at(t) {
                Some((p, v)) => {
                    h.pos = p;
                    h.vel = v;
                    h.last_ok_t = t;
                }
                None if h.vel != 0.0 || h.last_ok_t < tr.end() => {
                    h.vel = 0.0;
                    h.last_ok_t = tr.end() + 1.0;
                    ended.push(i);
                }
                None => {}
            }
        }
        for i in ended {
            self.event(
                i,
                "recording_end",
                "the recording has ended: holding its last position".into(),
            );
        }
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
}
