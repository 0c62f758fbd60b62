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
    /// A transaction of joint `i`'s bus took `latency`: counted. Returns how many
    /// transactions in a row have taken over half the joint's period (0 for a joint
    /// not on a bus).
    pub fn transaction(&mut self, i: usize, latency: std::time::Duration) -> u32 {
        let j = &mut self.joints[i];
        let Some(h) = j.hw.as_mut() else { return 0 };
        h.transactions += 1;
        h.latencies_us.push(latency.as_secs_f64() as f32 * 1e6);
        h.slow = if latency.as_secs_f64() > 0.5 * j.period {
            h.slow + 1
        } else {
            0
        };
        h.slow
    }

    /// A reply from joint `i`'s servo: its measurement, now the joint's; a swap in
    /// progress completes once the servo stands where the simulated joint is.
    pub fn servo_reply(&mut self, i: usize, s: &crate::hardware::bridge::Sample) {
        let t = self.t;
        if let Some(h) = self.joints[i].hw.as_mut() {
            h.pos = s.pos;
            h.vel = s.vel;
            h.load = s.load;
            h.last_ok_t = t;
            h.goal.get_or_insert(s.pos);
        }
        self.check_handover(i);
    }

    /// A link error on joint `i` (`timeout`: no reply at all): counted.
    pub fn link_error(&mut self, i: usize, timeout: bool) {
        if let Some(h) = self.joints[i].hw.as_mut() {
            h.errors += 1;
            h.timeouts += timeout as u64;
        }
    }

    /// Joint `i`'s bus lost its port: the twin holds the last measured position.
    pub fn link_lost(&mut self, i: usize) {
        if let Some(h) = self.joints[i].hw.as_mut() {
            h.vel = 0.0;
        }
    }

    /// For a hardware joint without a valid measurement for over 3 of its periods:
    /// how many periods (its twin then holds the last measured position). Never for a
    /// proxied joint of a served bus.
    pub fn silent_servo(&mut self, i: usize) -> Option<f64> {
        let t = self.t;
        let j = &mut self.joints[i];
        if j.served.is_some() {
            // A proxied servo's link is the host's (it sees its own timeouts); the
            // twin holds the last reading.
            return None;
        }
        let h = j.hw.as_mut()?;
        if t - h.last_ok_t > 3.0 * j.period + 1e-9 {
            h.vel = 0.0;
            Some(((t - h.last_ok_t) / j.period).floor())
        } else {
            None
        }
    }

    /// Joint `i`'s servo is on bus `bus` (buses in order of first appearance), in
    /// slot `slot`.
    pub fn assign_slot(&mut self, i: usize, bus: usize, slot: usize) {
        if let Some(h) = self.joints[i].hw.as_mut() {
            h.bus = bus;
            h.slot = slot;
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
        let sp = self.target(i).pos;
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
        match backend {
            crate::scene::BackendSpec::Recorded { .. } => {
                return Err(Refusal::SwapToRecording);
            }
            crate::scene::BackendSpec::Sim => {
                let Some(h) = j.hw.take() else {
                    return Err(Refusal::AlreadySimulated(j.name.clone()));
                };
                j.mode = DriveMode::Controller;
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
}
