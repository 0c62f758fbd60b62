//! The run's observers, beside the plant: the recorder's tap and the live feed's tap
//! (the GUI), and the list of serial ports the recording names its bus records by.
//! The executor core hands them what happened after the plant has done it (a joint's
//! sample each control period, the events logged, each bus transaction); a tap never
//! blocks, so observing costs the control path a channel send at most, and the plant
//! knows nothing of who watches it.

use super::plant::Plant;
use super::supervisor::Supervisor;
use super::tap::Tap;
use crate::hardware::bridge::BusTick;
use crate::recording::{BusSample, JointSample, Record};
use crate::report::Event;

/// The recorder's and the live feed's taps, and what they have been handed.
pub(crate) struct Observers {
    recorder: Option<Tap>,
    live: Option<Tap>,
    /// Serial ports in order of first use (the scene's, then ports first used by a
    /// swap): bus records name their port by index in this list.
    ports: Vec<String>,
    /// Events already handed over.
    handed_events: usize,
    /// When each joint's next sample is due, s (one per control period).
    next_sample: Vec<f64>,
    /// When the world's next sample is due, s.
    next_world: f64,
}

/// How often the world (object poses, contacts) is sampled for the recording and the
/// live feed, s: 50 Hz, smooth in Foxglove's 3D panel and the GUI.
pub(crate) const WORLD_PERIOD_S: f64 = 0.02;

impl Observers {
    /// Nobody watching yet, for a plant of `joints` joints whose scene names `ports`.
    pub(crate) fn new(joints: usize, ports: Vec<String>) -> Self {
        Self {
            recorder: None,
            live: None,
            ports,
            handed_events: 0,
            next_sample: vec![0.0; joints],
            next_world: 0.0,
        }
    }

    /// The scene's serial ports, in order of first use.
    pub(crate) fn ports(&self) -> &[String] {
        &self.ports
    }

    pub(crate) fn set_recorder(&mut self, tap: Option<Tap>) {
        self.recorder = tap;
    }

    pub(crate) fn set_live(&mut self, tap: Tap) {
        self.live = Some(tap);
    }

    /// One sample per control period of every joint, whatever drives it (its
    /// controller, its safe state, a real servo): what the host knows now.
    pub(crate) fn samples(&mut self, plant: &Plant, sup: &Supervisor) {
        if self.recorder.is_none() && self.live.is_none() {
            return;
        }
        let t = plant.t();
        for (i, next) in self.next_sample.iter_mut().enumerate() {
            if t + 1e-9 < *next {
                continue;
            }
            let j = &plant.joints()[i];
            *next += j.period();
            let ((sp_pos, sp_vel), (pos, vel)) = plant.observed(i);
            // One record per sample, nothing allocated: freeing on the writer
            // thread what this thread allocated would cost the loop more.
            let rec = Record::Joint(
                i as u16,
                JointSample {
                    t,
                    setpoint: sp_pos,
                    setpoint_vel: sp_vel,
                    measured: pos,
                    measured_vel: vel,
                    command: j.command(),
                    torque: j.delivered(),
                    error: sp_pos - pos,
                    state: sup.health(i),
                },
            );
            if let Some(l) = &self.live {
                l.send(rec.clone());
            }
            if let Some(r) = &self.recorder {
                r.send(rec);
            }
        }
    }

    /// The world's objects and contacts, every [`WORLD_PERIOD_S`] (scenes with a
    /// world): recorded on `/world/tf` and `/world/contacts`, and to the live feed.
    pub(crate) fn world(&mut self, plant: &Plant) {
        if (self.recorder.is_none() && self.live.is_none())
            || !plant.has_world()
            || plant.t() + 1e-9 < self.next_world
        {
            return;
        }
        self.next_world += WORLD_PERIOD_S;
        let t = plant.t();
        let poses = crate::recording::WorldSample::Poses(
            t,
            plant
                .object_names()
                .iter()
                .zip(plant.object_poses())
                .map(|(n, (p, q))| (n.clone(), p, q))
                .collect(),
        );
        let contacts = crate::recording::WorldSample::Contacts(
            t,
            plant
                .touches()
                .iter()
                .map(|x| crate::recording::ContactSample {
                    a: plant.toucher_name(x.a).to_string(),
                    b: plant.toucher_name(x.b).to_string(),
                    force_n: x.force_n,
                    depth_m: x.depth_m,
                    point: x.point,
                    normal: x.normal,
                })
                .collect(),
        );
        for (name, sample) in [
            (crate::recording::WORLD_TF, poses),
            (crate::recording::WORLD_CONTACTS, contacts),
        ] {
            if let Some(l) = &self.live {
                l.send(crate::recording::Record::World(0, sample.clone()));
            }
            if let Some(k) = self.port_index(name)
                && let Some(r) = &self.recorder
            {
                r.send(Record::World(k, sample));
            }
        }
    }

    /// Hands over the events logged since the last call.
    pub(crate) fn events(&mut self, events: &[Event]) {
        let new = events.get(self.handed_events..).unwrap_or_default();
        for sink in [&self.recorder, &self.live].into_iter().flatten() {
            for e in new {
                sink.send(Record::Event(e.clone()));
            }
        }
        self.handed_events = events.len();
    }

    /// One transaction of the bus on `port`, at simulated time `t` (recorded only):
    /// a port first used now (by a swap) is announced first.
    pub(crate) fn bus(&mut self, port: &str, t: f64, tick: &BusTick) {
        let Some(k) = self.port_index(port) else {
            return;
        };
        if let Some(r) = &self.recorder {
            r.send(Record::Bus(
                k,
                BusSample {
                    t,
                    latency_us: (tick.latency.as_secs_f64() as f32 * 1e6) as f64,
                    replies: tick.samples.len() as u32,
                    errors: tick.errors.len() as u32,
                },
            ));
        }
    }

    /// The recording's index of `port`, announcing the port to the recorder the first
    /// time; `None` without a recorder.
    fn port_index(&mut self, port: &str) -> Option<u16> {
        let r = self.recorder.as_ref()?;
        let k = match self.ports.iter().position(|p| p == port) {
            Some(k) => k,
            None => {
                self.ports.push(port.to_string());
                let k = self.ports.len() - 1;
                r.send(Record::Port(k as u16, port.to_string()));
                k
            }
        };
        Some(k as u16)
    }

    /// One host request on the served bus, recorded on `/bus/served`.
    pub(crate) fn served(&mut self, sample: crate::recording::ServedSample) {
        let Some(k) = self.port_index(crate::recording::SERVED_PORT) else {
            return;
        };
        if let Some(r) = &self.recorder {
            r.send(Record::Served(k, sample));
        }
    }

    /// Lets go of the recorder's tap (its sink is finishing).
    pub(crate) fn close_recorder(&mut self) {
        self.recorder = None;
    }
}
