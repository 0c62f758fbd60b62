//! Clocks. Time is always an input: executors take a [`Clock`] and pass the time to
//! services in their messages; nothing below reads the system clock ad hoc.

use std::time::{Duration, Instant};

/// A monotonic time source.
pub trait Clock: Send + Sync {
    /// Time since the clock's epoch.
    fn now(&self) -> Duration;
}

/// The machine's monotonic clock, from its creation.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    epoch: Instant,
}

impl WallClock {
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
        }
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for WallClock {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }
}

/// Sleeps until `deadline` on `clock`: coarse sleep, then a short spin for precision.
pub fn sleep_until(clock: &dyn Clock, deadline: Duration) {
    const SPIN: Duration = Duration::from_micros(150);
    loop {
        let now = clock.now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        if left > SPIN {
            std::thread::sleep(left - SPIN);
        } else {
            std::hint::spin_loop();
        }
    }
}
