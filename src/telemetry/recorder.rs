//! The recorder: a run's telemetry into an MCAP file that Foxglove opens as is.
//!
//! Channels, each with its schema in the file so Foxglove plots every field without
//! plugins: `/joints/<name>` one [`JointSample`] per control period (protobuf, see
//! `crate::recording::proto`: the bulk of the data, compact and cheap to encode), `/events`
//! every event of the log (JSON, as the rest), `/bus/<port>` one [`BusSample`] per bus
//! transaction, `/bus/served` one `ServedSample` per host request on the served bus
//! (`armhil serve`), `/tf` every link's pose as `foxglove.FrameTransforms` and
//! `/joint_states` every joint as `foxglove.JointStates` (50 Hz: Foxglove's 3D panel
//! and plots show the arm), `/world/tf` the objects' poses and `/world/contacts` what
//! touches what (scenes with a `world`, 50 Hz), `/scene` the scene file once. Log time is simulated time in ns; each
//! channel numbers its messages from 0 (`sequence`), so gaps are visible.
//!
//! The control loop never waits for the disk: it hands records to a bounded channel
//! ([`Tap::send`] never blocks) and a writer thread encodes and writes them. If
//! the writer falls behind, records are dropped and counted per channel. The writer
//! closes a chunk at least once a second, so a killed process leaves a file readable
//! up to its last second; a normal end writes the summary.

use std::collections::BTreeMap;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, TryRecvError};

use crate::recording::{Record, schema};
use crate::report::RecordingReport;
use crate::runtime::tap::{RunInfo, Sink, SinkError, SinkFactory, SinkReport, Tap};

/// What the writer thread ends with: each channel's topic and message count.
type WriterOutcome = Result<(Vec<String>, Vec<u64>), RecordError>;

/// Channels beyond the scene's ports that a recording can take on while running:
/// buses first used by a swap, the served bus, the arm's and the world's channels.
const MORE_PORTS: usize = 32;

/// Records waiting for the writer: ~4300 a simulated second for arm6, so 2 s in real
/// time, 20 ms at 100× real time (the writer drains every 5 ms). Enough to ride out
/// a slow disk; beyond that dropping is better than holding up the control loop.
const CAPACITY: usize = 8192;
/// How often the writer drains the channel: at 100× real time arm6 queues ~430
/// records per ms, so 5 ms uses about a quarter of `CAPACITY`.
const POLL: Duration = Duration::from_millis(5);

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: MCAP: {source}")]
    Mcap {
        path: PathBuf,
        #[source]
        source: mcap::McapError,
    },
}

/// A running recorder.
pub struct Recorder {
    sink: Tap,
    thread: Option<JoinHandle<WriterOutcome>>,
    path: PathBuf,
    topics: Vec<String>,
}

impl Recorder {
    /// Creates `path` and starts the writer. `scene_text` is stored on `/scene`.
    pub fn start(
        path: &Path,
        scene_name: &str,
        scene_text: &str,
        joints: &[String],
        buses: &[String],
    ) -> Result<Self, RecordError> {
        let io = |source| RecordError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::create(path).map_err(io)?;
        let mut topics: Vec<String> = joints
            .iter()
            .map(|j| crate::recording::joint_topic(j))
            .collect();
        topics.push("/events".into());
        topics.extend(buses.iter().map(|b| format!("/bus/{b}")));
        let (sink, rx) = Tap::channel(CAPACITY, joints.len(), buses.len() + MORE_PORTS);
        let w = Writer::new(
            BufWriter::new(file),
            path,
            &topics,
            joints.len(),
            scene_name,
            scene_text,
        )?;
        let p = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("armhil-recorder".into())
            .spawn(move || w.run(rx))
            .map_err(|source| RecordError::Io { path: p, source })?;
        Ok(Self {
            sink,
            thread: Some(thread),
            path: path.to_path_buf(),
            topics,
        })
    }

    pub fn sink(&self) -> Tap {
        self.sink.clone()
    }

    /// Stops taking records, writes what is queued and the summary, and reports.
    /// Every sink handed out must have been dropped (the writer ends when the last
    /// sender is gone).
    pub fn finish(self) -> Result<RecordingReport, RecordError> {
        let Recorder {
            sink,
            thread,
            path,
            topics,
        } = self;
        // The run has ended: nothing sends any more, so these counts are final.
        let drops = sink.dropped_by_slot();
        drop(sink);
        let (topics, counts) = match thread.map(|t| t.join()) {
            Some(Ok(r)) => r?,
            _ => (topics.clone(), vec![0; topics.len()]),
        };
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Ok(RecordingReport {
            file: path.display().to_string(),
            channels: topics
                .iter()
                .zip(counts)
                .zip(drops)
                .map(|((t, c), d)| (t.clone(), c, d))
                .collect(),
            bytes,
        })
    }
}

impl Sink for Recorder {
    fn tap(&self) -> Tap {
        self.sink()
    }

    fn finish(self: Box<Self>) -> Result<SinkReport, SinkError> {
        Recorder::finish(*self)
            .map(SinkReport::Recording)
            .map_err(Into::into)
    }
}

/// A run's recording into the MCAP file `path` (for `RunOptions::record`).
pub fn to_file(path: &Path) -> SinkFactory {
    let path = path.to_path_buf();
    SinkFactory::new(move |run: &RunInfo| {
        Recorder::start(&path, run.scene_name, run.scene_text, run.joints, run.ports)
            .map(|r| Box::new(r) as Box<dyn Sink>)
            .map_err(Into::into)
    })
}

/// The writer thread's state.
struct Writer<W: Write + Seek> {
    mcap: mcap::Writer<W>,
    path: PathBuf,
    /// MCAP channel id and next sequence number per topic slot.
    channels: Vec<(u16, u32)>,
    topics: Vec<String>,
    joints: usize,
    bus_schema: u16,
    served_schema: u16,
    /// Slots with drop counters: the scene's topics plus `MORE_PORTS`.
    max_slots: usize,
    /// Encoding buffer, reused.
    buf: Vec<u8>,
}

impl<W: Write + Seek> Writer<W> {
    fn new(
        w: W,
        path: &Path,
        topics: &[String],
        joints: usize,
        scene_name: &str,
        scene_text: &str,
    ) -> Result<Self, RecordError> {
        let err = |source| RecordError::Mcap {
            path: path.to_path_buf(),
            source,
        };
        // zstd level 1: about as small as the default on this telemetry, at a
        // fraction of the CPU (the writer shares the machine with the control loop).
        let mut mcap = mcap::WriteOptions::new()
            .compression_level(1)
            .profile("")
            .library(format!("armhil {}", env!("CARGO_PKG_VERSION")))
            .create(w)
            .map_err(err)?;
        let js = mcap
            .add_schema(
                crate::recording::proto::JOINT_SAMPLE_NAME,
                "protobuf",
                &crate::recording::proto::joint_sample_descriptor(),
            )
            .map_err(err)?;
        let es = mcap
            .add_schema(
                "armhil.Event",
                "jsonschema",
                schema::EVENT_SCHEMA.as_bytes(),
            )
            .map_err(err)?;
        let bs = mcap
            .add_schema(
                "armhil.BusSample",
                "jsonschema",
                schema::BUS_SCHEMA.as_bytes(),
            )
            .map_err(err)?;
        let ss = mcap
            .add_schema(
                "armhil.Scene",
                "jsonschema",
                schema::SCENE_SCHEMA.as_bytes(),
            )
            .map_err(err)?;
        let sv = mcap
            .add_schema(
                "armhil.ServedSample",
                "jsonschema",
                schema::SERVED_SCHEMA.as_bytes(),
            )
            .map_err(err)?;
        let none = BTreeMap::new();
        let mut channels = Vec::new();
        for (k, topic) in topics.iter().enumerate() {
            let (schema, encoding) = if k < joints {
                (js, "protobuf")
            } else if k == joints {
                (es, "json")
            } else {
                (bs, "json")
            };
            channels.push((
                mcap.add_channel(schema, topic, encoding, &none)
                    .map_err(err)?,
                0,
            ));
        }
        let scene = mcap.add_channel(ss, "/scene", "json", &none).map_err(err)?;
        let body = serde_json::json!({"name": scene_name, "text": scene_text}).to_string();
        mcap.write_to_known_channel(
            &mcap::records::MessageHeader {
                channel_id: scene,
                sequence: 0,
                log_time: 0,
                publish_time: 0,
            },
            body.as_bytes(),
        )
        .map_err(err)?;
        Ok(Self {
            mcap,
            path: path.to_path_buf(),
            channels,
            topics: topics.to_vec(),
            joints,
            bus_schema: bs,
            served_schema: sv,
            max_slots: topics.len() + MORE_PORTS,
            buf: Vec::with_capacity(128),
        })
    }

    fn write(&mut self, r: Record) -> Result<(), mcap::McapError> {
        match r {
            Record::Joint(j, s) => {
                // One buffer reused for every sample: nothing allocated per record.
                let mut buf = std::mem::take(&mut self.buf);
                buf.clear();
                crate::recording::proto::encode_joint_sample(&s, &mut buf);
                let r = self.write_bytes(j as usize, s.t, &buf);
                self.buf = buf;
                r
            }
            Record::Event(e) => self.write_one(self.joints, e.t, serde_json::to_vec(&e)),
            Record::Bus(b, s) => {
                self.write_one(self.joints + 1 + b as usize, s.t, serde_json::to_vec(&s))
            }
            Record::Served(b, s) => {
                self.write_one(self.joints + 1 + b as usize, s.t, serde_json::to_vec(&s))
            }
            Record::World(b, w) => self.write_one(
                self.joints + 1 + b as usize,
                w.t(),
                serde_json::to_vec(&w.to_json()),
            ),
            Record::Port(b, name) => {
                let slot = self.joints + 1 + b as usize;
                // Ports are announced in index order; an index already known (or out
                // of order, or beyond the drop counters) is ignored.
                if slot == self.channels.len() && slot < self.max_slots {
                    let topic = crate::recording::port_topic(&name);
                    let schema = match name.as_str() {
                        crate::recording::SERVED_PORT => self.served_schema,
                        crate::recording::WORLD_TF | crate::recording::ARM_TF => {
                            self.mcap.add_schema(
                                "foxglove.FrameTransforms",
                                "jsonschema",
                                schema::FRAME_TRANSFORMS_SCHEMA.as_bytes(),
                            )?
                        }
                        crate::recording::JOINT_STATES => self.mcap.add_schema(
                            "foxglove.JointStates",
                            "jsonschema",
                            schema::JOINT_STATES_SCHEMA.as_bytes(),
                        )?,
                        crate::recording::WORLD_CONTACTS => self.mcap.add_schema(
                            "armhil.Contacts",
                            "jsonschema",
                            schema::CONTACTS_SCHEMA.as_bytes(),
                        )?,
                        _ => self.bus_schema,
                    };
                    let id = self
                        .mcap
                        .add_channel(schema, &topic, "json", &BTreeMap::new())?;
                    self.channels.push((id, 0));
                    self.topics.push(topic);
                }
                Ok(())
            }
        }
    }

    fn write_one(
        &mut self,
        slot: usize,
        t: f64,
        body: serde_json::Result<Vec<u8>>,
    ) -> Result<(), mcap::McapError> {
        match body {
            Ok(b) => self.write_bytes(slot, t, &b),
            Err(_) => Ok(()),
        }
    }

    fn write_bytes(&mut self, slot: usize, t: f64, body: &[u8]) -> Result<(), mcap::McapError> {
        let Some(ch) = self.channels.get_mut(slot) else {
            return Ok(());
        };
        let ns = (t.max(0.0) * 1e9) as u64;
        let header = mcap::records::MessageHeader {
            channel_id: ch.0,
            sequence: ch.1,
            log_time: ns,
            publish_time: ns,
        };
        ch.1 = ch.1.wrapping_add(1);
        self.mcap.write_to_known_channel(&header, body)
    }

    /// Writes until every sender is gone; returns messages written per channel.
    fn run(mut self, rx: Receiver<Record>) -> Result<(Vec<String>, Vec<u64>), RecordError> {
        let err = |path: &Path, source| RecordError::Mcap {
            path: path.to_path_buf(),
            source,
        };
        let mut last_flush = Instant::now();
        loop {
            // Drain, then sleep: the writer never waits on the channel, so a send
            // from the control loop never has to wake it (a syscall per record).
            let mut gone = false;
            loop {
                match rx.try_recv() {
                    Ok(r) => self.write(r).map_err(|e| err(&self.path, e))?,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        gone = true;
                        break;
                    }
                }
            }
            if gone {
                break;
            }
            // Close a chunk at least once a second: a killed process loses at most
            // the last second.
            if last_flush.elapsed() >= Duration::from_secs(1) {
                self.mcap.flush().map_err(|e| err(&self.path, e))?;
                last_flush = Instant::now();
            }
            std::thread::sleep(POLL);
        }
        self.mcap.finish().map_err(|e| err(&self.path, e))?;
        Ok((
            self.topics.clone(),
            self.channels.iter().map(|c| c.1 as u64).collect(),
        ))
    }
}
