//! Thinning the live server's state channels (`/tf`, `/joint_states`, `/world/*`):
//! each carries the whole state of the arm or world, 50 times a simulated second,
//! so a later message supersedes an earlier one. An unpaced run at 60× real time
//! makes 3,000 of each a wall second, far beyond what a 3D panel draws, and each
//! costs the machine a socket write and a wake-up. A token bucket per channel lets
//! through [`RATE_HZ`] a wall second on average with bursts of [`BURST`], so a run
//! at up to 2× real time keeps every message (also when the forwarder takes several
//! at once), and a faster one sends the latest states at the display's rate. Thinned
//! messages are counted per channel in the report. Joints' sample channels and
//! events are never thinned: they are the data, not a view of it.

/// Messages per wall second a state channel sends on average.
pub const RATE_HZ: f64 = 100.0;
/// Messages a state channel may send at once.
pub const BURST: f64 = 50.0;

/// One channel's bucket.
#[derive(Debug, Clone)]
pub(super) struct Thin {
    tokens: f64,
    /// Wall time of the last refill, s.
    last: f64,
}

impl Thin {
    pub(super) fn new(now: f64) -> Self {
        Self {
            tokens: BURST,
            last: now,
        }
    }

    /// Whether a message may go at wall time `now` s (it takes a token).
    pub(super) fn pass(&mut self, now: f64) -> bool {
        self.tokens = (self.tokens + (now - self.last).max(0.0) * RATE_HZ).min(BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paced_stream_passes_whole_even_in_bursts() {
        let mut t = Thin::new(0.0);
        // 2x real time: 100 a second, taken in bursts of 5 every 50 ms.
        let mut passed = 0;
        for k in 0..200 {
            let now = (k / 5) as f64 * 0.05;
            passed += t.pass(now) as u32;
        }
        assert_eq!(passed, 200);
    }

    #[test]
    fn a_fast_stream_is_held_to_the_rate() {
        let mut t = Thin::new(0.0);
        // 60x real time: 3,000 a second for 2 s, one every 1/3000 s.
        let passed = (0..6000).filter(|k| t.pass(*k as f64 / 3000.0)).count();
        // The burst, then the rate over the 5,999/3,000 s after the first.
        let expected = (BURST + RATE_HZ * 5999.0 / 3000.0).floor() as usize;
        assert_eq!(passed, expected);
    }
}
