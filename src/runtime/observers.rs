//! The run's observers, beside the plant: the sinks' taps (the MCAP recorder, the
//! live Foxglove server), the live feed's tap (the GUI), and the list of serial ports
//! (and named channels) the sinks number their bus and world records by.
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

/// The sinks' and the live feed's taps, and what they have been handed.
pub(crate) struct Observers {
    /// The sinks' taps (recorder, live server): every record.
    sinks: Vec<Tap>,
    /// The GUI's feed: joint samples, events and the world's objects.
    live: Option<Tap>,
    /// Each link body's frame name on `/tf`.
    links: Vec<String>,
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

/// How often the world (link and object poses, joint states, contacts) is sampled
/// for the sinks and the live feed, s: 50 Hz, smooth in Foxglove's 3D panel and the
/// GUI.
pub(crate) const WORLD_PERIOD_S: f64 = 0.02;

impl Observers {
    /// Nobody watching yet, for a plant of `joints` joints whose scene names `ports`
    /// and whose link bodies are the frames `links`.
    pub(crate) fn new(joints: usize, ports: Vec<String>, links: Vec<String>) -> Self {
        Self {
            sinks: Vec::new(),
            live: None,
            links,
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

    /// A sink's tap: it is handed every record from now on.
    pub(crate) fn add_sink(&mut self, tap: Tap) {
        self.sinks.push(tap);
    }

    pub(crate) fn set_live(&mut self, tap: Tap) {
        self.live = Some(tap);
    }

    /// One sample per control period of every joint, whatever drives it (its
    /// controller, its safe state, a real servo): what the host knows now.
    pub(crate) fn samples(&mut self, plant: &Plant, sup: &Supervisor) {
        if !self.sinks.iter().chain(&self.live).any(Tap::takes_samples) {
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
            for tap in self.sinks.iter().chain(&self.live) {
                if tap.takes_samples() {
                    tap.send(rec.clone());
                }
            }
        }
    }

    /// The world every [`WORLD_PERIOD_S`]: to the sinks, every link's pose (`/tf`)
    /// and every joint's state (`/joint_states`); with a world, its objects' poses
    /// (`/world/tf`, also to the live feed) and what touches what (`/world/contacts`).
    pub(crate) fn world(&mut self, plant: &Plant) {
        if (self.sinks.is_empty() && self.live.is_none()) || plant.t() + 1e-9 < self.next_world {
            return;
        }
        self.next_world += WORLD_PERIOD_S;
        let t = plant.t();
        use crate::recording::{self as rec, WorldSample};
        if !self.sinks.is_empty() {
            let links = WorldSample::Poses(
                t,
                self.links
                    .iter()
                    .zip(plant.world().link_poses())
                    .map(|(n, (p, q))| (n.clone(), p, q))
                    .collect(),
            );
            let joints = WorldSample::Joints(
                t,
                plant
                    .joints()
                    .iter()
                    .enumerate()
                    .map(|(i, j)| {
                        let (_, (pos, vel)) = plant.observed(i);
                        (j.name().to_string(), pos, vel, j.delivered())
                    })
                    .collect(),
            );
            for (name, sample) in [(rec::ARM_TF, links), (rec::JOINT_STATES, joints)] {
                self.hand_sinks(name, sample);
            }
        }
        if !plant.has_world() {
            return;
        }
        let poses = WorldSample::Poses(
            t,
            plant
                .object_names()
                .iter()
                .zip(plant.object_poses())
                .map(|(n, (p, q))| (n.clone(), p, q))
                .collect(),
        );
        let contacts = WorldSample::Contacts(
            t,
            plant
                .touches()
                .iter()
                .map(|x| rec::ContactSample {
                    a: plant.toucher_name(x.a).to_string(),
                    b: plant.toucher_name(x.b).to_string(),
                    force_n: x.force_n,
                    depth_m: x.depth_m,
                    point: x.point,
                    normal: x.normal,
                })
                .collect(),
        );
        for (name, sample) in [(rec::WORLD_TF, poses), (rec::WORLD_CONTACTS, contacts)] {
            if let Some(l) = &self.live {
                l.send(Record::World(0, sample.clone()));
            }
            self.hand_sinks(name, sample);
        }
    }

    /// A world record for every sink, on the channel announced as `name`.
    fn hand_sinks(&mut self, name: &str, sample: crate::recording::WorldSample) {
        let Some(k) = self.port_index(name) else {
            return;
        };
        if let Some((last, rest)) = self.sinks.split_last() {
            for tap in rest {
                tap.send(Record::World(k, sample.clone()));
            }
            last.send(Record::World(k, sample));
        }
    }

    /// Hands over the events logged since the last call.
    pub(crate) fn events(&mut self, events: &[Event]) {
        let new = events.get(self.handed_events..).unwrap_or_default();
        for sink in self.sinks.iter().chain(&self.live) {
            for e in new {
                sink.send(Record::Event(e.clone()));
            }
        }
        self.handed_events = events.len();
    }

    /// One transaction of the bus on `port`, at simulated time `t` (sinks only):
    /// a port first used now (by a swap) is announced first.
    pub(crate) fn bus(&mut self, port: &str, t: f64, tick: &BusTick) {
        let Some(k) = self.port_index(port) else {
            return;
        };
        let sample = BusSample {
            t,
            latency_us: (tick.latency.as_secs_f64() as f32 * 1e6) as f64,
            replies: tick.samples.len() as u32,
            errors: tick.errors.len() as u32,
        };
        for tap in &self.sinks {
            tap.send(Record::Bus(k, sample));
        }
    }

    /// The sinks' index of `port` (or named channel), announcing it to every sink the
    /// first time; `None` without sinks.
    fn port_index(&mut self, port: &str) -> Option<u16> {
        if self.sinks.is_empty() {
            return None;
        }
        let k = match self.ports.iter().position(|p| p == port) {
            Some(k) => k,
            None => {
                self.ports.push(port.to_string());
                let k = self.ports.len() - 1;
                for tap in &self.sinks {
                    tap.send(Record::Port(k as u16, port.to_string()));
                }
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
        for tap in &self.sinks {
            tap.send(Record::Served(k, sample.clone()));
        }
    }

    /// Lets go of the sinks' taps (they are finishing).
    pub(crate) fn close_sinks(&mut self) {
        self.sinks.clear();
    }
}
