//! Failures and resets: a joint whose service died, hung or tripped on its following
//! error goes to its safe state and is restarted with backoff while its budget lasts,
//! else latched FAULTED; a restarted service is RESTARTING until its first reply; the
//! e-stop holds every joint until an operator reset; an operator reset of a FAULTED
//! joint restarts it with a fresh budget. Health changes are logged as `state` events.

use super::Supervisor;
use super::watch::Failure;
use crate::report::JointHealth;
use crate::runtime::plant::Plant;
use crate::runtime::refusal::Refusal;
use crate::scene::SafeState;
use crate::supervision::Symptom;

impl Supervisor {
    /// A symptom seen on joint `i` now: the plant's fault log marks every fault on it
    /// that the symptom reveals detected (faults that cleared within the silence
    /// grace still count).
    pub(crate) fn symptom(&self, plant: &mut Plant, i: usize, s: Symptom, detail: &str) {
        let grace = self.watch[i].spec.silent_periods as f64 * plant.joints()[i].period() + 1e-9;
        plant.symptom(i, s, detail, grace);
    }

    /// Puts joint `i` in its safe state; its monitors start afresh.
    pub(super) fn safe_state(&mut self, plant: &mut Plant, i: usize) -> String {
        self.watch[i].monitors.reset();
        plant.enter_safe_state(i)
    }

    /// Joint `i` has failed for good (no restart): safe state, FAULTED, latched.
    pub(crate) fn fault(&mut self, plant: &mut Plant, i: usize, kind: &str, detail: String) {
        if self.watch[i].health == JointHealth::Faulted {
            return;
        }
        let safe = self.safe_state(plant, i);
        self.watch[i].restart_at = None;
        plant.event(i, kind, detail);
        self.force_health(plant, i, JointHealth::Faulted, &safe);
        self.stop_all_policy(plant, i);
    }

    /// Joint `i`'s service has failed (it died or hung, or the joint tripped on its
    /// following error): safe state, then a restart if its budget allows, else
    /// latched FAULTED. A StopAll joint is never restarted.
    pub(crate) fn controller_failed(
        &mut self,
        plant: &mut Plant,
        i: usize,
        kind: &str,
        detail: String,
    ) {
        let w = &self.watch[i];
        if w.health == JointHealth::Faulted || w.restart_at.is_some() {
            return;
        }
        if plant.joints()[i].safe_state() == SafeState::StopAll {
            return self.fault(plant, i, kind, detail);
        }
        let sup = w.spec;
        match self.watch[i].failed(plant.t()) {
            Failure::BudgetExhausted => {
                let why = format!(
                    "{detail}; restart budget exhausted ({} restarts within {} s)",
                    sup.max_restarts, sup.restart_window_s
                );
                self.fault(plant, i, kind, why);
            }
            Failure::Restart { used, delay, .. } => {
                let safe = self.safe_state(plant, i);
                plant.event(i, kind, detail);
                self.force_health(
                    plant,
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
        }
    }

    /// Whether joint `i`'s restart is due at simulated time `t` (the executor then
    /// builds a fresh service and calls [`Supervisor::restarted`]).
    pub(crate) fn restart_due(&self, i: usize, t: f64) -> bool {
        self.estop.is_none() && self.watch[i].restart_at.is_some_and(|at| t + 1e-12 >= at)
    }

    /// A fresh service now drives joint `i`; it stays RESTARTING until its first reply.
    pub(crate) fn restarted(&mut self, plant: &mut Plant, i: usize) {
        let returned = self.watch[i].away.is_some();
        let n = self.watch[i].restarted();
        if returned {
            self.force_health(
                plant,
                i,
                JointHealth::Restarting,
                "external service returned",
            );
        }
        plant.restarted(i, n);
    }

    /// A valid reply from joint `i`'s service. A late reply from a service that has
    /// already been given up (its restart is pending) says nothing about the new one.
    pub(crate) fn replied(&mut self, plant: &mut Plant, i: usize) {
        if self.watch[i].restart_at.is_some() {
            return;
        }
        if self.watch[i].health == JointHealth::Restarting {
            self.force_health(plant, i, JointHealth::Ok, "restarted service answered");
            self.refresh_health(plant, i);
        }
    }

    fn stop_all_policy(&mut self, plant: &mut Plant, i: usize) {
        if plant.joints()[i].safe_state() == SafeState::StopAll {
            let name = plant.joints()[i].name().to_string();
            self.latch_estop(plant, format!("joint '{name}' failed (policy StopAll)"));
        }
    }

    /// Latches the e-stop: every joint holds where it is (hardware joints keep their
    /// last goal) until [`Supervisor::reset_estop`].
    pub(crate) fn latch_estop(&mut self, plant: &mut Plant, why: String) {
        if self.estop.is_some() {
            return;
        }
        plant.hold_all();
        plant.event(usize::MAX, "estop", format!("latched: {why}"));
        self.estop = Some((plant.t(), why));
    }

    /// Releases the e-stop: every joint that is not FAULTED (or awaiting a restart, or
    /// its external service's return) goes back to its controller (afresh) or to following its servo.
    pub(crate) fn reset_estop(&mut self, plant: &mut Plant) -> Result<(), Refusal> {
        if self.estop.take().is_none() {
            return Err(Refusal::EStopNotLatched);
        }
        for (i, w) in self.watch.iter_mut().enumerate() {
            if w.health == JointHealth::Faulted || w.restart_at.is_some() || w.away.is_some() {
                continue;
            }
            w.monitors.reset();
            plant.release(i);
        }
        plant.event(usize::MAX, "estop", "reset: joints resume".into());
        Ok(())
    }

    /// Clears a latched FAULTED joint (operator reset): it restarts with a fresh
    /// service and budget.
    pub(crate) fn reset_joint(&mut self, plant: &mut Plant, i: usize) -> Result<(), Refusal> {
        if self.watch[i].health != JointHealth::Faulted {
            return Err(Refusal::NotFaulted(plant.joints()[i].name().to_string()));
        }
        self.watch[i].reset(plant.t());
        push_state(
            plant,
            i,
            JointHealth::Faulted,
            JointHealth::Restarting,
            "operator reset",
        );
        Ok(())
    }

    /// Changes health even out of RESTARTING (failures and restarts).
    pub(super) fn force_health(&mut self, plant: &mut Plant, i: usize, to: JointHealth, why: &str) {
        let from = self.watch[i].health;
        if from == to || from == JointHealth::Faulted {
            return;
        }
        self.watch[i].health = to;
        push_state(plant, i, from, to, why);
    }

    /// Changes health as an observation suggests: never out of FAULTED, and out of
    /// RESTARTING (a simulated joint) only through its new service's first reply.
    pub(super) fn set_health(&mut self, plant: &mut Plant, i: usize, to: JointHealth, why: &str) {
        let from = self.watch[i].health;
        if from == to || from == JointHealth::Faulted {
            return;
        }
        if from == JointHealth::Restarting && plant.joints()[i].followed().is_none() {
            return;
        }
        self.watch[i].health = to;
        push_state(plant, i, from, to, why);
        if plant.joints()[i].followed().is_some() {
            self.apply_link_policy(plant, i, from, to);
        }
    }
}

/// Logs a health change as a `state` event.
fn push_state(plant: &mut Plant, i: usize, from: JointHealth, to: JointHealth, why: &str) {
    let detail = format!("{} -> {} ({why})", from.as_str(), to.as_str());
    plant.state_event(i, detail, to);
}
