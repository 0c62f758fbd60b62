//! Trajectory checks: named joints exist and are driven once, waypoint times increase,
//! every commanded position stays inside the joint's limits.

use std::collections::{BTreeSet, HashMap};

use super::{MAX_DURATION_S, join};
use crate::scene::error::Problems;
use crate::scene::model::JointConfig;
use crate::scene::schema::*;

pub(super) fn check_trajectory(traj: &[TrajectorySpec], joints: &[JointConfig], p: &mut Problems) {
    let by_name: HashMap<&str, &JointConfig> =
        joints.iter().map(|j| (j.name.as_str(), j)).collect();
    let all: BTreeSet<&str> = by_name.keys().copied().collect();
    let mut covered = BTreeSet::new();
    let mut claim = |field: String, name: &str, p: &mut Problems| -> Option<&JointConfig> {
        match by_name.get(name) {
            None => {
                p.push(
                    field,
                    format!(
                        "\"{name}\" is not an actuated joint (joints: {})",
                        join(&all)
                    ),
                );
                None
            }
            Some(j) => {
                if !covered.insert(name.to_string()) {
                    p.push(
                        field,
                        format!("joint \"{name}\" is driven by two trajectory segments"),
                    );
                }
                Some(*j)
            }
        }
    };
    for (i, seg) in traj.iter().enumerate() {
        let f = format!("trajectory[{i}]");
        match seg {
            TrajectorySpec::Hold { joints } => {
                for (k, n) in joints.iter().enumerate() {
                    claim(format!("{f}.joints[{k}]"), n, p);
                }
            }
            TrajectorySpec::Waypoints { joints, points } => {
                let cfgs: Vec<Option<&JointConfig>> = joints
                    .iter()
                    .enumerate()
                    .map(|(k, n)| claim(format!("{f}.joints[{k}]"), n, p))
                    .collect();
                if points.is_empty() {
                    p.push(format!("{f}.points"), "needs at least one waypoint");
                }
                let mut last_t = f64::NEG_INFINITY;
                for (k, w) in points.iter().enumerate() {
                    let wf = format!("{f}.points[{k}]");
                    p.range(format!("{wf}.t"), w.t, 0.0, MAX_DURATION_S, "s");
                    if w.t <= last_t {
                        p.push(format!("{wf}.t"), format!("{} is not after the previous waypoint ({last_t} s): times must increase", w.t));
                    }
                    last_t = w.t;
                    if w.q.len() != joints.len() {
                        p.push(
                            format!("{wf}.q"),
                            format!(
                                "has {} values, expected {} (one per listed joint)",
                                w.q.len(),
                                joints.len()
                            ),
                        );
                        continue;
                    }
                    for (q, cfg) in w.q.iter().zip(&cfgs) {
                        if let Some(c) = cfg {
                            p.range(
                                format!("{wf}.q[\"{}\"]", c.name),
                                *q,
                                c.limits.0,
                                c.limits.1,
                                "(joint limits)",
                            );
                        }
                    }
                }
            }
            TrajectorySpec::Sine {
                joint,
                amplitude,
                freq_hz,
                center,
                phase,
                ramp_s,
            } => {
                let cfg = claim(format!("{f}.joint"), joint, p);
                p.range(format!("{f}.amplitude"), *amplitude, 0.0, 10.0, "rad or m");
                p.positive(format!("{f}.freq_hz"), *freq_hz, 100.0, "Hz");
                p.finite(format!("{f}.phase"), *phase);
                p.range(format!("{f}.ramp_s"), *ramp_s, 0.0, 3600.0, "s");
                if let Some(c) = cfg {
                    let mid = center.unwrap_or(c.initial);
                    p.finite(format!("{f}.center"), mid);
                    let shift = if *ramp_s > 0.0 {
                        amplitude * phase.sin()
                    } else {
                        0.0
                    };
                    if mid - shift - amplitude < c.limits.0 || mid - shift + amplitude > c.limits.1
                    {
                        p.push(
                            format!("{f}.amplitude"),
                            format!(
                                "center {mid} ± {amplitude} leaves the joint limits {} ..= {}",
                                c.limits.0, c.limits.1
                            ),
                        );
                    }
                }
            }
        }
    }
}
