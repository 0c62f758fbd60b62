//! The live server's channels: each record of the run on the Foxglove channel a
//! recording would put it on, with its simulated time as log time. Foxglove's own
//! schemas where one fits, so its panels understand them: `/tf` and `/world/tf`
//! (`foxglove.FrameTransforms`), `/joint_states` (`foxglove.JointStates`), `/events`
//! (`foxglove.Log`); the recording's own schemas otherwise (`/joints/<name>` the
//! compact protobuf sample, `/bus/<port>`, `/bus/served`, `/world/contacts` JSON).
//! Channels are made when first needed (a port used by a swap) and counted per topic.

use std::collections::HashMap;
use std::sync::Arc;

use foxglove::messages::{
    FrameTransform, FrameTransforms, JointState, JointStates, Log, Quaternion, Timestamp, Vector3,
    log::Level,
};
use foxglove::{Channel, Context, PartialMetadata, RawChannel, Schema};

use super::thin::Thin;
use crate::recording::{self as rec, Record, WorldSample, proto, schema};
use crate::report::Event;

/// One channel: typed (a Foxglove schema) or raw bytes with the recording's schema.
enum Out {
    Tf(Channel<FrameTransforms>),
    Joints(Channel<JointStates>),
    Log(Channel<Log>),
    Raw(Arc<RawChannel>),
}

impl Out {
    /// Whether any client is subscribed.
    fn has_sinks(&self) -> bool {
        match self {
            Out::Tf(c) => c.has_sinks(),
            Out::Joints(c) => c.has_sinks(),
            Out::Log(c) => c.has_sinks(),
            Out::Raw(c) => c.has_sinks(),
        }
    }
}

/// One channel and what went through it.
struct Made {
    topic: String,
    out: Out,
    /// Messages handed to the server (or counted while nobody subscribed).
    count: u64,
    /// A state channel's bucket (`thin`), and the messages it held back.
    thin: Option<Thin>,
    thinned: u64,
}

/// Every channel so far, with how many messages each was handed.
pub(super) struct Channels {
    ctx: Arc<Context>,
    /// Channel per topic, in the order made, with its count.
    out: Vec<Made>,
    by_topic: HashMap<String, usize>,
    /// The sinks' port list: names announced by `Record::Port`, by index.
    ports: Vec<String>,
    /// Each port's channel, once made.
    by_port: Vec<Option<usize>>,
    /// Each joint's channel and the events'.
    by_joint: Vec<Option<usize>>,
    events: Option<usize>,
    buf: Vec<u8>,
}

/// Simulated seconds as the nanoseconds Foxglove's log time counts.
fn nanos(t: f64) -> u64 {
    (t.max(0.0) * 1e9).round() as u64
}

fn timestamp(t: f64) -> Timestamp {
    let (sec, nsec) = rec::stamp(t);
    Timestamp::new(sec, nsec)
}

impl Channels {
    /// The channels every run has (joints, events, the arm's frames and states), made
    /// now so a client sees them at once; `ports` are the scene's serial ports.
    pub(super) fn new(ctx: Arc<Context>, joints: &[String], ports: &[String]) -> Self {
        let mut c = Self {
            ctx,
            out: Vec::new(),
            by_topic: HashMap::new(),
            ports: ports.to_vec(),
            by_port: vec![None; ports.len()],
            by_joint: Vec::new(),
            events: None,
            buf: Vec::with_capacity(128),
        };
        c.by_joint = joints
            .iter()
            .map(|j| c.channel(&crate::recording::joint_topic(j)))
            .collect();
        c.events = c.channel("/events");
        for topic in [rec::ARM_TF, rec::JOINT_STATES] {
            c.channel(topic);
        }
        c
    }

    /// The channel for `topic`, made the first time.
    fn channel(&mut self, topic: &str) -> Option<usize> {
        if let Some(&k) = self.by_topic.get(topic) {
            return Some(k);
        }
        let b = self.ctx.channel_builder(topic);
        let raw = |b: foxglove::ChannelBuilder, name: &str, json: &'static str| {
            b.schema(Schema::new(name, "jsonschema", json.as_bytes()))
                .message_encoding("json")
                .build_raw()
                .ok()
                .map(Out::Raw)
        };
        let out = match topic {
            rec::ARM_TF | rec::WORLD_TF => Some(Out::Tf(b.build())),
            rec::JOINT_STATES => Some(Out::Joints(b.build())),
            "/events" => Some(Out::Log(b.build())),
            rec::WORLD_CONTACTS => raw(b, "armhil.Contacts", schema::CONTACTS_SCHEMA),
            "/bus/served" => raw(b, "armhil.ServedSample", schema::SERVED_SCHEMA),
            t if t.starts_with(crate::recording::JOINT_TOPIC_PREFIX) => b
                .schema(Schema::new(
                    proto::JOINT_SAMPLE_NAME,
                    "protobuf",
                    proto::joint_sample_descriptor(),
                ))
                .message_encoding("protobuf")
                .build_raw()
                .ok()
                .map(Out::Raw),
            _ => raw(b, "armhil.BusSample", schema::BUS_SCHEMA),
        }?;
        let state = matches!(
            topic,
            rec::ARM_TF | rec::WORLD_TF | rec::JOINT_STATES | rec::WORLD_CONTACTS
        );
        self.out.push(Made {
            topic: topic.to_string(),
            out,
            count: 0,
            thin: state.then(|| Thin::new(0.0)),
            thinned: 0,
        });
        self.by_topic.insert(topic.to_string(), self.out.len() - 1);
        Some(self.out.len() - 1)
    }

    /// The channel of port (or named channel) `p`, made the first time.
    fn port_channel(&mut self, p: u16) -> Option<usize> {
        if let Some(&Some(k)) = self.by_port.get(p as usize) {
            return Some(k);
        }
        let topic = rec::port_topic(self.ports.get(p as usize)?);
        let k = self.channel(&topic)?;
        if let Some(slot) = self.by_port.get_mut(p as usize) {
            *slot = Some(k);
        }
        Some(k)
    }

    /// Logs one record on its channel; `now` is the wall time, s (for thinning).
    pub(super) fn log(&mut self, r: Record, now: f64) {
        // Joints' and events' channels are found without building their topic (the
        // bulk of the records).
        let k = match &r {
            Record::Joint(j, _) => self.by_joint.get(*j as usize).copied().flatten(),
            Record::Event(_) => self.events,
            Record::Port(k, name) => {
                // Announced in index order, as to the recorder.
                if *k as usize == self.ports.len() {
                    self.ports.push(name.clone());
                    self.by_port.push(None);
                }
                None
            }
            Record::Bus(p, _) | Record::Served(p, _) | Record::World(p, _) => self.port_channel(*p),
        };
        let Some(k) = k else {
            return;
        };
        // Nobody subscribed: nothing to encode (counted all the same: what the run
        // handed the server).
        let made = &mut self.out[k];
        if !made.out.has_sinks() {
            made.count += 1;
            return;
        }
        if let Some(thin) = &mut made.thin
            && !thin.pass(now)
        {
            made.thinned += 1;
            return;
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let Made { out, count, .. } = made;
        *count += 1;
        match (out, r) {
            (Out::Raw(c), Record::Joint(_, s)) => {
                proto::encode_joint_sample(&s, &mut buf);
                c.log_with_meta(&buf, meta(s.t));
            }
            (Out::Log(c), Record::Event(e)) => c.log_with_time(&log(&e), nanos(e.t)),
            (Out::Tf(c), Record::World(_, WorldSample::Poses(t, poses))) => c.log_with_time(
                &FrameTransforms {
                    transforms: poses
                        .iter()
                        .map(|(name, p, q)| FrameTransform {
                            timestamp: Some(timestamp(t)),
                            parent_frame_id: "world".into(),
                            child_frame_id: name.clone(),
                            translation: Some(Vector3 {
                                x: p[0].into(),
                                y: p[1].into(),
                                z: p[2].into(),
                            }),
                            rotation: Some(Quaternion {
                                x: q[0].into(),
                                y: q[1].into(),
                                z: q[2].into(),
                                w: q[3].into(),
                            }),
                        })
                        .collect(),
                },
                nanos(t),
            ),
            (Out::Joints(c), Record::World(_, WorldSample::Joints(t, joints))) => c.log_with_time(
                &JointStates {
                    timestamp: Some(timestamp(t)),
                    joints: joints
                        .into_iter()
                        .map(|(name, p, v, e)| JointState {
                            name,
                            position: Some(p),
                            velocity: Some(v),
                            acceleration: None,
                            effort: Some(e),
                        })
                        .collect(),
                },
                nanos(t),
            ),
            (Out::Raw(c), Record::Bus(_, s)) => json(c, s.t, &s, &mut buf),
            (Out::Raw(c), Record::Served(_, s)) => json(c, s.t, &s, &mut buf),
            (Out::Raw(c), Record::World(_, w)) => json(c, w.t(), &w.to_json(), &mut buf),
            // A record that does not fit its topic's channel (a port named like
            // another channel): not sent, not counted.
            _ => *count -= 1,
        }
        self.buf = buf;
    }

    /// Each topic with the messages handed to the server and those thinned.
    pub(super) fn counts(&self) -> Vec<(String, u64, u64)> {
        self.out
            .iter()
            .map(|m| (m.topic.clone(), m.count, m.thinned))
            .collect()
    }

    /// The topic of each of the tap's drop counters: joints, events, then ports in
    /// the order announced.
    pub(super) fn slot_topics(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_joint
            .iter()
            .map(|k| k.map(|k| self.out[k].topic.clone()).unwrap_or_default())
            .collect();
        v.push("/events".into());
        v.extend(self.ports.iter().map(|name| rec::port_topic(name)));
        v
    }
}

fn meta(t: f64) -> PartialMetadata {
    PartialMetadata {
        log_time: Some(nanos(t)),
    }
}

fn json(c: &RawChannel, t: f64, v: &impl serde::Serialize, buf: &mut Vec<u8>) {
    if serde_json::to_writer(&mut *buf, v).is_ok() {
        c.log_with_meta(buf, meta(t));
    }
}

/// An event as a Foxglove log line: refusals, faults and failures are warnings or
/// errors, the rest information; `name` is the joint (or `armhil`).
fn log(e: &Event) -> Log {
    let k = e.kind.as_str();
    let level = if k.ends_with("_refused") || k.contains("miss") || k == "service_away" {
        Level::Warning
    } else if k.contains("fault") || k.contains("fail") || k.contains("hang") || k == "estop" {
        Level::Error
    } else {
        Level::Info
    };
    Log {
        timestamp: Some(timestamp(e.t)),
        level: level as i32,
        message: if e.detail.is_empty() {
            e.kind.clone()
        } else {
            format!("{}: {}", e.kind, e.detail)
        },
        name: if e.joint.is_empty() {
            "armhil".into()
        } else {
            e.joint.clone()
        },
        file: String::new(),
        line: 0,
    }
}
