//! The protections of the simulated servo behind each of armhil's own drives
//! (controller, hold, limp; not served joints, whose emulated firmware protects
//! itself, nor hardware joints, whose real servo does): the shared
//! [`crate::servo::protection::Guard`] on the torque really delivered and the
//! winding temperature. Tripped, the servo cuts its torque and reports the error
//! bit (the supervisor sees a servo status error and waits); armhil's driver turns
//! torque back on `restart_s` after an overload, or once the winding has cooled
//! below the limit after an overheat.

use crate::servo::protection::{Flags, Guard, Protection};
use crate::servo::spec::{COOLED_K, ProtectionSpec};

/// What changed after a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Change {
    Tripped(Flags),
    Restored,
}

/// One simulated servo's protections.
#[derive(Debug, Clone)]
pub(super) struct SimGuard {
    spec: Option<ProtectionSpec>,
    model: Protection,
    guard: Guard,
    tripped_at: f64,
}

impl SimGuard {
    pub(super) fn new(spec: Option<ProtectionSpec>) -> Self {
        let model = spec.map_or(Protection::default(), |s| Protection {
            overload_fraction: s.overload_fraction,
            overload_time_s: s.overload_time_s,
            protective_fraction: 0.0,
            temp_limit_c: s.temp_limit_c,
            cut: Flags(Flags::OVERLOAD | Flags::OVERHEAT),
        });
        Self {
            spec,
            model,
            guard: Guard::default(),
            tripped_at: 0.0,
        }
    }

    /// The servo has cut its torque.
    pub(super) fn cut(&self) -> bool {
        self.spec.is_some() && self.guard.cuts(&self.model)
    }

    /// After step ending at `t`: the motor delivered `load` (signed fraction of
    /// stall) with its winding at `temp_c`.
    pub(super) fn after_step(&mut self, t: f64, dt: f64, load: f64, temp_c: f64) -> Option<Change> {
        let spec = self.spec?;
        let was_cut = self.cut();
        if was_cut {
            let latched = self.guard.latched();
            let overload_over =
                !latched.has(Flags::OVERLOAD) || t - self.tripped_at + 1e-9 >= spec.restart_s;
            let cooled = !latched.has(Flags::OVERHEAT) || temp_c <= spec.temp_limit_c - COOLED_K;
            if overload_over && cooled {
                // The driver turns torque on again: a new enable clears the latch.
                self.guard = Guard::default();
                return Some(Change::Restored);
            }
            return None;
        }
        self.guard.step(&self.model, dt, true, load, temp_c);
        if self.cut() {
            self.tripped_at = t;
            return Some(Change::Tripped(self.guard.latched()));
        }
        None
    }

    /// Why the servo is down, as its status says.
    pub(super) fn status(&self) -> Option<String> {
        if !self.cut() {
            return None;
        }
        let f = self.guard.latched();
        let what = match (f.has(Flags::OVERLOAD), f.has(Flags::OVERHEAT)) {
            (true, true) => "overload, overheat",
            (true, false) => "overload",
            _ => "overheat",
        };
        Some(format!(
            "servo protection: error bits {:#04x} ({what}), torque off",
            f.0
        ))
    }

    /// The event a change makes: (kind, detail).
    pub(super) fn event(&self, change: Change) -> (&'static str, String) {
        let m = &self.model;
        match change {
            Change::Tripped(f) if f.has(Flags::OVERLOAD) => (
                "servo_protection",
                format!(
                    "overload: torque held at >= {:.0} % of stall for {} s; the servo cut its torque",
                    m.overload_fraction * 100.0,
                    m.overload_time_s
                ),
            ),
            Change::Tripped(_) => (
                "servo_protection",
                format!(
                    "overheat: winding at {} °C; the servo cut its torque",
                    m.temp_limit_c
                ),
            ),
            Change::Restored => ("servo_restored", "the driver turned torque on again".into()),
        }
    }
}
