//! Reading a recording back (`armhil inspect`, `armhil export`): every message of an
//! armhil MCAP file, channel by channel, with sequence gaps found and a truncated
//! file (a killed process) read up to its last complete chunk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::JointSample;
use crate::report::Event;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not an MCAP file ({source})")]
    NotMcap {
        path: PathBuf,
        #[source]
        source: mcap::McapError,
    },
}

/// One channel's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelStats {
    pub topic: String,
    pub schema: String,
    pub messages: u64,
    /// Messages missing by sequence number (counted from 0).
    pub gaps: u64,
    /// First and last log time, s.
    pub first_s: f64,
    pub last_s: f64,
}

/// A recording, read.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub channels: Vec<ChannelStats>,
    /// Joint samples by joint name, in time order.
    pub joints: BTreeMap<String, Vec<JointSample>>,
    pub events: Vec<Event>,
    /// Object poses from `/world/tf`, in time order: (t, [(object, xyz, quaternion
    /// xyzw)]).
    pub objects: Vec<(f64, Vec<super::ObjectPose>)>,
    /// The scene's name and text, from `/scene`.
    pub scene: Option<(String, String)>,
    /// Why reading stopped before the end of a complete file (a truncated file).
    pub truncated: Option<String>,
}

impl Recording {
    /// Simulated seconds covered.
    pub fn duration_s(&self) -> f64 {
        let first = self
            .channels
            .iter()
            .filter(|c| c.messages > 0 && c.topic != "/scene")
            .map(|c| c.first_s)
            .fold(f64::INFINITY, f64::min);
        let last = self.channels.iter().map(|c| c.last_s).fold(0.0, f64::max);
        if first.is_finite() { last - first } else { 0.0 }
    }
}

/// Reads every message of `path`.
pub fn read(path: &Path) -> Result<Recording, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let stream =
        mcap::MessageStream::new_with_options(&bytes, mcap::read::Options::IgnoreEndMagic.into())
            .map_err(|source| ReadError::NotMcap {
            path: path.to_path_buf(),
            source,
        })?;
    let mut rec = Recording::default();
    let mut by_id: BTreeMap<u16, (usize, u32)> = BTreeMap::new();
    for m in stream {
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                rec.truncated = Some(e.to_string());
                break;
            }
        };
        let k = match by_id.get(&m.channel.id) {
            Some((k, _)) => *k,
            None => {
                rec.channels.push(ChannelStats {
                    topic: m.channel.topic.clone(),
                    schema: m
                        .channel
                        .schema
                        .as_ref()
                        .map_or(String::new(), |s| s.name.clone()),
                    first_s: m.log_time as f64 / 1e9,
                    ..ChannelStats::default()
                });
                by_id.insert(m.channel.id, (rec.channels.len() - 1, 0));
                rec.channels.len() - 1
            }
        };
        if let Some((_, next)) = by_id.get_mut(&m.channel.id) {
            if m.sequence > *next {
                rec.channels[k].gaps += (m.sequence - *next) as u64;
            }
            *next = m.sequence.wrapping_add(1);
        }
        let c = &mut rec.channels[k];
        c.messages += 1;
        c.last_s = m.log_time as f64 / 1e9;
        let topic = m.channel.topic.as_str();
        if let Some(joint) = topic.strip_prefix("/joints/") {
            // Protobuf since the recorder went binary; JSON in older files.
            let s = if m.channel.message_encoding == "protobuf" {
                super::proto::decode_joint_sample(&m.data).ok()
            } else {
                serde_json::from_slice::<JointSample>(&m.data).ok()
            };
            if let Some(s) = s {
                rec.joints.entry(joint.to_string()).or_default().push(s);
            }
        } else if topic == "/events" {
            if let Ok(e) = serde_json::from_slice::<Event>(&m.data) {
                rec.events.push(e);
            }
        } else if topic == super::WORLD_TF {
            if let Some(poses) = frame_transforms(&m.data) {
                rec.objects.push((m.log_time as f64 / 1e9, poses));
            }
        } else if topic == "/scene"
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&m.data)
        {
            rec.scene = Some((
                v["name"].as_str().unwrap_or_default().to_string(),
                v["text"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    if rec.channels.is_empty() && rec.truncated.is_some() {
        return Err(ReadError::NotMcap {
            path: path.to_path_buf(),
            source: mcap::McapError::UnexpectedEof,
        });
    }
    Ok(rec)
}

/// The frames of a `foxglove.FrameTransforms` JSON message; `None` if it is not one.
fn frame_transforms(data: &[u8]) -> Option<Vec<super::ObjectPose>> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    let num = |x: &serde_json::Value| x.as_f64().map(|f| f as f32);
    v["transforms"]
        .as_array()?
        .iter()
        .map(|t| {
            let (p, q) = (&t["translation"], &t["rotation"]);
            Some((
                t["child_frame_id"].as_str()?.to_string(),
                [num(&p["x"])?, num(&p["y"])?, num(&p["z"])?],
                [num(&q["x"])?, num(&q["y"])?, num(&q["z"])?, num(&q["w"])?],
            ))
        })
        .collect()
}

/// One CSV per joint in `dir` (`<joint>.csv`, a header row with units); returns the
/// files written.
pub fn export_csv(rec: &Recording, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for (joint, samples) in &rec.joints {
        let p = dir.join(format!("{joint}.csv"));
        let mut w = std::io::BufWriter::new(std::fs::File::create(&p)?);
        writeln!(
            w,
            "t_s,setpoint_rad,setpoint_vel_rad_s,measured_rad,measured_vel_rad_s,command_nm,torque_nm,error_rad,state"
        )?;
        for s in samples {
            writeln!(
                w,
                "{},{},{},{},{},{},{},{},{}",
                s.t,
                s.setpoint,
                s.setpoint_vel,
                s.measured,
                s.measured_vel,
                s.command,
                s.torque,
                s.error,
                s.state.as_str()
            )?;
        }
        w.flush()?;
        out.push(p);
    }
    Ok(out)
}
