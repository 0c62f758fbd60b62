//! The live view of a running simulation, for observers such as the GUI. The run
//! thread publishes a [`LiveSnapshot`] (joint table, link poses, pace) about 60 times
//! a wall-clock second and streams every control period's samples and every event on
//! a bounded channel (the recorder's [`Record`]s). It never waits for an observer: a
//! snapshot whose lock is held is skipped, a full channel drops and counts. A frozen
//! window therefore costs the control loop nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam::channel::Receiver;

use super::plant::{DriveMode, Plant};
use super::tap::Tap;
use crate::control::Gains;
use crate::recording::Record;
use crate::report::{JointHealth, Report};
use crate::scene::JointKind;

/// One joint as the operator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveJoint {
    pub name: String,
    /// Units: rad for revolute joints, m for prismatic ones.
    pub kind: JointKind,
    /// `sim`, or e.g. `serial:/dev/ttyUSB0:sts:3`.
    pub backend: String,
    pub state: JointHealth,
    /// What drives the joint now: controller, follow (a servo), hold, limp.
    pub mode: &'static str,
    /// Setpoint and measured position, rad (m); velocity, rad/s.
    pub setpoint: f64,
    pub measured: f64,
    pub velocity: f64,
    /// Setpoint − measured.
    pub error: f64,
    /// Torque delivered, N·m (N).
    pub torque: f64,
    /// Load, fraction of stall torque (the servo's own reading on hardware).
    pub load: f64,
    /// Winding temperature, °C (model; `None` for servos on a bus, not read yet).
    pub temperature_c: Option<f64>,
    pub deadline_misses: u64,
    pub restarts: u32,
    /// Where the joint's service runs: `thread`, `process 1234` (its pid), or
    /// `process (starting)`.
    pub service: String,
    /// Last bus transaction, µs (hardware joints).
    pub link_latency_us: Option<f64>,
    pub gains: Option<Gains>,
    pub lower: f64,
    pub upper: f64,
}

/// What an observer reads, replaced whole at each publish.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveSnapshot {
    /// Increments with each publish.
    pub version: u64,
    /// Simulated time, s, and the run's planned duration.
    pub t: f64,
    pub duration_s: f64,
    pub steps: u64,
    /// `lockstep` (paced) or `realtime`.
    pub executor: &'static str,
    pub paused: bool,
    /// Simulated s per wall s; `None`: unpaced, or real time.
    pub speed: Option<f64>,
    pub estop: Option<String>,
    pub joints: Vec<LiveJoint>,
    /// World pose of every link body: translation, rotation quaternion (x, y, z, w).
    pub links: Vec<crate::physics::BodyPose>,
    /// World pose of every object (scenes with a world), in scene order.
    pub objects: Vec<crate::physics::BodyPose>,
    /// Links touching anything now (indices into `links`).
    pub touching: Vec<usize>,
    /// Contacts now: (point, normal from the first to the second, force N), world.
    pub contacts: Vec<([f32; 3], [f32; 3], f32)>,
    /// Records the observer's channel dropped (it fell behind).
    pub dropped: u64,
    /// Set once the run has ended.
    pub finished: bool,
    pub report: Option<Report>,
    /// Why the run could not start, if it could not.
    pub error: Option<String>,
}

/// Records buffered for an observer: arm6 makes ~4,300 a simulated second, so this
/// holds 15 s at 1x and 1.5 s at 10x; the GUI drains it every frame. A stalled
/// window drops (and counts) rather than holding anything up.
pub const FEED_CAPACITY: usize = 65_536;

/// How often the run thread publishes a snapshot (wall clock).
pub const PUBLISH_EVERY: Duration = Duration::from_millis(16);

/// The run thread's end.
#[derive(Clone)]
pub struct LiveTap {
    pub shared: Arc<Mutex<LiveSnapshot>>,
    pub sink: Tap,
}

/// The observer's end.
pub struct LiveFeed {
    pub shared: Arc<Mutex<LiveSnapshot>>,
    pub records: Receiver<Record>,
}

/// A tap and its feed for a run of `joints` joints.
pub fn channel(joints: usize) -> (LiveTap, LiveFeed) {
    let shared = Arc::new(Mutex::new(LiveSnapshot::default()));
    let (sink, records) = Tap::channel(FEED_CAPACITY, joints, 0);
    (
        LiveTap {
            shared: shared.clone(),
            sink,
        },
        LiveFeed { shared, records },
    )
}

/// Publishes snapshots at most every [`PUBLISH_EVERY`].
pub(crate) struct Publisher {
    tap: LiveTap,
    last: Option<Duration>,
    version: u64,
    duration_s: f64,
    executor: &'static str,
}

impl Publisher {
    pub(crate) fn new(tap: LiveTap, duration_s: f64, executor: &'static str) -> Self {
        Self {
            tap,
            last: None,
            version: 0,
            duration_s,
            executor,
        }
    }

    /// Publishes if the last publish is old enough (or `force`); `now` is wall time.
    pub(crate) fn publish(
        &mut self,
        now: Duration,
        plant: &Plant,
        sup: &super::supervisor::Supervisor,
        pace: Option<&super::pace::Pacer>,
        (factory, ports): (&super::ServiceFactory, &[super::ServicePort]),
        force: bool,
    ) {
        if !force
            && self
                .last
                .is_some_and(|l| now.saturating_sub(l) < PUBLISH_EVERY)
        {
            return;
        }
        // Never wait for the observer: if it holds the lock, publish next time.
        let Ok(mut snap) = self.tap.shared.try_lock() else {
            return;
        };
        self.last = Some(now);
        self.version += 1;
        snap.version = self.version;
        snap.t = plant.t();
        snap.duration_s = self.duration_s;
        snap.steps = plant.steps();
        snap.executor = self.executor;
        snap.paused = pace.is_some_and(|p| p.paused());
        snap.speed = pace.and_then(|p| p.speed());
        snap.estop = sup.estop().map(|(_, why)| why.clone());
        snap.dropped = self.tap.sink.dropped();
        snap.joints.clear();
        for (i, j) in plant.joints().iter().enumerate() {
            let ((sp, _), (pos, vel)) = plant.observed(i);
            let stall = j.servo().spec.stall_torque_nm;
            snap.joints.push(LiveJoint {
                name: j.name().to_string(),
                kind: j.kind(),
                backend: j.backend_label(),
                state: sup.health(i),
                mode: match j.mode() {
                    DriveMode::Controller => "controller",
                    DriveMode::Follow => "servo",
                    DriveMode::Hold { .. } => "hold",
                    DriveMode::Limp => "limp",
                    DriveMode::Served => "served",
                },
                setpoint: sp,
                measured: pos,
                velocity: vel,
                error: sp - pos,
                torque: j.delivered(),
                load: match j.followed() {
                    Some(h) if h.trace.is_none() => h.load,
                    _ => j.delivered() / stall,
                },
                temperature_c: match j.followed() {
                    Some(h) if h.trace.is_none() => None,
                    _ => Some(j.thermal().temp_c),
                },
                deadline_misses: j.stats().deadline_misses,
                restarts: sup.restarts(i),
                link_latency_us: j
                    .followed()
                    .and_then(|h| h.latencies_us.last())
                    .map(|&us| us as f64),
                gains: factory.gains(i),
                service: ports
                    .get(i)
                    .map(|p| factory.location(i, p))
                    .unwrap_or_default(),
                lower: j.limits().0,
                upper: j.limits().1,
            });
        }
        snap.links = plant.world().link_poses();
        if plant.has_world() {
            snap.objects = plant.object_poses();
            snap.touching.clear();
            snap.contacts.clear();
            for t in plant.touches() {
                for w in [t.a, t.b] {
                    if let crate::physics::Toucher::Link(k) = w
                        && !snap.touching.contains(&k)
                    {
                        snap.touching.push(k);
                    }
                }
                snap.contacts.push((t.point, t.normal, t.force_n as f32));
            }
        }
    }

    /// Marks the run finished with its report.
    pub(crate) fn finish(&self, report: &Report) {
        if let Ok(mut snap) = self.tap.shared.lock() {
            snap.version += 1;
            snap.finished = true;
            snap.report = Some(report.clone());
        }
    }
}
