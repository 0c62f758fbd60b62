//! Owed replies: which sample each joint service owes, since when, and what its
//! silence means. Executors report what they saw (a sample sent,
//! a reply, a step stalled by the host) and ask at each of a joint's ticks what to
//! do; the rule is written once here for both executors, which differ only in the
//! time they measure silence on (lockstep: simulated time; real time: the run's clock)
//! and in whether correlated silence of several services is forgiven as a machine
//! stall. What a failure then does to the joint (safe state, restart budget,
//! backoff, health) is decided by the rest of the supervisor (`failures.rs`).

/// What to do at a joint's tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Tick {
    /// Nothing owed: send the next sample.
    Send,
    /// A reply is owed but the service has not had a full period yet (catch-up steps
    /// after a stall of the executor itself): not late, no new sample.
    Wait,
    /// A reply is owed past its deadline: a missed deadline. `lone`: no other service
    /// is silent at the same time (a lone late service is the service's problem;
    /// lateness shared with others is the machine's, counted but not flagged).
    Missed { lone: bool },
    /// Silent for `silent_s` (`silent_periods` periods): the service is hung (this
    /// tick is also a missed deadline; `lone` as for `Missed`).
    Hung { silent_s: f64, lone: bool },
    /// Several services silent at once, within the grace: counted, not faulted yet.
    /// `first`: the first such moment of the run (worth an event).
    Stalled { silent_s: f64, first: bool },
}

/// One joint's owed reply.
#[derive(Debug, Clone, Copy, Default)]
struct Owed {
    /// The newest sample sent and not yet answered.
    awaiting: Option<u64>,
    /// When (supervision time) that sample was sent, and its simulated time.
    sent_at: f64,
    sent_t: f64,
    /// Since when a reply has been owed (cleared by the awaited reply).
    since: Option<f64>,
    /// A reply computed but not yet arrived (a slow cycle on simulated time):
    /// (arrival, torque, simulated time of its sample).
    in_flight: Option<(f64, f64, f64)>,
}

/// Owed replies of every joint and the silence rule.
pub(crate) struct Replies {
    owed: Vec<Owed>,
    /// Correlated silence of several services is forgiven for this long (s) as a
    /// machine stall; `None` (lockstep: simulated time cannot stall) never.
    stall_grace: Option<f64>,
    stall_reported: bool,
}

/// A reply counts as on time if it comes within its period plus this fraction of a
/// period (the next tick comes exactly one period after the send).
const SLACK: f64 = 0.1;

impl Replies {
    pub(crate) fn new(joints: usize, stall_grace: Option<f64>) -> Self {
        Self {
            owed: vec![Owed::default(); joints],
            stall_grace,
            stall_reported: false,
        }
    }

    /// Joint `i` was sent sample `seq` (simulated time `t`) at supervision time `now`.
    pub(crate) fn sent(&mut self, i: usize, seq: u64, t: f64, now: f64) {
        let o = &mut self.owed[i];
        o.awaiting = Some(seq);
        o.sent_at = now;
        o.sent_t = t;
        o.since.get_or_insert(now);
    }

    /// A reply to sample `seq` came from joint `i`. Returns the simulated time of the
    /// sample it answers (`period` and `last_seq`, the newest sample's number: to date
    /// an older sample's reply).
    /// A reply to an older sample shows the service alive but still owing the newest.
    pub(crate) fn replied(&mut self, i: usize, seq: u64, period: f64, last_seq: u64) -> f64 {
        let o = &mut self.owed[i];
        if o.awaiting == Some(seq) {
            o.awaiting = None;
            o.since = None;
            o.sent_t
        } else {
            if o.awaiting.is_some() {
                o.since = Some(o.sent_at);
            }
            // Samples are periodic: date it back from the newest.
            let behind = last_seq.saturating_sub(seq) as f64;
            (o.sent_t - period * behind).max(0.0)
        }
    }

    /// The reply to the awaited sample will arrive at simulated time `at` (a slow
    /// cycle on simulated time): still owed until then.
    pub(crate) fn delayed(&mut self, i: usize, at: f64, torque: f64) {
        let o = &mut self.owed[i];
        o.in_flight = Some((at, torque, o.sent_t));
    }

    /// A delayed reply whose arrival has come by simulated time `t`: (torque, for_t).
    pub(crate) fn arrived(&mut self, i: usize, t: f64) -> Option<(f64, f64)> {
        let o = &mut self.owed[i];
        match o.in_flight {
            Some((at, torque, for_t)) if t + 1e-12 >= at => {
                o.in_flight = None;
                o.awaiting = None;
                o.since = None;
                Some((torque, for_t))
            }
            _ => None,
        }
    }

    /// Joint `i`'s service was replaced or given up: it owes nothing.
    pub(crate) fn forget(&mut self, i: usize) {
        self.owed[i] = Owed::default();
    }

    /// The executor itself could not run for `stalled` s (the host stalled it): no
    /// service could, so that time is not held against any.
    pub(crate) fn forgive(&mut self, stalled: f64) {
        for o in &mut self.owed {
            if let Some(s) = o.since.as_mut() {
                *s += stalled;
            }
        }
    }

    /// At joint `i`'s tick (supervision time `now`, its `period` and the periods of
    /// silence that make it hung): what to do. `controlled(k)` tells whether joint
    /// `k` is driven by its service now (only those can be silent). `untaken`: the
    /// service has not even taken its sample from its inbox, so its thread has not run
    /// since it was sent: the machine did not schedule it (a controller that hangs or
    /// overruns has taken its sample). That is a machine stall as much as several
    /// services silent at once, and gets the same grace.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn tick(
        &mut self,
        i: usize,
        now: f64,
        period: f64,
        silent_periods: u32,
        periods: &[f64],
        untaken: bool,
        controlled: impl Fn(usize) -> bool,
    ) -> Tick {
        let Some(since) = self.owed[i].since else {
            return Tick::Send;
        };
        let waited = now - since;
        if waited + period * SLACK < period {
            return Tick::Wait;
        }
        let others_late = self.stall_grace.is_some()
            && (untaken
                || self.owed.iter().enumerate().any(|(k, o)| {
                    k != i
                        && controlled(k)
                        && o.since
                            .is_some_and(|s| now - s + periods[k] * SLACK >= periods[k])
                }));
        if let Some(grace) = self.stall_grace
            && others_late
            && waited + 1e-9 < grace
        {
            let first = !std::mem::replace(&mut self.stall_reported, true);
            return Tick::Stalled {
                silent_s: waited,
                first,
            };
        }
        if waited + period * SLACK >= period * silent_periods as f64 {
            self.forget(i);
            return Tick::Hung {
                silent_s: waited,
                lone: !others_late,
            };
        }
        Tick::Missed { lone: !others_late }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_service_misses_then_hangs_after_its_silent_periods() {
        let mut s = Replies::new(2, None);
        let periods = [0.001, 0.001];
        s.sent(0, 1, 0.0, 0.0);
        s.sent(1, 1, 0.0, 0.0);
        assert_eq!(s.replied(1, 1, 0.001, 1), 0.0);
        assert_eq!(
            s.tick(0, 0.001, 0.001, 3, &periods, false, |_| true),
            Tick::Missed { lone: true }
        );
        assert_eq!(
            s.tick(0, 0.002, 0.001, 3, &periods, false, |_| true),
            Tick::Missed { lone: true }
        );
        assert_eq!(
            s.tick(0, 0.003, 0.001, 3, &periods, false, |_| true),
            Tick::Hung {
                silent_s: 0.003,
                lone: true
            }
        );
        // Given up: owes nothing any more.
        assert_eq!(
            s.tick(0, 0.004, 0.001, 3, &periods, false, |_| true),
            Tick::Send
        );
    }

    #[test]
    fn a_service_that_never_took_its_sample_was_not_scheduled_and_gets_the_grace() {
        let mut s = Replies::new(1, Some(0.1));
        let periods = [0.001];
        s.sent(0, 1, 0.0, 0.0);
        assert_eq!(
            s.tick(0, 0.005, 0.001, 3, &periods, true, |_| true),
            Tick::Stalled {
                silent_s: 0.005,
                first: true
            }
        );
        // Having taken it, it is the controller's silence: hung after 3 periods.
        assert!(matches!(
            s.tick(0, 0.006, 0.001, 3, &periods, false, |_| true),
            Tick::Hung { lone: true, .. }
        ));
    }

    #[test]
    fn correlated_silence_gets_the_grace_and_a_stalled_executor_is_forgiven() {
        let mut s = Replies::new(2, Some(0.1));
        let periods = [0.001, 0.001];
        s.sent(0, 1, 0.0, 0.0);
        s.sent(1, 1, 0.0, 0.0);
        assert_eq!(
            s.tick(0, 0.005, 0.001, 3, &periods, false, |_| true),
            Tick::Stalled {
                silent_s: 0.005,
                first: true
            }
        );
        assert_eq!(
            s.tick(1, 0.005, 0.001, 3, &periods, false, |_| true),
            Tick::Stalled {
                silent_s: 0.005,
                first: false
            }
        );
        // The executor itself was stalled for 4.5 ms: only 0.5 ms counts.
        s.forgive(0.0045);
        assert_eq!(
            s.tick(0, 0.005, 0.001, 3, &periods, false, |_| true),
            Tick::Wait
        );
        // Past the grace, a silence is a hang whoever else is silent.
        assert!(matches!(
            s.tick(0, 0.2, 0.001, 3, &periods, false, |_| true),
            Tick::Hung { .. }
        ));
    }
}
