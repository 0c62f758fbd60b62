//! Wall-clock watchdog for the lockstep executor. The executor marks when it enters
//! and leaves each joint service; a watchdog thread checks every few milliseconds and,
//! if one call has not returned within the timeout, names the joint, sets the cancel
//! flag (which releases injected hangs) and calls the `on_hang` hook (the CLI's hook
//! ends the process with exit 1 if the run does not end by itself within a second).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::sys::clock::Clock;

const IDLE: usize = usize::MAX;

/// Shared between the executor and the watchdog thread.
pub struct Heartbeat {
    busy: AtomicUsize,
    since_ns: AtomicU64,
    sim_t_bits: AtomicU64,
    /// Joint index that tripped the watchdog, or IDLE.
    tripped: AtomicUsize,
    pub cancel: Arc<AtomicBool>,
    stop: AtomicBool,
}

impl Heartbeat {
    pub fn new(cancel: Arc<AtomicBool>) -> Arc<Self> {
        Arc::new(Self {
            busy: AtomicUsize::new(IDLE),
            since_ns: AtomicU64::new(0),
            sim_t_bits: AtomicU64::new(0),
            tripped: AtomicUsize::new(IDLE),
            cancel,
            stop: AtomicBool::new(false),
        })
    }

    /// The executor is about to call joint `i`'s service at sim time `t`.
    #[inline]
    pub fn enter(&self, i: usize, t: f64, now: Duration) {
        self.since_ns
            .store(now.as_nanos() as u64, Ordering::Relaxed);
        self.sim_t_bits.store(t.to_bits(), Ordering::Relaxed);
        self.busy.store(i, Ordering::Release);
    }

    /// The call returned.
    #[inline]
    pub fn exit(&self) {
        self.busy.store(IDLE, Ordering::Release);
    }

    /// The joint that hung, if the watchdog fired.
    pub fn tripped(&self) -> Option<usize> {
        match self.tripped.load(Ordering::Acquire) {
            IDLE => None,
            i => Some(i),
        }
    }

    /// Ends the watchdog thread.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Hook called from the watchdog thread: (joint index, sim time of the stuck call).
pub type HangHook = Arc<dyn Fn(usize, f64) + Send + Sync>;

/// Starts the watchdog thread.
pub fn spawn(
    hb: Arc<Heartbeat>,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    on_hang: Option<HangHook>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("armhil-watchdog".into())
        .spawn(move || {
            while !hb.stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(10));
                let busy = hb.busy.load(Ordering::Acquire);
                if busy == IDLE {
                    continue;
                }
                let since = Duration::from_nanos(hb.since_ns.load(Ordering::Relaxed));
                if clock.now().saturating_sub(since) > timeout
                    && hb.busy.load(Ordering::Acquire) == busy
                {
                    hb.tripped.store(busy, Ordering::Release);
                    hb.cancel.store(true, Ordering::Release);
                    if let Some(h) = &on_hang {
                        h(busy, f64::from_bits(hb.sim_t_bits.load(Ordering::Relaxed)));
                    }
                    return;
                }
            }
        })
}
