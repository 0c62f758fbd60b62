//! Taps: how a run hands telemetry to what watches it (the MCAP recorder, the live
//! Foxglove server, the GUI's live feed) without ever waiting. A [`Tap`] is the sending end of a bounded channel
//! of [`Record`]s: `send` never blocks, and a record that finds the channel full is
//! dropped and counted per channel, so a slow disk or a frozen window costs the
//! control loop nothing. A [`Sink`] is a telemetry sink the runtime starts and
//! finishes with the run (the recorder and the live server, in `crate::telemetry`):
//! the runtime knows them only through this trait, so telemetry sits above the
//! runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::channel::{Receiver, Sender, TrySendError, bounded};

use crate::recording::Record;
use crate::report::{LiveReport, RecordingReport};

/// The run's end of a telemetry channel.
#[derive(Clone)]
pub struct Tap {
    tx: Sender<Record>,
    /// Dropped records per channel: one per joint, then events, then one per bus.
    drops: Arc<Vec<AtomicU64>>,
    joints: usize,
}

impl Tap {
    /// A tap on a channel of `capacity` records, with drop counters for `joints`
    /// joint channels, the event channel and `buses` bus channels.
    pub fn channel(capacity: usize, joints: usize, buses: usize) -> (Self, Receiver<Record>) {
        let (tx, rx) = bounded(capacity);
        let drops = Arc::new((0..joints + 1 + buses).map(|_| AtomicU64::new(0)).collect());
        (Self { tx, drops, joints }, rx)
    }

    /// Hands a record over without ever blocking; counts it dropped if the reader is
    /// behind (or gone).
    pub fn send(&self, r: Record) {
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
}
