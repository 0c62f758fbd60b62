//! Taps: how a run hands telemetry to what watches it (the MCAP recorder, the live
//! Foxglove server, the GUI's live feed) without ever waiting. A [`Tap`] is the sending end of a bounded channel
//! of [`Record`]s: `send` never blocks, and a record that finds the channel full is
//! dropped and counted per channel, so a slow disk or a frozen window costs the
//! control loop nothing. A [`Sink`] is a telemetry sink the runtime starts and
//! finishes with the run (the recorder and the live server, in `crate::telemetry`):
//! the runtime knows them only through this trait, so telemetry sits above the
//! runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam::channel::{Receiver, Sender, TryRecvError, TrySendError, bounded};

use crate::recording::Record;
use crate::report::{LiveReport, RecordingReport, Ros2Report};

/// The run's end of a telemetry channel.
#[derive(Clone)]
pub struct Tap {
    tx: Sender<Record>,
    /// Dropped records per channel: one per joint, then events, then one per bus.
    drops: Arc<Vec<AtomicU64>>,
    joints: usize,
    /// What it takes.
    takes: Takes,
}

/// What a tap takes.
#[derive(Clone)]
enum Takes {
    Everything,
    /// World records and port announcements: a sink that wants the world's state,
    /// not every sample.
    WorldOnly,
    /// Joints' samples only while the flag is set (a live server whose clients
    /// subscribe to none leaves it clear: the run does not even copy them).
    SamplesWhile(Arc<AtomicBool>),
}

impl Tap {
    /// A tap on a channel of `capacity` records, with drop counters for `joints`
    /// joint channels, the event channel and `buses` bus channels.
    pub fn channel(capacity: usize, joints: usize, buses: usize) -> (Self, Receiver<Record>) {
        let (tx, rx) = bounded(capacity);
        let drops = Arc::new((0..joints + 1 + buses).map(|_| AtomicU64::new(0)).collect());
        (
            Self {
                tx,
                drops,
                joints,
                takes: Takes::Everything,
            },
            rx,
        )
    }

    /// This tap, taking world records and port announcements only.
    pub fn world_only(mut self) -> Self {
        self.takes = Takes::WorldOnly;
        self
    }

    /// This tap, taking joints' samples only while `wanted` is set.
    pub fn samples_while(mut self, wanted: Arc<AtomicBool>) -> Self {
        self.takes = Takes::SamplesWhile(wanted);
        self
    }

    /// Whether this tap takes joints' samples now.
    pub fn takes_samples(&self) -> bool {
        match &self.takes {
            Takes::Everything => true,
            Takes::WorldOnly => false,
            Takes::SamplesWhile(f) => f.load(Ordering::Relaxed),
        }
    }

    /// Whether this tap takes `r` (the run need not even copy a record it does not).
    pub fn wants(&self, r: &Record) -> bool {
        match (&self.takes, r) {
            (Takes::WorldOnly, Record::World(..) | Record::Port(..)) => true,
            (Takes::WorldOnly, _) => false,
            (_, Record::Joint(..)) => self.takes_samples(),
            _ => true,
        }
    }

    /// Hands a record over without ever blocking; counts it dropped if the reader is
    /// behind (or gone).
    pub fn send(&self, r: Record) {
        if !self.wants(&r) {
            return;
        }
        if let Err(TrySendError::Full(r) | TrySendError::Disconnected(r)) = self.tx.try_send(r) {
            let slot = match r {
                Record::Joint(j, _) => j as usize,
                Record::Event(_) => self.joints,
                Record::Bus(b, _) | Record::Served(b, _) | Record::World(b, _) => {
                    self.joints + 1 + b as usize
                }
                Record::Port(..) => return,
            };
            if let Some(d) = self.drops.get(slot) {
                d.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records dropped so far, all channels.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().map(|d| d.load(Ordering::Relaxed)).sum()
    }

    /// Records dropped so far, per channel (joints, events, buses).
    pub fn dropped_by_slot(&self) -> Vec<u64> {
        self.drops
            .iter()
            .map(|d| d.load(Ordering::Relaxed))
            .collect()
    }
}

/// A sink's reader: hands `f` every record until the run has let go of every tap,
/// looking every `poll` without ever blocking on the queue, so the run's `send`
/// never has to wake the reader (a syscall per record on the control path).
pub fn drain(rx: &Receiver<Record>, poll: std::time::Duration, mut f: impl FnMut(Record)) {
    loop {
        match rx.try_recv() {
            Ok(r) => f(r),
            Err(TryRecvError::Empty) => std::thread::sleep(poll),
            Err(TryRecvError::Disconnected) => return,
        }
    }
}

/// What a sink is told about the run it records.
pub struct RunInfo<'a> {
    pub scene_name: &'a str,
    /// The scene file's text (empty when it cannot be read).
    pub scene_text: &'a str,
    pub joints: &'a [String],
    /// Serial ports known at the start (the scene's), in the order bus records number them.
    pub ports: &'a [String],
    /// Each joint's controller gains at the start (`None`: not a PID).
    pub gains: &'a [Option<crate::control::Gains>],
    /// Lockstep pace at the start, simulated s per wall s (`None`: unpaced, or real
    /// time).
    pub pace: Option<f64>,
    /// A real-time run: it keeps the wall clock's pace (pacing commands are refused).
    pub realtime: bool,
}

/// Why a sink failed (its own error, boxed: the runtime only passes it on).
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// A telemetry sink the runtime starts with a run and finishes at its end.
pub trait Sink: Send {
    /// Where the run sends its records.
    fn tap(&self) -> Tap;
    /// Called once the run has dropped every tap: write what is queued and summarise.
    fn finish(self: Box<Self>) -> Result<SinkReport, SinkError>;
}

/// What a finished sink tells the report.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkReport {
    Recording(RecordingReport),
    Live(LiveReport),
    Ros2(Ros2Report),
}

/// What starts a sink.
type StartSink = dyn Fn(&RunInfo) -> Result<Box<dyn Sink>, SinkError> + Send + Sync;

/// Starts a sink for a run (e.g. `crate::telemetry::recorder::to_file`).
#[derive(Clone)]
pub struct SinkFactory(Arc<StartSink>);

impl SinkFactory {
    pub fn new(
        f: impl Fn(&RunInfo) -> Result<Box<dyn Sink>, SinkError> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(f))
    }

    pub fn start(&self, info: &RunInfo) -> Result<Box<dyn Sink>, SinkError> {
        (self.0)(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Event;

    #[test]
    fn a_full_tap_drops_and_counts_per_channel_without_blocking() {
        let (tap, rx) = Tap::channel(1, 2, 1);
        let ev = || {
            Record::Event(Event {
                t: 0.0,
                joint: String::new(),
                kind: "k".into(),
                detail: String::new(),
                state: None,
                latency_s: None,
            })
        };
        tap.send(ev());
        tap.send(ev());
        tap.send(ev());
        assert_eq!(tap.dropped_by_slot(), vec![0, 0, 2, 0]);
        assert!(rx.try_recv().is_ok());
        assert_eq!(tap.dropped(), 2);
    }

    #[test]
    fn taps_take_what_their_sink_wants_and_count_nothing_else() {
        let joint = || {
            Record::Joint(
                0,
                crate::recording::JointSample {
                    t: 0.0,
                    setpoint: 0.0,
                    setpoint_vel: 0.0,
                    measured: 0.0,
                    measured_vel: 0.0,
                    command: 0.0,
                    torque: 0.0,
                    error: 0.0,
                    state: crate::report::JointHealth::Ok,
                },
            )
        };
        let world = || Record::World(0, crate::recording::WorldSample::Joints(0.0, Vec::new()));
        let (all, rx_all) = Tap::channel(8, 1, 0);
        let (world_only, rx_world) = Tap::channel(8, 1, 0);
        let world_only = world_only.world_only();
        let flag = Arc::new(AtomicBool::new(false));
        let (gated, rx_gated) = Tap::channel(8, 1, 0);
        let gated = gated.samples_while(flag.clone());
        for tap in [&all, &world_only, &gated] {
            tap.send(joint());
            tap.send(world());
        }
        flag.store(true, Ordering::Relaxed);
        assert!(gated.takes_samples() && !world_only.takes_samples());
        gated.send(joint());
        assert_eq!((rx_all.len(), rx_world.len(), rx_gated.len()), (2, 1, 2));
        assert!(matches!(rx_gated.try_recv(), Ok(Record::World(..))));
        assert!(matches!(rx_gated.try_recv(), Ok(Record::Joint(..))));
        assert_eq!(gated.dropped() + world_only.dropped(), 0);
    }
}
