//! The real-time executor's serial buses: one bridge thread per port the plant's
//! hardware joints need (and an emulated bus behind each `virtual:NAME` port), kept in
//! step with swaps, and told which link faults act on their joints.

use std::sync::Arc;
use std::time::Duration;

use super::observers::Observers;
use super::plant::Plant;
use super::supervisor::Supervisor;
use crate::hardware::bridge::{self, BusHandle, BusJoint, BusSpec};
use crate::hardware::virtual_port::{self, VirtualPort};
use crate::scene::BackendSpec;
use crate::sys::clock::Clock;

/// The running buses and emulated ports of a real-time run.
pub(super) struct Buses {
    /// Each bus with the plant indices of its joints (in slot order) and how many of
    /// its link outages the plant has applied.
    list: Vec<(BusHandle, Vec<usize>, u64)>,
    vports: Vec<VirtualPort>,
    clock: Arc<dyn Clock>,
    rt_priority: Option<i32>,
}

impl Buses {
    /// Starts the buses `plant` needs now.
    pub(super) fn start(
        plant: &mut Plant,
        clock: Arc<dyn Clock>,
        rt_priority: Option<i32>,
    ) -> Result<Self, super::RunError> {
        let mut b = Self {
            list: Vec::new(),
            vports: Vec::new(),
            clock,
            rt_priority,
        };
        b.sync(plant)?;
        Ok(b)
    }

    /// After commands (swaps, faults): buses to match the plant, link faults to match.
    pub(super) fn sync(&mut self, plant: &mut Plant) -> Result<(), super::RunError> {
        sync_buses(
            plant,
            &mut self.list,
            &mut self.vports,
            &self.clock,
            self.rt_priority,
        )?;
        self.impair(plant);
        Ok(())
    }

    /// Hands each bus the link faults acting on its joints (its man-in-the-middle
    /// layer).
    pub(super) fn impair(&self, plant: &Plant) {
        impair_buses(plant, &self.list);
    }

    /// Once per physics step: hands each bus's transaction reports (recorded) and
    /// link changes to the plant and its supervisor, and sends each bus whose joints are due (`due[i]`) its goals.
    pub(super) fn exchange(
        &mut self,
        plant: &mut Plant,
        sup: &mut Supervisor,
        observers: &mut Observers,
        due: &[bool],
    ) {
        for (h, js, downs_seen) in self.list.iter_mut() {
            while let Ok(ev) = h.events.try_recv() {
                if let Some(port) = js.first().and_then(|&i| plant.port_of(i)) {
                    observers.bus(port, plant.t(), &ev);
                }
                sup.on_bus_tick(plant, js, &ev);
            }
            if let Some(link) = h.link_changed() {
                sup.on_link(plant, js, &link, downs_seen);
            }
            if js.iter().any(|&i| due[i]) {
                let goals: Option<Vec<f64>> = js.iter().map(|&i| plant.hw_goal(i)).collect();
                if let Some(g) = goals {
                    h.send_goals(g);
                }
            }
        }
    }

    /// Stops every bus thread and emulated port. Transaction reports a bus had to
    /// drop because this run did not take them in time are logged, one event per bus.
    pub(super) fn stop(&mut self, plant: &mut Plant) {
        for (h, js, _) in self.list.iter() {
            let dropped = h.dropped_ticks();
            if dropped > 0 {
                plant.event(
                    js.first().copied().unwrap_or(usize::MAX),
                    "bus_reports_dropped",
                    format!(
                        "{}: {dropped} transaction reports dropped (the run fell behind its bus)",
                        h.spec.port
                    ),
                );
            }
        }
        for (h, _, _) in self.list.iter_mut() {
            h.stop();
        }
        self.vports.clear();
    }
}

/// The buses the plant's hardware joints need: one per port, joints in plant order
/// (ports as named in the scene; virtual ports are mapped to their pty later).
fn desired_buses(plant: &Plant) -> Vec<(BusSpec, Vec<usize>)> {
    let mut specs: Vec<(BusSpec, Vec<usize>)> = Vec::new();
    for (i, j) in plant.joints().iter().enumerate() {
        let Some(h) = j.followed() else { continue };
        let BackendSpec::Serial {
            port,
            protocol,
            id,
            baud,
            zero_tick,
        } = &h.spec
        else {
            continue;
        };
        let period = Duration::from_secs_f64(j.period());
        let k = match specs.iter().position(|(s, _)| s.port == *port) {
            Some(k) => k,
            None => {
                specs.push((
                    BusSpec {
                        port: port.clone(),
                        protocol: *protocol,
                        baud: *baud,
                        joints: Vec::new(),
                        period,
                        rt_priority: None,
                    },
                    Vec::new(),
                ));
                specs.len() - 1
            }
        };
        let (spec, js) = &mut specs[k];
        // The bus runs at its fastest joint's rate.
        spec.period = spec.period.min(period);
        spec.joints.push(BusJoint {
            joint: i,
            id: *id,
            zero_tick: *zero_tick,
        });
        js.push(i);
    }
    specs
}

/// Makes the running buses match what the plant needs: buses whose joints changed are
/// stopped and started again (their servos are re-engaged without a jump); the
/// others keep running untouched.
fn sync_buses(
    plant: &mut Plant,
    buses: &mut Vec<(BusHandle, Vec<usize>, u64)>,
    vports: &mut Vec<VirtualPort>,
    clock: &Arc<dyn Clock>,
    rt_priority: Option<i32>,
) -> Result<(), super::RunError> {
    let mut want = desired_buses(plant);
    for (spec, _) in want.iter_mut() {
        // Bus threads run one below physics, with the services.
        spec.rt_priority = rt_priority.map(|p| (p - 1).max(1));
    }
    // Virtual ports: (re)start the emulated bus when the set of IDs on it changes
    // (its servos start where the simulated joints are), then point the bus at it.
    vports.retain(|v| want.iter().any(|(s, _)| s.port == v.name));
    for (spec, js) in want.iter_mut() {
        if !virtual_port::is_virtual(&spec.port) {
            continue;
        }
        let ids: Vec<u8> = spec.joints.iter().map(|j| j.id).collect();
        if !vports.iter().any(|v| v.name == spec.port && v.ids == ids) {
            vports.retain(|v| v.name != spec.port);
            let servos: Vec<(u8, f64)> = spec
                .joints
                .iter()
                .zip(js.iter())
                .map(|(bj, &i)| {
                    let q = plant.world().joint_state(i).pos;
                    (
                        bj.id,
                        bj.zero_tick as f64 + q * 4096.0 / std::f64::consts::TAU,
                    )
                })
                .collect();
            vports.push(
                VirtualPort::start(
                    &spec.port,
                    spec.protocol,
                    &servos,
                    spec.baud,
                    clock.clone(),
                    rt_priority.map(|p| (p - 1).max(1)),
                )
                .map_err(|source| super::RunError::VirtualPort {
                    port: spec.port.clone(),
                    source,
                })?,
            );
            plant.event(
                usize::MAX,
                "virtual_port",
                format!(
                    "{}: emulated {:?} servos {ids:?} on {}",
                    spec.port,
                    spec.protocol,
                    vports.last().map_or("?", |v| v.path.as_str())
                ),
            );
        }
        if let Some(v) = vports.iter().find(|v| v.name == spec.port) {
            spec.port = v.path.clone();
        }
    }
    buses.retain_mut(|(h, js, _)| {
        let keep = want.iter().any(|(s, w)| s.port == h.spec.port && w == js);
        if !keep {
            h.stop();
        }
        keep
    });
    for (spec, js) in want {
        if !buses.iter().any(|(h, _, _)| h.spec.port == spec.port) {
            let port = spec.port.clone();
            let bus = bridge::spawn(spec, clock.clone())
                .map_err(|source| super::RunError::BusThread { port, source })?;
            buses.push((bus, js, 0));
        }
    }
    for (k, (_, js, _)) in buses.iter().enumerate() {
        for (slot, &i) in js.iter().enumerate() {
            plant.assign_slot(i, k, slot);
        }
    }
    Ok(())
}

/// Hands each bus the link faults acting on its joints (its man-in-the-middle layer).
fn impair_buses(plant: &Plant, buses: &[(BusHandle, Vec<usize>, u64)]) {
    let acting = plant.link_faults();
    for (h, js, _) in buses {
        let kinds: Vec<crate::faults::FaultKind> = acting
            .iter()
            .filter(|(j, _)| js.contains(j))
            .map(|(_, k)| *k)
            .collect();
        h.impair(kinds);
    }
}
