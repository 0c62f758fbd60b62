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

/// Longest gap between two probes of an away service in lockstep, s simulated: each
/// probe there may wait the reply bound (wall time) for the service.
const PROBE_GAP_MAX_S: f64 = 1.0;

/// An external service that went away: its joint waits in its safe state, spending
/// no restart budget, and the executor probes for the service's return.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Away {
    /// The next probe is due at this simulated time.
    pub(super) next_probe: f64,
    /// Probes that found nobody.
    probes: u32,
}

/// One joint's supervision state.
pub(crate) struct Watch {
    pub(super) health: JointHealth,
    pub(super) spec: SupervisionSpec,
    pub(super) on_link_loss: LinkLossPolicy,
    budget: RestartBudget,
    /// A restart is due at this simulated time (the executor builds a new service).
    pub(super) restart_at: Option<f64>,
    /// Set while the joint's external service is away.
    pub(super) away: Option<Away>,
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
            away: None,
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

    /// The joint's external service went away at `t`: the first probe for it comes a
    /// restart delay later.
    pub(super) fn went_away(&mut self, t: f64) {
        self.restart_at = None;
        self.away = Some(Away {
            next_probe: t + self.spec.restart_delay_s,
            probes: 0,
        });
    }

    /// Whether a probe for the away service is due at `t`.
    pub(super) fn probe_due(&self, t: f64) -> bool {
        self.away.is_some_and(|a| t + 1e-12 >= a.next_probe)
    }

    /// A probe at `t` found nobody. The next: at once (the next step) when probing
    /// costs nothing (`patient` false: real time reads a flag), else after twice the
    /// last gap, at most [`PROBE_GAP_MAX_S`] (lockstep waits the reply bound).
    pub(super) fn probe_missed(&mut self, t: f64, patient: bool) {
        let delay = self.spec.restart_delay_s;
        if let Some(a) = &mut self.away {
            a.probes += 1;
            a.next_probe = if patient {
                t + (delay * 2f64.powi(a.probes.min(16) as i32)).min(PROBE_GAP_MAX_S)
            } else {
                t
            };
        }
    }

    /// A fresh service drives the joint: what was seen of the old one says nothing
    /// about it.
    pub(super) fn restarted(&mut self) -> u32 {
        self.restart_at = None;
        self.away = None;
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
    fn an_away_service_is_probed_with_backoff_in_lockstep_and_every_step_in_real_time() {
        let mut w = Watch::new(spec(), LinkLossPolicy::HoldInSim);
        w.went_away(1.0);
        assert!(!w.probe_due(1.019));
        assert!(w.probe_due(1.02));
        let mut probes = Vec::new();
        let mut t = 1.02;
        for _ in 0..8 {
            w.probe_missed(t, true);
            t = w.away.map(|a| a.next_probe).unwrap_or(f64::NAN);
            probes.push((t * 1e6).round() / 1e6);
        }
        // 40, 80, 160, 320, 640 ms later, then at most a second apart.
        assert_eq!(probes, vec![1.06, 1.14, 1.3, 1.62, 2.26, 3.26, 4.26, 5.26]);
        // No restart budget spent waiting: a failure after the return restarts.
        assert_eq!(w.restarted(), 1);
        assert_eq!(w.away, None);
        assert!(matches!(w.failed(6.0), Failure::Restart { used: 1, .. }));
        // Real time probes at every step.
        w.went_away(7.0);
        w.probe_missed(7.02, false);
        assert!(w.probe_due(7.02));
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
