//! Pacing of a lockstep run: as fast as possible (CI), or tied to the wall clock at a
//! chosen speed (the GUI), paused, single-stepped. The pacer only decides whether the
//! next physics step may go now; the clock is passed in, never read here, so the
//! decisions are testable without sleeping.

use std::time::Duration;

use super::command::{Pace, SPEED_RANGE};

/// What the executor should do before its next step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gate {
    /// Step now.
    Go,
    /// Not yet: check commands again after at most this long.
    Wait(Duration),
}

/// Pacing state of a lockstep run.
#[derive(Debug, Clone, PartialEq)]
pub struct Pacer {
    /// Simulated seconds per wall second; `None`: unpaced.
    speed: Option<f64>,
    paused: bool,
    /// Steps still allowed while paused (single stepping).
    steps_left: u32,
    /// (wall time, simulated time) the pace is measured from; reset whenever the pace
    /// changes or the run resumes, so a pause is not caught up afterwards.
    anchor: Option<(Duration, f64)>,
}

/// Longest single wait, so commands (pause, stop) are seen promptly.
const MAX_WAIT: Duration = Duration::from_millis(5);

impl Pacer {
    /// A pacer at `speed` (`None`: unpaced), running.
    pub fn new(speed: Option<f64>) -> Self {
        Self {
            speed: speed.map(|s| s.clamp(*SPEED_RANGE.start(), *SPEED_RANGE.end())),
            paused: false,
            steps_left: 0,
            anchor: None,
        }
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    pub fn speed(&self) -> Option<f64> {
        self.speed
    }

    /// Applies a pacing command.
    pub fn apply(&mut self, p: Pace) {
        match p {
            Pace::Pause => self.paused = true,
            Pace::Resume => {
                self.paused = false;
                self.steps_left = 0;
            }
            Pace::Step(n) => {
                self.paused = true;
                self.steps_left = self.steps_left.saturating_add(n);
            }
            Pace::Speed(s) => {
                self.speed = s.map(|s| s.clamp(*SPEED_RANGE.start(), *SPEED_RANGE.end()))
            }
        }
        self.anchor = None;
    }

    /// May the step from simulated time `sim_t` go at wall time `now`?
    pub fn gate(&mut self, now: Duration, sim_t: f64) -> Gate {
        if self.paused {
            if self.steps_left == 0 {
                return Gate::Wait(MAX_WAIT);
            }
            self.steps_left -= 1;
            return Gate::Go;
        }
        let Some(speed) = self.speed else {
            return Gate::Go;
        };
        let (w0, s0) = *self.anchor.get_or_insert((now, sim_t));
        let due = w0 + Duration::from_secs_f64(((sim_t - s0) / speed).max(0.0));
        if now >= due {
            Gate::Go
        } else {
            Gate::Wait((due - now).min(MAX_WAIT))
        }
    }
}

/// Event text of a pacing command.
pub fn describe(p: Pace) -> String {
    match p {
        Pace::Pause => "paused".into(),
        Pace::Resume => "resumed".into(),
        Pace::Step(n) => format!("single step x{n}"),
        Pace::Speed(Some(s)) => format!("speed x{s}"),
        Pace::Speed(None) => "speed: as fast as possible".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn unpaced_always_goes_and_paced_follows_the_wall_clock_at_its_speed() {
        let mut p = Pacer::new(None);
        assert_eq!(p.gate(ms(0), 100.0), Gate::Go);
        let mut p = Pacer::new(Some(2.0));
        assert_eq!(p.gate(ms(0), 1.0), Gate::Go, "anchored at the first step");
        // At 2x, simulated 1.010 is due 5 ms of wall time after the anchor.
        assert_eq!(p.gate(ms(2), 1.010), Gate::Wait(ms(3)));
        assert_eq!(p.gate(ms(5), 1.010), Gate::Go);
        // Far ahead: waits are capped so commands are seen.
        assert_eq!(p.gate(ms(5), 2.0), Gate::Wait(MAX_WAIT));
    }

    #[test]
    fn pause_holds_single_steps_go_one_by_one_and_resume_does_not_catch_up() {
        let mut p = Pacer::new(Some(1.0));
        assert_eq!(p.gate(ms(0), 0.0), Gate::Go);
        p.apply(Pace::Pause);
        assert_eq!(p.gate(ms(1000), 0.001), Gate::Wait(MAX_WAIT));
        p.apply(Pace::Step(2));
        assert_eq!(p.gate(ms(1000), 0.001), Gate::Go);
        assert_eq!(p.gate(ms(1000), 0.002), Gate::Go);
        assert_eq!(p.gate(ms(1000), 0.003), Gate::Wait(MAX_WAIT));
        p.apply(Pace::Resume);
        // Re-anchored at the resume: one step now, the next 1 ms later, not a burst
        // to make up the second spent paused.
        assert_eq!(p.gate(ms(2000), 0.003), Gate::Go);
        assert_eq!(p.gate(ms(2000), 0.004), Gate::Wait(ms(1)));
    }

    #[test]
    fn speed_is_clamped_to_its_range_and_max_unpaces() {
        let mut p = Pacer::new(Some(50.0));
        assert_eq!(p.speed(), Some(10.0));
        p.apply(Pace::Speed(Some(0.01)));
        assert_eq!(p.speed(), Some(0.1));
        p.apply(Pace::Speed(None));
        assert_eq!(p.gate(ms(0), 5.0), Gate::Go);
    }
}
