//! What the host sees of a simulated joint and what it makes of it: each control
//! sample's servo status, encoder plausibility and following error; the torques the
//! servos delivered against those commanded; missed deadlines. Symptoms mark injected
//! faults detected; conditions make a joint DEGRADED while they last; a following
//! error trips the joint (a failure, see `failures.rs`).

use super::{Condition, Supervisor};
use crate::control::Measured;
use crate::report::JointHealth;
use crate::runtime::plant::{DriveMode, Plant};
use crate::supervision::Symptom;
use crate::supervision::monitors::STALL_FRACTION;

impl Supervisor {
    /// Joint `i`'s service missed a deadline. Every miss is a symptom (it reveals a
    /// slow or hung controller at once); the joint is DEGRADED from the second miss
    /// within 10 of its periods, so one late wake-up of a busy machine is counted,
    /// not flagged.
    pub(crate) fn late(&mut self, plant: &mut Plant, i: usize) {
        self.symptom(plant, i, Symptom::Late, "reply after its deadline");
        let t = plant.t();
        let period = plant.joints()[i].period();
        let m = &mut self.watch[i].monitors;
        let recent = m.late_t.is_some_and(|l| t - l <= 10.0 * period + 1e-9);
        m.late_t = Some(t);
        if recent {
            self.condition(plant, i, Condition::Late);
        }
    }

    /// Joint `i`'s external service sent replies that were malformed or answered
    /// another sample: DEGRADED while they keep coming.
    pub(crate) fn garbled(&mut self, plant: &mut Plant, i: usize, what: &str) {
        self.symptom(plant, i, Symptom::Garbled, what);
        self.condition(plant, i, Condition::Garbled);
    }

    /// A DEGRADING condition seen on joint `i` now.
    pub(crate) fn condition(&mut self, plant: &mut Plant, i: usize, c: Condition) {
        self.watch[i].seen(c, plant.t());
        self.refresh_health(plant, i);
    }

    /// Every joint with conditions seen recently: OK again once they have cleared.
    pub(crate) fn refresh_all(&mut self, plant: &mut Plant) {
        for i in 0..self.watch.len() {
            if self.watch[i].any_condition() {
                self.refresh_health(plant, i);
            }
        }
    }

    /// OK or DEGRADED from the joint's recent conditions (simulated joints that are
    /// neither restarting nor faulted).
    pub(super) fn refresh_health(&mut self, plant: &mut Plant, i: usize) {
        let w = &mut self.watch[i];
        if plant.joints()[i].followed().is_some()
            || !matches!(w.health, JointHealth::Ok | JointHealth::Degraded)
        {
            return;
        }
        let active = w.active(plant.t());
        if active.is_empty() {
            self.set_health(plant, i, JointHealth::Ok, "conditions cleared");
        } else {
            let why = active.join(", ");
            self.set_health(plant, i, JointHealth::Degraded, &why);
        }
    }

    /// What the host sees of joint `i` on a control sample (`m`, the encoder reading
    /// sent; the setpoint's position and velocity): servo status, encoder
    /// plausibility, following error.
    pub(crate) fn on_sample(
        &mut self,
        plant: &mut Plant,
        i: usize,
        m: &Measured,
        sp_pos: f64,
        sp_vel: f64,
    ) {
        let j = &plant.joints()[i];
        if j.mode() != DriveMode::Controller || j.followed().is_some() {
            return;
        }
        let t = plant.t();
        if let Some(why) = plant.servo_status(i) {
            // The servo has shut its torque off and says why: the supervisor waits
            // for it (no following-error trip, no restart) and starts the controller
            // afresh when the servo is back.
            let w = &mut self.watch[i];
            w.servo_down = true;
            w.monitors.reset();
            self.symptom(plant, i, Symptom::ServoStatus, &why);
            self.condition(plant, i, Condition::ServoStatus);
            return;
        }
        if std::mem::take(&mut self.watch[i].servo_down) {
            self.watch[i].monitors.reset();
            plant.resume_control(i);
            return;
        }
        let j = &plant.joints()[i];
        let w = &mut self.watch[i];
        let tick = j.servo().resolution;
        let spec = &j.servo().spec;
        let enc = w.monitors.encoder(
            t,
            m.pos,
            m.vel,
            sp_pos,
            tick,
            spec.noise_ticks,
            spec.velocity_resolution_rad_s,
            spec.backlash_rad,
            j.period(),
            // A joint standing still at full torque is blocked, not read by a
            // frozen encoder.
            m.torque.abs() >= STALL_FRACTION * spec.stall_torque_nm,
        );
        let stall = w.monitors.stall(t, m.torque / spec.stall_torque_nm, m.vel);
        // While blending back onto its trajectory the joint follows a path the
        // supervisor made up for it: the following-error limit applies again (to the
        // trajectory itself) once the blend is over.
        let fe = if j.resuming() {
            None
        } else {
            w.monitors.following(t, sp_pos - m.pos, sp_vel, &w.spec)
        };
        if let Some(s) = enc {
            self.symptom(
                plant,
                i,
                s,
                "encoder reading inconsistent with its velocity or frozen",
            );
            self.condition(plant, i, Condition::Encoder);
        }
        // A stall reveals a fault that blocks the joint (a jam); it is not a health
        // condition of its own: a joint pushed against an obstacle is working as
        // told, and its servo's protection acts if it lasts.
        if let Some(s) = stall {
            self.symptom(
                plant,
                i,
                s,
                &format!(
                    "servo at its torque limit ({:.3} N·m) and the joint still",
                    m.torque
                ),
            );
        }
        if let Some(s) = fe {
            let sup = self.watch[i].spec;
            let limit = sup.following_error_rad + sup.following_error_per_rad_s * sp_vel.abs();
            let detail = format!(
                "following error {:.4} rad over its limit {limit:.4} rad for {:.0} ms",
                sp_pos - m.pos,
                sup.following_error_trip_s * 1e3
            );
            self.symptom(plant, i, s, &detail);
            self.controller_failed(plant, i, "following_error", detail);
        }
    }

    /// The torques the plant has just delivered, before physics steps: a joint under
    /// its controller whose servo delivers persistently less than it should has a
    /// torque deficit.
    pub(crate) fn on_torques(&mut self, plant: &mut Plant) {
        let (t, dt) = (plant.t(), plant.dt());
        for i in 0..self.watch.len() {
            let j = &plant.joints()[i];
            if j.mode() != DriveMode::Controller {
                continue;
            }
            let (expected, delivered) = (j.expected(), j.delivered());
            let stall = j.servo().spec.stall_torque_nm;
            let Some(s) = self.watch[i]
                .monitors
                .torque(t, expected, delivered, stall, dt)
            else {
                continue;
            };
            self.symptom(
                plant,
                i,
                s,
                &format!("servo delivers {delivered:.3} N·m where {expected:.3} N·m was commanded"),
            );
            self.condition(plant, i, Condition::Torque);
        }
    }
}
