//! Replaying a recording: the joints' recorded samples and events at a chosen time,
//! the arm posed from the recorded positions (kinematically: nothing is simulated),
//! played forward at a chosen speed or scrubbed to any instant. A [`Session`]
//! (`super::session`) built on a replay feeds the GUI exactly as a live run does.

use std::path::Path;
use std::time::Instant;

use crate::physics::ArmWorld;
use crate::recording::JointSample;
use crate::recording::Recording;
use crate::report::Event;
use crate::runtime::command::{Pace, SPEED_RANGE};
use crate::runtime::live::{LiveJoint, LiveSnapshot};
use crate::scene::Scene;

/// A recording being played back.
pub struct Replay {
    /// Per scene joint, its samples in time order (empty if it was not recorded).
    samples: Vec<Vec<JointSample>>,
    events: Vec<Event>,
    /// Per scene object, its recorded poses (t, xyz, quaternion xyzw) in time order.
    objects: Vec<Vec<(f64, crate::physics::BodyPose)>>,
    world: ArmWorld,
    /// First and last recorded time, s.
    pub start: f64,
    pub end: f64,
    t: f64,
    playing: bool,
    speed: f64,
    /// (wall, replay time) playing is measured from.
    anchor: Option<(Instant, f64)>,
    version: u64,
}

/// Why a recording's scene could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ReplaySceneError {
    /// The scene given with `--scene` does not load.
    #[error(transparent)]
    Given(#[from] crate::scene::SceneError),
    #[error("{}: the recording has no /scene channel: pass --scene SCENE", .file.display())]
    NotRecorded { file: std::path::PathBuf },
    #[error(
        "{}: the recorded scene does not load here ({source}); pass --scene with the scene file it was recorded from",
        .file.display()
    )]
    Recorded {
        file: std::path::PathBuf,
        source: crate::scene::SceneError,
    },
}

/// Loads the scene a recording was made of: `scene` if given, else the scene text
/// stored in the recording (relative paths in it resolve beside the recording).
pub fn scene_of(
    rec: &Recording,
    file: &Path,
    scene: Option<&Path>,
) -> Result<Scene, ReplaySceneError> {
    if let Some(p) = scene {
        return Ok(Scene::load(p)?);
    }
    let Some((_, text)) = &rec.scene else {
        return Err(ReplaySceneError::NotRecorded {
            file: file.to_path_buf(),
        });
    };
    Scene::from_ron_str(file, text).map_err(|source| ReplaySceneError::Recorded {
        file: file.to_path_buf(),
        source,
    })
}

impl Replay {
    /// A replay of `rec` over `scene` (joints matched by name), paused at its start.
    pub fn new(scene: &Scene, rec: Recording) -> Self {
        let samples: Vec<Vec<JointSample>> = scene
            .joints
            .iter()
            .map(|c| rec.joints.get(&c.name).cloned().unwrap_or_default())
            .collect();
        let start = samples
            .iter()
            .filter_map(|v| v.first().map(|s| s.t))
            .fold(f64::INFINITY, f64::min);
        let end = samples
            .iter()
            .filter_map(|v| v.last().map(|s| s.t))
            .fold(0.0, f64::max);
        let start = if start.is_finite() { start } else { 0.0 };
        let names: Vec<&str> = scene
            .world
            .iter()
            .flat_map(|w| w.objects.iter().map(|o| o.name.as_str()))
            .collect();
        let mut objects = vec![Vec::new(); names.len()];
        for (t, frames) in &rec.objects {
            for (name, p, q) in frames {
                if let Some(k) = names.iter().position(|n| n == name) {
                    objects[k].push((*t, (*p, *q)));
                }
            }
        }
        Self {
            samples,
            events: rec.events,
            objects,
            world: ArmWorld::new(scene),
            start,
            end: end.max(start),
            t: start,
            playing: false,
            speed: 1.0,
            anchor: None,
            version: 0,
        }
    }

    pub fn t(&self) -> f64 {
        self.t
    }

    pub fn playing(&self) -> bool {
        self.playing
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Joints that have recorded samples.
    pub fn recorded_joints(&self) -> usize {
        self.samples.iter().filter(|v| !v.is_empty()).count()
    }

    /// Jumps to `t` (clamped to the recording).
    pub fn seek(&mut self, t: f64) {
        self.t = t.clamp(self.start, self.end);
        self.anchor = None;
    }

    /// Play, pause, step (`n` × 1 ms) or speed, as for a run.
    pub fn pace(&mut self, p: Pace) {
        match p {
            Pace::Pause => self.playing = false,
            Pace::Resume => {
                if self.t >= self.end {
                    self.t = self.start;
                }
                self.playing = true;
            }
            Pace::Step(n) => {
                self.playing = false;
                self.seek(self.t + n as f64 * 1e-3);
            }
            Pace::Speed(s) => {
                self.speed = s
                    .unwrap_or(*SPEED_RANGE.end())
                    .clamp(*SPEED_RANGE.start(), *SPEED_RANGE.end())
            }
        }
        self.anchor = None;
    }

    /// Moves time on if playing; returns whether it changed.
    pub fn advance(&mut self, now: Instant) -> bool {
        if !self.playing {
            return false;
        }
        let (w0, t0) = *self.anchor.get_or_insert((now, self.t));
        let t = (t0 + (now - w0).as_secs_f64() * self.speed).min(self.end);
        if t >= self.end {
            self.playing = false;
        }
        let moved = t != self.t;
        self.t = t;
        moved
    }

    /// Joint `j`'s sample at or just before `t`.
    fn at(&self, j: usize, t: f64) -> Option<&JointSample> {
        let v = self.samples.get(j)?;
        let k = v.partition_point(|s| s.t <= t + 1e-12);
        v.get(k.saturating_sub(1))
    }

    /// Joint `j`'s samples in `[from, to]`, at most about `max_points` of them.
    pub fn window(&self, j: usize, from: f64, to: f64, max_points: usize) -> Vec<JointSample> {
        let Some(v) = self.samples.get(j) else {
            return Vec::new();
        };
        let a = v.partition_point(|s| s.t < from);
        let b = v.partition_point(|s| s.t <= to + 1e-12);
        let n = b.saturating_sub(a);
        let k = n.div_ceil(max_points.max(1)).max(1);
        v[a..b.max(a)].iter().step_by(k).copied().collect()
    }

    /// Events up to now.
    pub fn events_so_far(&self) -> &[Event] {
        let k = self.events.partition_point(|e| e.t <= self.t + 1e-12);
        &self.events[..k]
    }

    /// The snapshot at the current time.
    pub fn snapshot(&mut self, scene: &Scene) -> LiveSnapshot {
        self.version += 1;
        let mut joints = Vec::with_capacity(scene.joints.len());
        let mut q = Vec::with_capacity(scene.joints.len());
        for (j, c) in scene.joints.iter().enumerate() {
            let s = self.at(j, self.t).copied();
            let pos = s.map_or(c.initial, |s| s.measured);
            q.push(pos);
            let restarts = self
                .events_so_far()
                .iter()
                .filter(|e| e.joint == c.name && e.kind == "restart")
                .count() as u32;
            joints.push(LiveJoint {
                name: c.name.clone(),
                kind: c.kind,
                backend: if s.is_some() {
                    "recorded".into()
                } else {
                    "not recorded".into()
                },
                state: s.map_or(crate::report::JointHealth::Offline, |s| s.state),
                mode: "replay",
                setpoint: s.map_or(pos, |s| s.setpoint),
                measured: pos,
                velocity: s.map_or(0.0, |s| s.measured_vel),
                error: s.map_or(0.0, |s| s.error),
                torque: s.map_or(0.0, |s| s.torque),
                load: s.map_or(0.0, |s| s.torque / c.servo.stall_torque_nm),
                temperature_c: None,
                deadline_misses: 0,
                restarts,
                service: "replay".into(),
                link_latency_us: None,
                gains: None,
                lower: c.limits.0,
                upper: c.limits.1,
            });
        }
        self.world.set_positions(&q);
        LiveSnapshot {
            version: self.version,
            t: self.t,
            duration_s: self.end,
            steps: 0,
            executor: "replay",
            paused: !self.playing,
            speed: Some(self.speed),
            estop: None,
            joints,
            links: self.world.link_poses(),
            // Each object where it was last recorded (/world/tf, 50 Hz); all where
            // the scene puts them if the recording has no poses for one.
            objects: if self.objects.iter().any(Vec::is_empty) {
                Vec::new()
            } else {
                self.objects
                    .iter()
                    .map(|v| {
                        let k = v.partition_point(|x| x.0 <= self.t + 1e-9).max(1);
                        v[k - 1].1
                    })
                    .collect()
            },
            touching: Vec::new(),
            contacts: Vec::new(),
            dropped: 0,
            finished: false,
            report: None,
            error: None,
        }
    }
}
