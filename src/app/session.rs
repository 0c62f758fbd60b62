//! A live session: one run of a scene on its own thread, observed and steered from
//! outside, the way the GUI does it. The run keeps its own pace (lockstep paced by
//! the wall clock, or the real-time executor); the session only sends
//! [`ControlCommand`]s on the run's control channel (the CLI's stdin uses the same
//! channel) and reads what the run publishes: the latest [`LiveSnapshot`], every
//! control period's samples (kept as a plot [`History`]) and the event log.
//!
//! Nothing here renders; the GUI's panels are a view of a `Session`, and tests drive
//! one headless.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam::channel::{Sender, TrySendError, bounded};

use crate::runtime::command::{CAPACITY, ControlCommand};
use crate::runtime::live::{self, LiveFeed, LiveSnapshot};

use crate::recording::{JointSample, Record};
use crate::report::Event;
use crate::runtime::{self, Executor, RunOptions};
use crate::scene::Scene;

/// How a session runs its scene.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Lockstep (paced, pausable, deterministic) or real time. A scene with serial
    /// joints always runs in real time.
    pub executor: Executor,
    /// Lockstep pace at start, simulated s per wall s (infinite: unpaced).
    pub speed: f64,
    /// Overrides the scene's duration, s.
    pub duration_s: Option<f64>,
    pub rt_priority: Option<i32>,
    /// Record the run into this MCAP file.
    pub record: Option<PathBuf>,
    /// Seconds of samples kept for plots.
    pub history_s: f64,
    /// Commands to apply at given simulated times (e.g. `--swap`).
    pub schedule: Vec<(f64, ControlCommand)>,
    /// Joints a host drives over the served bus (`armhil serve`).
    pub served: Vec<crate::hardware::served::ServedJoint>,
    /// The served bus's transactions.
    pub served_tap: Option<crate::hardware::served::ServedTap>,
    /// Where the Zenoh session for external controllers listens and connects.
    pub zenoh: crate::runtime::external::ZenohOptions,
    /// Serve the run live to Foxglove on this address (feature `live`).
    pub live: Option<std::net::SocketAddr>,
    /// With `live`: the run starts once a client has subscribed.
    pub live_wait: bool,
    /// Publish the run as ROS 2 topics over Zenoh (feature `ros2`).
    pub ros2: Option<crate::telemetry::ros2::Ros2Options>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            executor: Executor::Lockstep,
            speed: 1.0,
            duration_s: None,
            rt_priority: None,
            record: None,
            history_s: 120.0,
            schedule: Vec::new(),
            served: Vec::new(),
            served_tap: None,
            zenoh: Default::default(),
            live: None,
            live_wait: false,
            ros2: None,
        }
    }
}

/// Per-joint samples of the last `keep_s` simulated seconds.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub joints: Vec<VecDeque<JointSample>>,
    pub keep_s: f64,
}

impl History {
    fn push(&mut self, j: usize, s: JointSample) {
        if self.joints.len() <= j {
            self.joints.resize_with(j + 1, VecDeque::new);
        }
        let q = &mut self.joints[j];
        // A new run (reset) starts again at t = 0: forget the old one.
        if q.back().is_some_and(|b| b.t > s.t + 1e-9) {
            q.clear();
        }
        q.push_back(s);
        while q.front().is_some_and(|f| f.t < s.t - self.keep_s) {
            q.pop_front();
        }
    }

    /// Joint `j`'s samples from `from_t` on, at most about `max_points` of them (every
    /// k-th sample; the newest is always included).
    pub fn window(&self, j: usize, from_t: f64, max_points: usize) -> Vec<JointSample> {
        let Some(q) = self.joints.get(j) else {
            return Vec::new();
        };
        let start = q.partition_point(|s| s.t < from_t);
        let n = q.len() - start;
        let k = n.div_ceil(max_points.max(1)).max(1);
        let mut out: Vec<JointSample> = q.range(start..).step_by(k).copied().collect();
        if let (Some(last), Some(out_last)) = (q.back(), out.last())
            && out_last.t < last.t
        {
            out.push(*last);
        }
        out
    }
}

/// Where a session's data comes from.
enum Source {
    /// A run on its own thread.
    Run {
        control: Sender<ControlCommand>,
        stop: Arc<AtomicBool>,
        feed: LiveFeed,
        thread: Option<JoinHandle<()>>,
    },
    /// A recording played back.
    Replay(Box<super::replay::Replay>),
}

/// Why a command was not taken (nothing was sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("a replay shows what was recorded: nothing to steer")]
    Replay,
    /// The control channel is full: the run is behind on its commands.
    #[error("the run has not taken the previous commands yet; try again")]
    Busy,
    #[error("the run has ended")]
    Ended,
}

/// A run on its own thread (or a recording played back) and what has been seen of it.
pub struct Session {
    pub scene: Scene,
    pub options: SessionOptions,
    source: Source,
    /// The latest snapshot.
    pub snapshot: LiveSnapshot,
    pub history: History,
    /// Every event so far, in order.
    pub events: Vec<Event>,
}

impl Session {
    /// Starts running `scene`.
    pub fn start(scene: Scene, options: SessionOptions) -> Self {
        let (control, rx) = bounded(CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let (tap, feed) = live::channel(scene.joints.len());
        let executor = Executor::for_scene(&scene, options.executor);
        let paced = executor == Executor::Lockstep;
        let run = RunOptions {
            executor,
            duration_s: options.duration_s,
            control: Some(rx),
            stop: Some(stop.clone()),
            rt_priority: options.rt_priority,
            record: options
                .record
                .as_deref()
                .map(crate::telemetry::recorder::to_file),
            // Infinite speed (`--speed max`): as fast as the machine allows.
            pace: paced.then_some(options.speed).filter(|s| s.is_finite()),
            live: Some(tap.clone()),
            schedule: options.schedule.clone(),
            served: options.served.clone(),
            served_tap: options.served_tap.clone(),
            zenoh: options.zenoh.clone(),
            #[cfg(feature = "live")]
            live_server: options.live.map(|a| {
                crate::telemetry::live::server(a, options.live_wait, &scene, control.clone())
            }),
            ..RunOptions::default()
        };
        #[cfg(feature = "ros2")]
        let ros2 = options.ros2.clone().map(|o| {
            let joints = scene.joints.iter().map(|j| j.name.clone()).collect();
            crate::telemetry::ros2::open(&run.zenoh, o, joints)
        });
        let s = scene.clone();
        let thread = std::thread::Builder::new()
            .name("armhil-run".into())
            .spawn(move || {
                #[cfg(feature = "ros2")]
                let mut run = run;
                #[cfg(feature = "ros2")]
                let run = match ros2 {
                    Some(Ok(r)) => {
                        r.apply(&mut run);
                        Ok(run)
                    }
                    Some(Err(e)) => Err(format!("--ros2: {e}")),
                    None => Ok(run),
                };
                #[cfg(not(feature = "ros2"))]
                let run: Result<RunOptions, String> = Ok(run);
                let outcome = run.and_then(|run| {
                    runtime::run(&s, &run, &mut |_, _| {}).map_err(|e| e.to_string())
                });
                if let Err(e) = outcome
                    && let Ok(mut snap) = tap.shared.lock()
                {
                    snap.version += 1;
                    snap.finished = true;
                    snap.error = Some(format!("the run could not start: {e}"));
                }
            });
        let (thread, error) = match thread {
            Ok(t) => (Some(t), None),
            Err(e) => (None, Some(format!("cannot start the run thread: {e}"))),
        };
        let keep_s = options.history_s;
        Self {
            scene,
            options,
            source: Source::Run {
                control,
                stop,
                feed,
                thread,
            },
            snapshot: LiveSnapshot {
                error,
                ..LiveSnapshot::default()
            },
            history: History {
                joints: Vec::new(),
                keep_s,
            },
            events: Vec::new(),
        }
    }

    /// A session that plays `rec` back over `scene` (see [`super::replay`]).
    pub fn replay(scene: Scene, rec: crate::recording::Recording) -> Self {
        let mut r = super::replay::Replay::new(&scene, rec);
        let snapshot = r.snapshot(&scene);
        Self {
            options: SessionOptions::default(),
            source: Source::Replay(Box::new(r)),
            snapshot,
            history: History::default(),
            events: Vec::new(),
            scene,
        }
    }

    /// The replay, if this session plays a recording back.
    pub fn replay_mut(&mut self) -> Option<&mut super::replay::Replay> {
        match &mut self.source {
            Source::Replay(r) => Some(r),
            Source::Run { .. } => None,
        }
    }

    pub fn is_replay(&self) -> bool {
        matches!(self.source, Source::Replay(_))
    }

    /// Sends a command on the run's control channel, never blocking. A replay takes
    /// only pacing (play, pause, step, speed).
    pub fn send(&mut self, c: ControlCommand) -> Result<(), SendError> {
        let control = match &mut self.source {
            Source::Run { control, .. } => control,
            Source::Replay(r) => {
                return match c {
                    ControlCommand::Pace(p) => {
                        r.pace(p);
                        Ok(())
                    }
                    _ => Err(SendError::Replay),
                };
            }
        };
        match control.try_send(c) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(SendError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(SendError::Ended),
        }
    }

    /// Joint `j`'s samples in `[from, to]` (s), at most about `max_points` (plots).
    pub fn window(&self, j: usize, from: f64, to: f64, max_points: usize) -> Vec<JointSample> {
        match &self.source {
            Source::Replay(r) => r.window(j, from, to, max_points),
            Source::Run { .. } => self.history.window(j, from, max_points),
        }
    }

    /// Takes what the run has published since the last call: samples into the
    /// history, events into the log, the newest snapshot. Returns whether anything
    /// changed.
    pub fn refresh(&mut self) -> bool {
        let feed = match &mut self.source {
            Source::Run { feed, .. } => feed,
            Source::Replay(r) => {
                let moved = r.advance(std::time::Instant::now());
                let stale = r.t() != self.snapshot.t
                    || self.snapshot.paused == r.playing()
                    || self.snapshot.speed != Some(r.speed());
                if moved || stale {
                    self.snapshot = r.snapshot(&self.scene);
                    self.events = r.events_so_far().to_vec();
                    return true;
                }
                return false;
            }
        };
        let mut changed = false;
        for r in feed.records.try_iter() {
            changed = true;
            match r {
                Record::Joint(j, s) => self.history.push(j as usize, s),
                Record::Event(e) => self.events.push(e),
                Record::Bus(..) | Record::Port(..) | Record::Served(..) | Record::World(..) => {}
            }
        }
        if let Ok(snap) = feed.shared.try_lock()
            && snap.version != self.snapshot.version
        {
            self.snapshot = snap.clone();
            changed = true;
        }
        changed
    }

    /// Whether the run thread has ended.
    pub fn finished(&self) -> bool {
        match &self.source {
            Source::Run { thread, .. } => {
                self.snapshot.finished || thread.as_ref().is_none_or(|t| t.is_finished())
            }
            Source::Replay(_) => false,
        }
    }

    /// Ends the run (as Ctrl-C does: the report and recording are finished) and
    /// waits for its thread.
    pub fn stop(&mut self) {
        if let Source::Run { stop, thread, .. } = &mut self.source {
            stop.store(true, Ordering::Relaxed);
            if let Some(t) = thread.take() {
                let _ = t.join();
            }
        }
        self.refresh();
    }

    /// Stops this run and starts the scene afresh with `options` (a replay goes back
    /// to its start).
    pub fn restart(&mut self, options: SessionOptions) {
        if let Some(r) = self.replay_mut() {
            let start = r.start;
            r.seek(start);
            self.snapshot.t = f64::NAN; // forces a fresh snapshot
            self.refresh();
            return;
        }
        self.stop();
        *self = Session::start(self.scene.clone(), options);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Source::Run { stop, thread, .. } = &mut self.source {
            stop.store(true, Ordering::Relaxed);
            if let Some(t) = thread.take() {
                let _ = t.join();
            }
        }
    }
}
