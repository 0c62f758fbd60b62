//! The symptom monitors, in plain Rust with time passed in (simulated seconds): they
//! turn what a host can observe into [`Symptom`]s (encoder plausibility, torque
//! deficit, a following-error limit that grows with speed), plus the restart budget
//! (Erlang/OTP style: at most N restarts within T s, then the joint latches FAULTED).
//!
//! The monitors see only what a real host sees (the servo's reported position,
//! velocity, torque and status, the commands it sent, the setpoints); they never look
//! at the simulation's ground truth. Each has a documented detection floor: a fault
//! below it has no effect a host could tell from normal operation.

use std::collections::VecDeque;

use super::SupervisionSpec;

/// What the supervisor observes (its decisions are the runtime's: `runtime::plant`, health).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symptom {
    /// The controller service panicked.
    Died,
    /// No reply for the silence limit (3 control periods).
    Silent,
    /// A reply came after its deadline (a deadline miss).
    Late,
    /// The servo's status reports an error bit or no power.
    ServoStatus,
    /// Encoder readings inconsistent with the reported velocity, or frozen while
    /// the joint is told to move.
    EncoderImplausible,
    /// The servo delivers clearly less torque than commanded within its envelope.
    TorqueDeficit,
    /// Tracking error beyond the speed-scaled following-error limit.
    FollowingError,
    /// Serial link errors (timeouts, checksums, wrong IDs) or the link went down.
    LinkError,
    /// The servo delivers its full torque and the joint stands still: blocked (an
    /// obstacle, a jam).
    Stalled,
    /// An external service's reply was malformed or answered another sample.
    Garbled,
}

/// A servo delivering this fraction of its stall torque or more is at its limit.
pub const STALL_FRACTION: f64 = 0.95;
/// A joint slower than this stands still, rad/s (m/s): a jammed joint rings against
/// the jam at a few hundredths of a rad/s; a joint lifting its load at full torque
/// moves faster.
const STILL: f64 = 0.1;
/// How long a stall must last to be one, s.
const STALL_S: f64 = 0.02;

/// Restart budget: at most `max` restarts within any `window_s`.
#[derive(Debug, Clone, Default)]
pub struct RestartBudget {
    times: VecDeque<f64>,
}

impl RestartBudget {
    /// Takes one restart at `now` if the budget allows; false means latch FAULTED.
    pub fn take(&mut self, now: f64, max: u32, window_s: f64) -> bool {
        while self.times.front().is_some_and(|t| now - t >= window_s) {
            self.times.pop_front();
        }
        if self.times.len() < max as usize {
            self.times.push_back(now);
            true
        } else {
            false
        }
    }

    /// Restarts counted in the current window.
    pub fn used(&self) -> usize {
        self.times.len()
    }
}

/// Per-joint observation state of the symptom monitors.
#[derive(Debug, Clone, Default)]
pub struct Monitors {
    /// Previous encoder sample: (t, pos, vel).
    prev: Option<(f64, f64, f64)>,
    /// Frozen-encoder tracking: (bit pattern of the frozen position, samples,
    /// setpoint at the first frozen sample).
    frozen: Option<(u64, u32, f64)>,
    /// Last time the encoder looked implausible.
    pub encoder_bad_t: Option<f64>,
    /// Consecutive physics steps with a torque deficit.
    deficit_steps: u32,
    /// Last time a torque deficit was seen.
    pub deficit_t: Option<f64>,
    /// Since when the following error has been over its limit.
    fe_over_since: Option<f64>,
    /// Last missed deadline.
    pub late_t: Option<f64>,
    /// Since when the servo has been at its torque limit with the joint still.
    stall_since: Option<f64>,
}

/// How long a condition must stay away before its DEGRADED state clears, s.
pub const CLEAR_AFTER_S: f64 = 0.05;

impl Monitors {
    /// Forget the sample history (after a restart, a swap or an e-stop).
    pub fn reset(&mut self) {
        self.prev = None;
        self.frozen = None;
        self.fe_over_since = None;
        self.deficit_steps = 0;
        self.late_t = None;
        self.stall_since = None;
    }

    /// A stall on one control sample: the servo reports at least [`STALL_FRACTION`]
    /// of its stall torque (`torque_fraction`, signed) and the joint has stood still
    /// for [`STALL_S`]; a symptom on every sample while it lasts.
    pub fn stall(&mut self, t: f64, torque_fraction: f64, vel: f64) -> Option<Symptom> {
        if torque_fraction.abs() >= STALL_FRACTION && vel.abs() < STILL {
            let since = *self.stall_since.get_or_insert(t);
            (t - since + 1e-12 >= STALL_S).then_some(Symptom::Stalled)
        } else {
            self.stall_since = None;
            None
        }
    }

    /// Encoder plausibility on one control sample. Between samples the position must
    /// move by what the reported velocities say (trapezoid), within `bound` =
    /// 3 ticks + 6·√2·σ(noise) + velocity resolution × period + 2 × backlash (the
    /// output crosses its gear play faster than any velocity sample shows) + ½ |Δv| ×
    /// period: a joint that hits something changes speed at an unknown instant between
    /// two samples, and the trapezoid is off by at most that much (a position jump
    /// with no change of speed, an offset or a noise spike, still shows). A position that
    /// stays bit-identical for `frozen_samples` (20 ms) while the setpoint moves by more
    /// than 16 ticks is a frozen encoder (a joint held by stiction breaks away well
    /// before its setpoint is that far off), unless the servo is `stalled` (at its full
    /// torque: that is a stall, see [`Monitors::stall`]). Floors: offsets and noise spikes above `bound`
    /// (about 0.011 rad for a 4096-tick, 0.5-tick-noise servo), frozen encoders
    /// while the joint is commanded to move.
    #[allow(clippy::too_many_arguments)]
    pub fn encoder(
        &mut self,
        t: f64,
        pos: f64,
        vel: f64,
        setpoint: f64,
        tick: f64,
        noise_ticks: f64,
        vel_resolution: f64,
        backlash: f64,
        period: f64,
        stalled: bool,
    ) -> Option<Symptom> {
        let mut bad = false;
        if let Some((pt, pp, pv)) = self.prev {
            let dt = t - pt;
            let predicted = pp + 0.5 * (pv + vel) * dt;
            let bound = 3.0 * tick
                + 6.0 * std::f64::consts::SQRT_2 * noise_ticks * tick
                + vel_resolution * dt
                + 2.0 * backlash
                + 0.5 * (vel - pv).abs() * dt;
            bad |= (pos - predicted).abs() > bound;
        }
        self.prev = Some((t, pos, vel));
        let frozen_samples = ((0.02 / period).ceil() as u32).max(3);
        match &mut self.frozen {
            // A joint pushed against something at the servo's full torque stands
            // still for real: its servo's protection deals with that, not this check.
            _ if stalled => self.frozen = None,
            Some((bits, n, sp0)) if *bits == pos.to_bits() => {
                *n += 1;
                if *n >= frozen_samples && (setpoint - *sp0).abs() > 16.0 * tick {
                    bad = true;
                }
            }
            _ => self.frozen = Some((pos.to_bits(), 1, setpoint)),
        }
        if bad {
            self.encoder_bad_t = Some(t);
            Some(Symptom::EncoderImplausible)
        } else {
            None
        }
    }

    /// Torque check on one physics step: the servo delivered `delivered` where its
    /// envelope allowed `expected`. A deficit above max(0.02 N·m, 2 % of stall) for
    /// 5 ms is a symptom.
    pub fn torque(
        &mut self,
        t: f64,
        expected: f64,
        delivered: f64,
        stall: f64,
        dt: f64,
    ) -> Option<Symptom> {
        if (expected - delivered).abs() > (0.02f64).max(0.02 * stall) {
            self.deficit_steps += 1;
            if self.deficit_steps as f64 * dt >= 0.005 - 1e-12 {
                self.deficit_t = Some(t);
                return Some(Symptom::TorqueDeficit);
            }
        } else {
            self.deficit_steps = 0;
        }
        None
    }

    /// Following error on one control sample: over `limit(|v_sp|)` for at least the
    /// trip time is a symptom (the joint trips).
    pub fn following(
        &mut self,
        t: f64,
        error: f64,
        setpoint_vel: f64,
        spec: &SupervisionSpec,
    ) -> Option<Symptom> {
        let limit = spec.following_error_rad + spec.following_error_per_rad_s * setpoint_vel.abs();
        if error.abs() > limit {
            let since = *self.fe_over_since.get_or_insert(t);
            if t - since + 1e-12 >= spec.following_error_trip_s {
                self.fe_over_since = None;
                return Some(Symptom::FollowingError);
            }
        } else {
            self.fe_over_since = None;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_is_full_torque_with_the_joint_still_for_20_ms() {
        let mut m = Monitors::default();
        let at = |m: &mut Monitors, k: u32, tau: f64, v: f64| m.stall(k as f64 * 2e-3, tau, v);
        for k in 0..10 {
            assert_eq!(at(&mut m, k, -0.97, 0.001), None, "k={k}");
        }
        assert_eq!(at(&mut m, 10, -0.97, 0.001), Some(Symptom::Stalled));
        // Moving, or below the limit: no stall, and the time starts again.
        assert_eq!(at(&mut m, 11, 0.97, 0.5), None);
        assert_eq!(at(&mut m, 12, 0.5, 0.0), None);
        assert_eq!(at(&mut m, 13, 0.97, 0.0), None);
    }

    #[test]
    fn restart_budget_allows_n_within_the_window_then_refuses() {
        let mut b = RestartBudget::default();
        assert!(b.take(0.0, 2, 1.0));
        assert!(b.take(0.5, 2, 1.0));
        assert!(!b.take(0.9, 2, 1.0), "third restart within 1 s");
        assert!(b.take(1.0, 2, 1.0), "the first one has left the window");
        assert_eq!(b.used(), 2);
        assert!(!RestartBudget::default().take(0.0, 0, 1.0));
    }

    #[test]
    fn encoder_monitor_flags_jumps_and_freezes_not_smooth_motion() {
        let tick = std::f64::consts::TAU / 4096.0;
        let mut m = Monitors::default();
        // Smooth motion at 1 rad/s sampled at 1 kHz, quantised: plausible.
        for k in 0..200 {
            let t = k as f64 * 1e-3;
            let q = (t / tick).round() * tick;
            assert_eq!(
                m.encoder(t, q, 1.0, t, tick, 0.5, 0.0, 0.0, 1e-3, false),
                None,
                "k={k}"
            );
        }
        // An impact: 20 rad/s to rest at any instant within a 2 ms period is
        // plausible: right after the last sample, or right before this one.
        for q in [0.0, 0.04] {
            let mut hit = Monitors::default();
            assert_eq!(
                hit.encoder(0.0, 0.0, 20.0, 0.0, tick, 0.5, 0.0, 0.0, 2e-3, false),
                None
            );
            assert_eq!(
                hit.encoder(0.002, q, 0.0, 0.0, tick, 0.5, 0.0, 0.0, 2e-3, false),
                None,
                "{q}"
            );
        }
        // A 0.05 rad jump with no velocity to explain it.
        assert_eq!(
            m.encoder(0.2, 0.25, 1.0, 0.2, tick, 0.5, 0.0, 0.0, 1e-3, false),
            Some(Symptom::EncoderImplausible)
        );
        // Standing still while the setpoint moves, at full torque: blocked, which
        // is not the encoder's fault.
        let mut m = Monitors::default();
        for k in 0..40 {
            let t = k as f64 * 1e-3;
            assert_eq!(
                m.encoder(t, 0.1, 0.0, 0.1 + t, tick, 0.5, 0.0, 0.0, 1e-3, true),
                None
            );
        }
        // Frozen while the setpoint moves.
        let mut m = Monitors::default();
        let mut hit = None;
        for k in 0..40 {
            let t = k as f64 * 1e-3;
            if m.encoder(t, 0.1, 0.0, 0.1 + t, tick, 0.5, 0.0, 0.0, 1e-3, false)
                .is_some()
            {
                hit = Some(k);
                break;
            }
        }
        // 16 ticks at 1 rad/s take 24.5 ms: the 25th sample (20 frozen ones are not
        // enough while the setpoint has not moved that far).
        assert_eq!(hit, Some(25), "frozen while the setpoint moved 16 ticks");
        // Frozen while the setpoint holds still: a joint at rest, not a fault.
        let mut m = Monitors::default();
        for k in 0..100 {
            assert_eq!(
                m.encoder(
                    k as f64 * 1e-3,
                    0.1,
                    0.0,
                    0.1,
                    tick,
                    0.5,
                    0.0,
                    0.0,
                    1e-3,
                    false
                ),
                None
            );
        }
    }

    #[test]
    fn following_error_limit_grows_with_speed_and_needs_the_trip_time() {
        let spec = SupervisionSpec::default();
        let mut m = Monitors::default();
        // 0.15 rad at 1 rad/s is within 0.1 + 0.1·1 = 0.2.
        for k in 0..100 {
            assert_eq!(m.following(k as f64 * 1e-3, 0.15, 1.0, &spec), None);
        }
        // The same error at standstill trips after 50 ms.
        let mut trip = None;
        for k in 0..100 {
            if m.following(k as f64 * 1e-3, 0.15, 0.0, &spec).is_some() {
                trip = Some(k);
                break;
            }
        }
        assert_eq!(trip, Some(50));
    }

    #[test]
    fn torque_deficit_needs_5_ms() {
        let mut m = Monitors::default();
        let hits: Vec<u32> = (0..10)
            .filter(|k| m.torque(*k as f64 * 1e-3, 1.0, 0.5, 4.0, 1e-3).is_some())
            .collect();
        assert_eq!(hits.first(), Some(&4));
        assert_eq!(m.torque(0.02, 1.0, 0.99, 4.0, 1e-3), None);
    }
}
