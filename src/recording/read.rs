//! Reading a recording back (`armhil inspect`, `armhil export`, `armhil replay`):
//! every message of an armhil MCAP file, channel by channel, with sequence gaps found
//! and a truncated file (a killed process) read up to its last complete chunk. Joints
//! come from the compact per-joint samples, or, for a joint a file has none of, from
//! its `/joint_states` (`foxglove.JointStates`, JSON): what was measured, as
//! setpoint too.

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
    // Joint states by joint, for joints without their own samples.
    let mut states: BTreeMap<String, Vec<JointSample>> = BTreeMap::new();
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
        if let Some(joint) = topic.strip_prefix(super::JOINT_TOPIC_PREFIX) {
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
        } else if topic == super::JOINT_STATES {
            for (name, s) in joint_states(&m.data, m.log_time as f64 / 1e9) {
                states.entry(name).or_default().push(s);
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
    for (name, samples) in states {
        rec.joints.entry(name).or_insert(samples);
    }
    if rec.channels.is_empty() && rec.truncated.is_some() {
        return Err(ReadError::NotMcap {
            path: path.to_path_buf(),
            source: mcap::McapError::UnexpectedEof,
        });
    }
    Ok(rec)
}

/// The joints of a `foxglove.JointStates` JSON message at log time `t`, as samples
/// (measured = setpoint, effort = command = torque); none if it is not one.
fn joint_states(data: &[u8], t: f64) -> Vec<(String, JointSample)> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return Vec::new();
    };
    let Some(joints) = v["joints"].as_array() else {
        return Vec::new();
    };
    joints
        .iter()
        .filter_map(|j| {
            let pos = j["position"].as_f64()?;
            let vel = j["velocity"].as_f64().unwrap_or(0.0);
            let effort = j["effort"].as_f64().unwrap_or(0.0);
            Some((
                j["name"].as_str()?.to_string(),
                JointSample {
                    t,
                    setpoint: pos,
                    setpoint_vel: vel,
                    measured: pos,
                    measured_vel: vel,
                    command: effort,
                    torque: effort,
                    error: 0.0,
                    state: crate::report::JointHealth::Ok,
                },
            ))
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A file with only `/joint_states` (as a tool other than armhil might write it)
    /// gives each joint its samples; a file with both keeps the compact ones.
    #[test]
    fn joints_come_from_joint_states_when_a_file_has_no_samples_of_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("states.mcap");
        let file = std::fs::File::create(&path).expect("create");
        let mut w = mcap::Writer::new(std::io::BufWriter::new(file)).expect("writer");
        let schema = w
            .add_schema("foxglove.JointStates", "jsonschema", b"{}")
            .expect("schema");
        let ch = w
            .add_channel(schema, super::super::JOINT_STATES, "json", &BTreeMap::new())
            .expect("channel");
        for k in 0..3u32 {
            let t = k as f64 * 0.02;
            let body = serde_json::json!({"joints": [
                {"name": "elbow", "position": 0.1 * k as f64, "velocity": 5.0, "effort": -1.5},
                {"name": "wrist", "position": -0.2, "velocity": 0.0, "effort": 0.25},
            ]});
            w.write_to_known_channel(
                &mcap::records::MessageHeader {
                    channel_id: ch,
                    sequence: k,
                    log_time: (t * 1e9) as u64,
                    publish_time: (t * 1e9) as u64,
                },
                body.to_string().as_bytes(),
            )
            .expect("write");
        }
        w.finish().expect("finish");
        drop(w);
        let rec = read(&path).expect("read");
        let elbow = &rec.joints["elbow"];
        assert_eq!(elbow.len(), 3);
        assert_eq!(elbow[2].t, 0.04);
        assert!((elbow[2].measured - 0.2).abs() < 1e-12);
        assert_eq!(elbow[2].setpoint, elbow[2].measured);
        assert_eq!((elbow[2].measured_vel, elbow[2].torque), (5.0, -1.5));
        assert_eq!(rec.joints["wrist"][0].torque, 0.25);
    }
}
