//! The served bus seen from the run (`armhil serve`): each physics step takes the
//! host's transactions from the bus thread, records them (`/bus/served`) and counts
//! them for the report: requests per instruction, replies and replies lost to link
//! faults, the reply latency, and per served joint the writes that show how the host
//! reacted (torque off; writes to a servo without power).

use crossbeam::channel::Receiver;

use super::observers::Observers;
use super::plant::Plant;
use crate::hardware::served::{ServedJoint, ServedTap};
use crate::hardware::virtual_servo::log::Transaction;
use crate::recording::ServedSample;
use crate::report::{Lateness, ServedJointReport, ServedReport, served::MAX_TIMES};

/// Reply latency histogram: 1 µs bins up to 50 ms (the rest in the last bin).
const BINS: usize = 50_000;

pub(super) struct ServedLog {
    rx: Receiver<Transaction>,
    tap: ServedTap,
    /// (plant index, servo ID) of each served joint, report order.
    joints: Vec<(usize, u8)>,
    report: ServedReport,
    latency: Vec<u32>,
}

impl ServedLog {
    pub(super) fn new(tap: &ServedTap, served: &[ServedJoint], plant: &Plant) -> Self {
        let joints: Vec<(usize, u8)> = served.iter().map(|s| (s.joint, s.id)).collect();
        let report = ServedReport {
            joints: joints
                .iter()
                .map(|&(i, id)| ServedJointReport {
                    joint: plant.joints()[i].name().to_string(),
                    id,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        Self {
            rx: tap.log.clone(),
            tap: tap.clone(),
            joints,
            report,
            latency: vec![0; BINS],
        }
    }

    /// Takes every transaction waiting: counted, judged for each joint, recorded.
    pub(super) fn drain(&mut self, plant: &Plant, observers: &mut Observers) {
        let t = plant.t();
        while let Ok(tx) = self.rx.try_recv() {
            let r = &mut self.report;
            r.requests += 1;
            *r.by_instruction.entry(tx.instruction.clone()).or_default() += 1;
            r.replies += tx.replies as u64;
            r.lost_replies += tx.lost as u64;
            if let Some(us) = tx.latency_us {
                self.latency[(us.max(0.0) as usize).min(BINS - 1)] += 1;
            }
            for (k, &(i, id)) in self.joints.iter().enumerate() {
                if !tx.writes_to(id) {
                    continue;
                }
                let j = &mut r.joints[k];
                j.writes += 1;
                if tx.wrote(id, self.tap.torque_enable, 0) && j.torque_off_at.len() < MAX_TIMES {
                    j.torque_off_at.push(t);
                }
                if plant.served_powered(i) == Some(false)
                    && j.writes_while_silent_at.len() < MAX_TIMES
                {
                    j.writes_while_silent_at.push(t);
                }
            }
            observers.served(ServedSample { t, tx });
        }
    }

    /// The figures so far.
    pub(super) fn report(&self) -> ServedReport {
        let mut r = self.report.clone();
        r.dropped_records = self.tap.dropped.load(std::sync::atomic::Ordering::Relaxed);
        let n: u64 = self.latency.iter().map(|&c| c as u64).sum();
        if n > 0 {
            let at = |q: f64| {
                let want = ((q * n as f64).ceil() as u64).clamp(1, n);
                let mut acc = 0u64;
                for (us, &c) in self.latency.iter().enumerate() {
                    acc += c as u64;
                    if acc >= want {
                        return us as f64;
                    }
                }
                (BINS - 1) as f64
            };
            r.reply_latency_us = Some(Lateness {
                p50: at(0.5),
                p99: at(0.99),
                p999: at(0.999),
                max: at(1.0),
            });
        }
        r
    }
}
