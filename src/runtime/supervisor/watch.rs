//! One joint under supervision: its health, its restart budget and backoff, its
//! monitors and the DEGRADING conditions recently seen on it. The rules here are
//! pure (time in, decision out); `failures.rs`, `observe.rs` and `links.rs` apply
//! them to the plant.

use crate::report::JointHealth;
use crate::scene::LinkLossPolicy;
use crate::supervision::{CLEAR_AFTER_S, Monitors, RestartBudget, SupervisionSpec};

/// Conditions that make a joint DEGRADED while they last (cleared `CLEAR_AFTER_S`
/// after last seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Condition {
    /// Replies after their deadline.
    Late = 0,
    /// Implausible encoder readings.
    Encoder = 1,
    /// Torque deficit.
    Torque = 2,
    /// Servo status error / no power.
    ServoStatus = 3,
    /// Malformed or out-of-sequence replies from an external service.
    Garbled = 4,
}
const CONDITIONS: usize = 5;
const CONDITION_NAMES: [&str; CONDITIONS] = [
    "late replies",
    "implausible encoder",
    "torque deficit",
    "servo status error",
    "garbled replies",
];

/// What a failure of the joint's service leads to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Failure {
    /// A restart at simulated time `at`: restart number `used` within the window,
    /// after `delay` s.
    Restart { at: f64, used: usize, delay: f64 },
    /// No restart left in the window: latched FAULTED.
    BudgetExhausted,
}

/// One joint's supervision state.
pub(crate) struct Watch {
    pub(super) health: JointHealth,
    pub(super) spec: SupervisionSpec,
    pub(super) on_link_loss: LinkLossPolicy,
    budget: RestartBudget,
    /// A restart is due at this simulated time (the executor builds a new service).
    pub(super) restart_at: Option<f64>,
    pub(super) restarts: u32,
    pub(super) monitors: Monitors,
    /// Last time each [`Condition`] was seen; the joint is DEGRADED while any is recent.
    conditions: [Option<f64>; CONDITIONS],
    /// The servo reported an error or no power at the last sample.
    pub(super) servo_down: bool,
}

impl Watch {
    pub(super) fn new(spec: SupervisionSpec, on_link_loss: LinkLossPolicy) -> Self {
        Self {
            health: JointHealth::Ok,
            spec,
            on_link_loss,
            budget: RestartBudget::default(),
            restart_at: None,
            restarts: 0,
            monitors: Monitors::default(),
            conditions: [None; CONDITIONS],
            servo_down: false,
        }
    }

    /// The service failed at `t`: a restart if the budget allows (OTP style: at most
    /// `max_restarts` within `restart_window_s`), each restart within the window
    /// waiting twice as long as the one before (exponential backoff).
    pub(super) fn failed(&mut self, t: f64) -> Failure {
        let sup = self.spec;
        if !self.budget.take(t, sup.max_restarts, sup.restart_window_s) {
            return Failure::BudgetExhausted;
        }
        let used = self.budget.used();
        let delay = sup.restart_delay_s * 2f64.powi(used.saturating_sub(1).min(16) as i32);
        self.restart_at = Some(t + delay);
        Failure::Restart {
            at: t + delay,
            used,
            delay,
        }
    }

    /// An operator reset of a FAULTED joint: a restart now, with a fresh budget.
    pub(super) fn reset(&mut self, t: f64) {
        self.budget = RestartBudget::default();
        self.restart_at = Some(t);
        self.health = JointHealth::Restarting;
    }

    /// A fresh service drives the joint: what was seen of the old one says nothing
    /// about it.
    pub(super) fn restarted(&mut self) -> u32 {
        self.restart_at = None;
        self.restarts += 1;
        self.monitors.reset();
        self.conditions = Default::default();
        self.restarts
    }

    /// Condition `c` seen at `t`.
    pub(super) fn seen(&mut self, c: Condition, t: f64) {
        self.conditions[c as usize] = Some(t);
    }

    /// Whether any condition has been seen recently (or not cleared yet).
    pub(super) fn any_condition(&self) -> bool {
        self.conditions.iter().any(Option::is_some)
    }

    /// The conditions still active at `t`, those last seen over `CLEAR_AFTER_S` ago
    /// cleared.
    pub(super) fn active(&mut self, t: f64) -> Vec<&'static str> {
        let mut active = Vec::new();
        for (k, c) in self.conditions.iter_mut().enumerate() {
            if c.is_some_and(|seen| t - seen > CLEAR_AFTER_S) {
                *c = None;
            }
            if c.is_some() {
                active.push(CONDITION_NAMES[k]);
            }
        }
        active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SupervisionSpec {
        SupervisionSpec {
            max_restarts: 3,
            restart_window_s: 10.0,
            restart_delay_s: 0.02,
            ..SupervisionSpec::default()
        }
    }

    #[test]
    fn restarts_back_off_exponentially_until_the_budget_is_spent() {
        let mut w = Watch::new(spec(), LinkLossPolicy::HoldInSim);
        let delays: Vec<Failure> = (0..4).map(|k| w.failed(k as f64)).collect();
        assert_eq!(
            delays,
            vec![
                Failure::Restart {
                    at: 0.02,
                    used: 1,
                    delay: 0.02
                },
                Failure::Restart {
                    at: 1.0 + 0.04,
                    used: 2,
                    delay: 0.04
                },
                Failure::Restart {
                    at: 2.0 + 0.08,
                    used: 3,
                    delay: 0.08
                },
                Failure::BudgetExhausted,
            ]
        );
        // An operator reset gives a fresh budget and a restart now.
        w.reset(5.0);
        assert_eq!(w.restart_at, Some(5.0));
        assert_eq!(w.health, JointHealth::Restarting);
        assert!(matches!(w.failed(5.5), Failure::Restart { used: 1, .. }));
    }

    #[test]
    fn conditions_clear_after_they_were_last_seen() {
        let mut w = Watch::new(spec(), LinkLossPolicy::HoldInSim);
        w.seen(Condition::Late, 1.0);
        w.seen(Condition::Torque, 1.02);
        assert_eq!(w.active(1.04), vec!["late replies", "torque deficit"]);
        assert_eq!(
            w.active(1.0 + CLEAR_AFTER_S + 0.001),
            vec!["torque deficit"]
        );
        assert!(w.active(1.02 + CLEAR_AFTER_S + 0.001).is_empty());
        assert!(!w.any_condition());
        // A restarted service starts with a clean slate.
        w.seen(Condition::Encoder, 2.0);
        assert_eq!(w.restarted(), 1);
        assert!(!w.any_condition());
    }
}
