//! Joint health and supervision on the plant: symptoms mark injected faults detected,
//! conditions make a joint DEGRADED while they last, failures put it in its safe state
//! and schedule a restart or latch it FAULTED; the e-stop and operator resets.

use super::*;

impl Plant {
    /// Puts joint `i` in its safe state (hold or limp; StopAll holds and e-stops).
    pub(super) fn safe_state(&mut self, i: usize) -> String {
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
        // What was seen of the old service says nothing about the new one.
        j.conditions = Default::default();
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

    /// A valid reply from joint `i`'s service. A late reply from a service that has
    /// already been given up (its restart is pending) says nothing about the new one.
    pub fn replied(&mut self, i: usize) {
        if self.joints[i].restart_at.is_some() {
            return;
        }
        if self.joints[i].health == JointHealth::Restarting {
            self.set_health(i, JointHealth::Ok, "restarted service answered");
            self.refresh_health(i);
        }
    }

    pub(super) fn stop_all_policy(&mut self, i: usize) {
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
    pub fn reset_estop(&mut self) -> Result<(), crate::runtime::refusal::Refusal> {
        if self.estop.take().is_none() {
            return Err(crate::runtime::refusal::Refusal::EStopNotLatched);
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
    pub fn reset_joint(&mut self, i: usize) -> Result<(), crate::runtime::refusal::Refusal> {
        let j = &mut self.joints[i];
        if j.health != JointHealth::Faulted {
            return Err(crate::runtime::refusal::Refusal::NotFaulted(j.name.clone()));
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

    pub(super) fn push_state(&mut self, i: usize, from: JointHealth, to: JointHealth, why: &str) {
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
    pub(super) fn force_health(&mut self, i: usize, to: JointHealth, why: &str) {
        let from = self.joints[i].health;
        if from == to || from == JointHealth::Faulted {
            return;
        }
        self.joints[i].health = to;
        self.push_state(i, from, to, why);
    }

    pub(super) fn set_health(&mut self, i: usize, to: JointHealth, why: &str) {
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

    /// Joint `i`'s service missed a deadline. Every miss is a symptom (it reveals a
    /// slow or hung controller at once); the joint is DEGRADED from the second miss
    /// within 10 of its periods, so one late wake-up of a busy machine is counted,
    /// not flagged.
    pub fn late(&mut self, i: usize) {
        self.symptom(i, Symptom::Late, "reply after its deadline");
        let t = self.t;
        let j = &mut self.joints[i];
        let recent = j
            .monitors
            .late_t
            .is_some_and(|l| t - l <= 10.0 * j.period + 1e-9);
        j.monitors.late_t = Some(t);
        if recent {
            self.condition(i, Condition::Late);
        }
    }

    /// A DEGRADING condition seen on joint `i` now.
    pub fn condition(&mut self, i: usize, c: Condition) {
        self.joints[i].conditions[c as usize] = Some(self.t);
        self.refresh_health(i);
    }

    /// OK or DEGRADED from the joint's recent conditions (simulated joints that are
    /// neither restarting nor faulted).
    pub(super) fn refresh_health(&mut self, i: usize) {
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
    pub(super) fn observe(&mut self, i: usize, m: &Measured, sp_pos: f64, sp_vel: f64) {
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
}
