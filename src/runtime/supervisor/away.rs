//! External services that go away and come back. A service whose liveliness token
//! is gone has not failed: it has left (stopped by its owner, its host rebooting, the
//! network down). Its joint goes to its safe state and is OFFLINE, spending no
//! restart budget, until the executor's probe finds the service there again; then a
//! fresh link drives the joint, RESTARTING until its first reply, walked back onto
//! its trajectory as after any restart. A joint whose policy is `StopAll` stops the
//! arm instead, as for any failure.

use super::Supervisor;
use crate::report::JointHealth;
use crate::runtime::plant::Plant;
use crate::scene::SafeState;

impl Supervisor {
    /// Joint `i`'s external service is not there (`detail` says how that was seen).
    pub(crate) fn service_away(&mut self, plant: &mut Plant, i: usize, detail: String) {
        let w = &self.watch[i];
        if w.health == JointHealth::Faulted || w.restart_at.is_some() || w.away.is_some() {
            return;
        }
        if plant.joints()[i].safe_state() == SafeState::StopAll {
            return self.fault(plant, i, "service_away", detail);
        }
        let safe = self.safe_state(plant, i);
        self.watch[i].went_away(plant.t());
        plant.event(i, "service_away", detail);
        self.force_health(
            plant,
            i,
            JointHealth::Offline,
            &format!("{safe}; waiting for the external service to return"),
        );
    }

    /// Whether the executor should look for joint `i`'s away service now (never
    /// while the e-stop holds the arm).
    pub(crate) fn probe_due(&self, i: usize, t: f64) -> bool {
        self.estop.is_none() && self.watch[i].probe_due(t)
    }

    /// The probe at `t` found nobody; `patient`: probing waits (lockstep), so the
    /// next one backs off.
    pub(crate) fn still_away(&mut self, i: usize, t: f64, patient: bool) {
        self.watch[i].probe_missed(t, patient);
    }
}
