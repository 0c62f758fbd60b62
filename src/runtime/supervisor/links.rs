//! Joints followed from a real servo: what each bus transaction and link change says
//! of their health (a valid reply is OK, error bits or link errors DEGRADED, no
//! valid reply for 3 periods or a lost port OFFLINE) and the link-loss policy each
//! joint's scene asks for when its link goes or comes back; swaps between simulated
//! and real servos (a FAULTED joint is not swapped).

use super::Supervisor;
use crate::hardware::bridge::{BusTick, Link, LinkError};
use crate::report::JointHealth;
use crate::runtime::plant::Plant;
use crate::runtime::refusal::Refusal;
use crate::scene::{BackendSpec, LinkLossPolicy as P};
use crate::supervision::Symptom;

impl Supervisor {
    /// A transaction report of the bus whose slots are `joints` (plant indices): the
    /// plant takes in the measurements, the supervisor judges the replies.
    pub fn on_bus_tick(&mut self, plant: &mut Plant, joints: &[usize], tick: &BusTick) {
        let latency = tick.latency.as_secs_f64();
        for &i in joints {
            // Transactions that keep taking over half the joint's period leave no
            // room for a retry: the link is too slow (3 in a row, so one late
            // wake-up of the bus thread is not a slow link).
            if plant.transaction(i, tick.latency) >= 3 {
                self.symptom(
                    plant,
                    i,
                    Symptom::LinkError,
                    &format!("transaction took {:.2} ms", latency * 1e3),
                );
            }
        }
        for s in &tick.samples {
            let Some(&i) = joints.get(s.slot) else {
                continue;
            };
            plant.servo_reply(i, s);
            if s.error != 0 {
                plant.event(
                    i,
                    "servo_error",
                    format!("status error bits {:#04x}", s.error),
                );
                self.set_health(plant, i, JointHealth::Degraded, "servo error bits");
            } else if !tick.errors.iter().any(|(slot, _)| *slot == s.slot) {
                if plant.joints()[i]
                    .followed()
                    .as_ref()
                    .is_some_and(|h| h.slow >= 3)
                {
                    let why = format!("slow link: transaction took {:.2} ms", latency * 1e3);
                    self.set_health(plant, i, JointHealth::Degraded, &why);
                } else {
                    self.set_health(plant, i, JointHealth::Ok, "valid reply");
                }
            }
        }
        for (slot, e) in &tick.errors {
            let blamed: Vec<usize> = if *slot == usize::MAX {
                joints.to_vec()
            } else {
                joints.get(*slot).copied().into_iter().collect()
            };
            for i in blamed {
                plant.link_error(i, *e == LinkError::Timeout);
                self.symptom(plant, i, Symptom::LinkError, &format!("link error: {e:?}"));
                // OFFLINE ends only with a valid reply, not with more errors.
                if self.watch[i].health != JointHealth::Offline {
                    self.set_health(
                        plant,
                        i,
                        JointHealth::Degraded,
                        &format!("link error: {e:?}"),
                    );
                }
            }
        }
    }

    /// A bus's link state (`downs_seen`: how many of its outages have been applied).
    /// An outage missed while looking elsewhere is applied too.
    pub fn on_link(
        &mut self,
        plant: &mut Plant,
        joints: &[usize],
        link: &Link,
        downs_seen: &mut u64,
    ) {
        if link.downs > *downs_seen {
            *downs_seen = link.downs;
            for &i in joints {
                plant.link_lost(i);
                let reason = &link.reason;
                self.symptom(
                    plant,
                    i,
                    Symptom::LinkError,
                    &format!("link down: {reason}"),
                );
                self.set_health(plant, i, JointHealth::Offline, reason);
            }
        }
        if link.up
            && let Some(&i) = joints.first()
        {
            plant.event(i, "link_online", "port open".into());
        }
    }

    /// A hardware joint's link went down or came back: apply its policy.
    pub(super) fn apply_link_policy(
        &mut self,
        plant: &mut Plant,
        i: usize,
        from: JointHealth,
        to: JointHealth,
    ) {
        let policy = self.watch[i].on_link_loss;
        let handing_over = plant.joints()[i]
            .followed()
            .as_ref()
            .is_some_and(|h| h.handover);
        if to == JointHealth::Offline {
            match policy {
                P::HoldInSim => {}
                P::SimTwin => {
                    plant.drive_twin(i);
                    plant.event(
                        i,
                        "link_policy",
                        "link lost: the simulated twin takes over under its controller".into(),
                    );
                }
                P::Limp => {
                    plant.go_limp(i);
                    plant.event(
                        i,
                        "link_policy",
                        "link lost: the simulated twin goes limp".into(),
                    );
                }
                P::StopAll => {
                    let name = plant.joints()[i].name().to_string();
                    let why = format!("link lost on joint '{name}' (policy StopAll)");
                    self.stop_requested = Some(why.clone());
                    plant.event(i, "link_policy", "link lost: stopping the run".into());
                    self.latch_estop(plant, why);
                }
            }
        } else if from == JointHealth::Offline && !handing_over {
            match policy {
                P::SimTwin => {
                    // Bumpless return: walk the servo to the twin before following it.
                    plant.hand_back(i);
                    plant.event(
                        i,
                        "link_policy",
                        "link back: walking the servo to the simulated twin".into(),
                    );
                }
                P::Limp => plant.follow_servo(i),
                P::HoldInSim | P::StopAll => {}
            }
        }
    }

    /// A hardware joint without a valid measurement for 3 of its periods is OFFLINE;
    /// its simulated twin holds the last measured position.
    pub fn hw_timeouts(&mut self, plant: &mut Plant) {
        for i in 0..self.watch.len() {
            if !matches!(
                self.watch[i].health,
                JointHealth::Ok | JointHealth::Degraded
            ) {
                continue;
            }
            if let Some(periods) = plant.silent_servo(i) {
                self.set_health(
                    plant,
                    i,
                    JointHealth::Offline,
                    &format!("no valid reply for {periods} periods"),
                );
            }
        }
    }

    /// Starts moving joint `i` to `backend` (see [`Plant::swap`]); a FAULTED joint
    /// stays where it is, and a joint back on simulation is OK under its controller.
    pub(crate) fn swap(
        &mut self,
        plant: &mut Plant,
        i: usize,
        backend: &BackendSpec,
    ) -> Result<(), Refusal> {
        if self.watch[i].health == JointHealth::Faulted {
            return Err(Refusal::Faulted(plant.joints()[i].name().to_string()));
        }
        plant.swap(i, backend)?;
        if *backend == BackendSpec::Sim {
            self.watch[i].health = JointHealth::Ok;
        }
        Ok(())
    }
}
