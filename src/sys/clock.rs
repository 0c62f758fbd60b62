//! Clocks. Time is always an input: executors, buses and wire timing take a [`Clock`]
//! and pass the time on in their messages; nothing above reads the system clock ad
//! hoc. Two clocks: [`WallClock`] (the machine's monotonic clock) and [`ManualClock`]
//! (time moves only when told), which lives here beside the real one, as the
//! in-memory transport lives beside the serial one, so that real-time behaviour can be
//! tested exactly.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A monotonic time source that can also be slept on.
///
/// Besides `now` and `sleep_until`, a clock hears about the run's own pacing and about
/// work handed between threads. The wall clock ignores both; a [`ManualClock`] uses
/// them to move time only once every piece of handed-off work is done, so a run on it
/// is exact: which reply beats which deadline depends on the script, not on the host.
pub trait Clock: Send + Sync {
    /// Time since the clock's epoch.
    fn now(&self) -> Duration;

    /// Returns once `now() >= deadline`. The wall clock sleeps (coarse sleep, then a
    /// short spin for precision); a manual clock waits until it is advanced.
    fn sleep_until(&self, deadline: Duration) {
        const SPIN: Duration = Duration::from_micros(150);
        loop {
            let now = self.now();
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

    /// Like [`Clock::sleep_until`] without the spin: on the wall clock it may return a
    /// few tens of µs late, but it leaves the CPU to others meanwhile. For threads
    /// that share the machine with the physics and can afford that (the served bus's
    /// reply timing). A manual clock waits exactly as for `sleep_until`.
    fn sleep_until_coarse(&self, deadline: Duration) {
        let now = self.now();
        if now < deadline {
            std::thread::sleep(deadline - now);
        }
    }

    /// The run's own pacing: its loop waits for its next step. On the wall clock, a
    /// sleep; a manual clock lets the work under way finish, moves itself to
    /// `deadline` (later by a scripted stall), and lets the work that woke finish.
    fn pace_to(&self, deadline: Duration) {
        self.sleep_until(deadline);
    }

    /// One piece of work was handed to another thread (a sample to a joint service).
    fn work_begins(&self) {}

    /// A piece of work handed over with [`Clock::work_begins`] is done.
    fn work_ends(&self) {}

    /// Sleeps in the middle of a piece of work (a slow controller cycle): on a manual
    /// clock the work does not hold time still while it sleeps, and counts again from
    /// the moment time reaches `deadline`.
    fn sleep_working(&self, deadline: Duration) {
        self.sleep_until(deadline);
    }
}

/// Sleeps until `deadline` on `clock` (see [`Clock::sleep_until`]).
pub fn sleep_until(clock: &dyn Clock, deadline: Duration) {
    clock.sleep_until(deadline);
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

/// A clock that stands still until it is moved: by [`ManualClock::advance`] or
/// [`ManualClock::set`], or by the run's own pacing ([`Clock::pace_to`]), which first
/// waits for every piece of handed-off work to finish and adds the scripted host
/// stalls. A thread sleeping on it wakes when time reaches its deadline. It lives here
/// beside the wall clock, as the in-memory transport lives beside the serial one, so
/// real-time behaviour can be tested exactly.
#[derive(Debug, Default)]
pub struct ManualClock {
    state: Mutex<ManualState>,
    moved: Condvar,
}

#[derive(Debug, Default)]
struct ManualState {
    now: Duration,
    /// Pieces of handed-off work under way.
    working: usize,
    /// Work asleep until these times (see [`Clock::sleep_working`]).
    parked: Vec<Duration>,
    /// Scripted stalls of the pacing thread: (from, extra), in time order.
    stalls: VecDeque<(Duration, Duration)>,
}

/// How long (wall time) pacing waits for handed-off work before concluding that the
/// work will never end on its own: a bug in the test or the code under test.
const SETTLE_LIMIT: Duration = Duration::from_secs(20);

impl ManualClock {
    /// A clock at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// A clock at zero whose pacing overshoots: the first pace to a deadline at or
    /// after `from` lands `extra` late (the pacing thread lost the CPU), once per entry.
    pub fn with_stalls(stalls: &[(Duration, Duration)]) -> Self {
        let mut v = stalls.to_vec();
        v.sort();
        Self {
            state: Mutex::new(ManualState {
                stalls: v.into(),
                ..ManualState::default()
            }),
            moved: Condvar::new(),
        }
    }

    /// Moves time forward by `d` and wakes every sleeper whose deadline has come.
    pub fn advance(&self, d: Duration) {
        let mut st = self.lock();
        let t = st.now + d;
        Self::move_to(&mut st, t);
        drop(st);
        self.moved.notify_all();
    }

    /// Sets the time to `t`; time never goes backwards, so an earlier `t` is ignored.
    pub fn set(&self, t: Duration) {
        let mut st = self.lock();
        Self::move_to(&mut st, t);
        drop(st);
        self.moved.notify_all();
    }

    fn move_to(st: &mut ManualState, t: Duration) {
        if t <= st.now {
            return;
        }
        st.now = t;
        // Parked work whose sleep is over counts again, before anyone can look.
        let before = st.parked.len();
        st.parked.retain(|d| *d > t);
        st.working += before - st.parked.len();
    }

    /// Waits until no handed-off work is under way.
    fn settle<'a>(&'a self, mut st: MutexGuard<'a, ManualState>) -> MutexGuard<'a, ManualState> {
        let start = Instant::now();
        while st.working > 0 {
            let (g, _) = self
                .moved
                .wait_timeout(st, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner());
            st = g;
            assert!(
                start.elapsed() < SETTLE_LIMIT,
                "manual clock: {} piece(s) of work never finished",
                st.working
            );
        }
        st
    }

    fn lock(&self) -> MutexGuard<'_, ManualState> {
        // A panic while holding this lock leaves plain numbers behind: still valid.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.lock().now
    }

    fn sleep_until(&self, deadline: Duration) {
        let mut st = self.lock();
        while st.now < deadline {
            st = self.moved.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn sleep_until_coarse(&self, deadline: Duration) {
        self.sleep_until(deadline);
    }

    fn pace_to(&self, deadline: Duration) {
        let st = self.lock();
        let mut st = self.settle(st);
        let mut target = deadline.max(st.now);
        while st.stalls.front().is_some_and(|(from, _)| *from <= target) {
            if let Some((_, extra)) = st.stalls.pop_front() {
                target += extra;
            }
        }
        Self::move_to(&mut st, target);
        self.moved.notify_all();
        let st = self.settle(st);
        drop(st);
    }

    fn work_begins(&self) {
        self.lock().working += 1;
    }

    fn work_ends(&self) {
        let mut st = self.lock();
        st.working = st.working.saturating_sub(1);
        drop(st);
        self.moved.notify_all();
    }

    fn sleep_working(&self, deadline: Duration) {
        let mut st = self.lock();
        if st.now >= deadline {
            return;
        }
        st.working = st.working.saturating_sub(1);
        st.parked.push(deadline);
        self.moved.notify_all();
        while st.now < deadline {
            st = self.moved.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn manual_clock_moves_only_when_told_and_wakes_sleepers_at_their_deadline() {
        let clock = Arc::new(ManualClock::new());
        assert_eq!(clock.now(), Duration::ZERO);
        let (tx, rx) = std::sync::mpsc::channel();
        let sleeper = {
            let clock = clock.clone();
            std::thread::spawn(move || {
                clock.sleep_until(Duration::from_millis(5));
                tx.send(clock.now()).expect("test receiver alive");
            })
        };
        clock.advance(Duration::from_millis(4));
        // Not yet: the sleeper's deadline is 5 ms.
        assert!(
            rx.recv_timeout(Duration::from_millis(50)).is_err(),
            "woke before its deadline"
        );
        clock.advance(Duration::from_millis(3));
        let woke_at = rx.recv().expect("sleeper woke");
        assert_eq!(woke_at, Duration::from_millis(7));
        sleeper.join().expect("sleeper thread");
        clock.set(Duration::from_millis(1));
        assert_eq!(
            clock.now(),
            Duration::from_millis(7),
            "time never goes back"
        );
    }

    #[test]
    fn pacing_waits_for_handed_off_work_and_adds_scripted_stalls() {
        let clock = Arc::new(ManualClock::with_stalls(&[(
            Duration::from_millis(3),
            Duration::from_millis(10),
        )]));
        // A worker given a piece of work that sleeps 2 ms in the middle of it.
        clock.work_begins();
        let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let worker = {
            let (clock, done) = (clock.clone(), done.clone());
            std::thread::spawn(move || {
                clock.sleep_working(Duration::from_millis(2));
                // Finishing takes real time; pacing must wait for it.
                std::thread::sleep(Duration::from_millis(30));
                done.store(
                    clock.now().as_millis() as u64,
                    std::sync::atomic::Ordering::SeqCst,
                );
                clock.work_ends();
            })
        };
        clock.pace_to(Duration::from_millis(1));
        assert_eq!(clock.now(), Duration::from_millis(1));
        assert_eq!(
            done.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "still asleep"
        );
        clock.pace_to(Duration::from_millis(2));
        // Woken at 2 ms, and done before pacing returned.
        assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), 2);
        worker.join().expect("worker");
        // The stall: pacing to 3 ms lands at 13 ms, once.
        clock.pace_to(Duration::from_millis(3));
        assert_eq!(clock.now(), Duration::from_millis(13));
        clock.pace_to(Duration::from_millis(4));
        assert_eq!(clock.now(), Duration::from_millis(13), "already past 4 ms");
        clock.pace_to(Duration::from_millis(14));
        assert_eq!(clock.now(), Duration::from_millis(14));
    }

    #[test]
    fn wall_clock_sleeps_at_least_until_the_deadline() {
        let c = WallClock::new();
        let d = c.now() + Duration::from_millis(2);
        c.sleep_until(d);
        assert!(c.now() >= d);
    }
}
