//! Injected faults on the plant: their timeline (one onset and one clear each), what
//! sensor faults do to readings, and the ground truth of whether a fault had an effect.

use super::*;
use crate::supervision::Symptom;

/// A scheduled fault as the plant tracks it.
#[derive(Debug, Clone)]
pub struct PlantFault {
    pub joint: usize,
    pub spec: FaultSpec,
    pub started: bool,
    pub cleared: bool,
    /// Position the encoder froze at (EncoderStuck).
    pub stuck: f64,
    /// Motor-side position at onset, where a jam holds the gear train (Jam).
    pub(super) jammed_at: f64,
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
    pub(super) fn new(joint: usize, spec: FaultSpec) -> Self {
        Self {
            joint,
            spec,
            started: false,
            cleared: false,
            stuck: 0.0,
            jammed_at: 0.0,
            detected_at: None,
            cleared_at: None,
            ended_at: None,
            effective: false,
            effect_steps: 0,
            sp0: 0.0,
        }
    }

    /// Acting now (started, not cleared).
    pub(super) fn acting(&self, i: usize) -> bool {
        self.joint == i && self.started && !self.cleared
    }
}

impl Plant {
    /// Adds a fault while running and returns it as scheduled (a fault whose `at`
    /// has passed starts now and keeps its length). Controller faults must also be
    /// sent to the joint's service (the executor does that).
    pub fn inject(
        &mut self,
        mut spec: FaultSpec,
    ) -> Result<(usize, FaultSpec), crate::runtime::refusal::Refusal> {
        let Some(joint) = self.joints.iter().position(|j| j.name == spec.joint) else {
            return Err(crate::runtime::refusal::Refusal::NoSuchJoint(spec.joint));
        };
        if spec.at < self.t {
            let len = spec.until.map(|u| u - spec.at);
            spec.at = self.t;
            spec.until = len.map(|l| self.t + l.max(0.0));
        }
        self.faults.push(PlantFault::new(joint, spec.clone()));
        Ok((joint, spec))
    }

    /// One-shot controller faults on joint `i` that have struck (been detected): a
    /// restarted service must not suffer them again. One that has not struck yet (its
    /// instance was replaced for another reason first) still will.
    pub fn struck(&self, i: usize) -> Vec<FaultSpec> {
        self.faults
            .iter()
            .filter(|f| f.joint == i && f.spec.one_shot() && f.detected_at.is_some())
            .map(|f| f.spec.clone())
            .collect()
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
                self.faults[k].jammed_at = self.world.joint_state(joint).motor_pos;
                self.faults[k].sp0 = self.target(joint).pos;
                link_changed |= spec.kind.class() == FaultClass::Link;
                // A link fault acts on the wire of a hardware or served joint (ground
                // truth).
                let wired = self.joints[joint].hw.is_some() || self.joints[joint].served.is_some();
                self.faults[k].effective = spec.kind.class() == FaultClass::Link && wired;
                let window = spec.until.map_or(
                    if spec.one_shot() {
                        "once".to_string()
                    } else {
                        "until the end".to_string()
                    },
                    |u| format!("until {u:.3} s"),
                );
                let note = match (spec.kind.class(), self.joints[joint].hw.is_some()) {
                    (FaultClass::Link, false) if !wired => {
                        " (no serial link on this joint: no effect)"
                    }
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

    /// A symptom seen on joint `i` now: every acting (or just-cleared, within
    /// `grace` s), undetected fault on it that the symptom reveals is detected, with
    /// its latency (an event).
    pub fn symptom(&mut self, i: usize, s: Symptom, detail: &str, grace: f64) {
        let t = self.t;
        let period = self.joints[i].period;
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

    /// What joint `i`'s servo status says now, if anything is wrong: its error bits,
    /// or silence when it has no power.
    pub fn servo_status(&self, i: usize) -> Option<String> {
        let own = self.joints[i].guard.status();
        own.or_else(|| {
            self.faults.iter().find_map(|f| match f.spec.kind {
                FaultKind::ServoError { bit } if f.acting(i) => Some(format!(
                    "servo status error bits {:#04x} ({bit:?})",
                    bit.mask()
                )),
                FaultKind::PowerLoss if f.acting(i) => {
                    Some("servo has no power (no status)".into())
                }
                _ => None,
            })
        })
    }

    /// What joint `i`'s encoder sees of (pos, vel) under the active sensor faults.
    pub(super) fn sensed(&mut self, i: usize, pos: f64, vel: f64) -> (f64, f64) {
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

    /// Ground truth for the fuzzer's oracle: marks faults that changed what their
    /// joint did while it was under its controller. Controller, servo-status, noise
    /// and offset faults always do; a slow cycle only if it overruns the period; a
    /// torque sag only if it took away more than the deficit threshold for 10 ms; a
    /// stuck encoder only if the setpoint moved more than 32 ticks from where it was
    /// at onset at least 30 ms in.
    pub(super) fn track_effect(&mut self) {
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
                // A locked gear train matters once the servo strains against it: at
                // its torque limit for 25 ms (a stall the host sees, 20 ms, plus a
                // control period). Held back with less, the joint lags its setpoint,
                // which the following-error limit judges.
                FaultKind::Jam => {
                    let at_limit = j.delivered.abs()
                        >= crate::supervision::monitors::STALL_FRACTION
                            * j.servo.spec.stall_torque_nm;
                    let steps = if at_limit { f.effect_steps + 1 } else { 0 };
                    self.faults[k].effect_steps = steps;
                    steps as f64 * self.dt >= 0.025 - 1e-12
                }
                FaultKind::EncoderStuck => {
                    let tick = j.servo.resolution;
                    t - f.spec.at >= 0.03 && (self.target(i).pos - f.sp0).abs() > 32.0 * tick
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
}
