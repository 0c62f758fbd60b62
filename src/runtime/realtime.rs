//! Real-time executor: the shared step (`core.rs`) paced by the run's clock at the
//! physics rate on the calling thread; each joint service runs on its own thread and
//! answers samples sent at its own period, its reply collected at a later step.
//! Physics never waits for a service: it uses the last command and records its age.
//! Silence is judged on the clock: a service that still owes its previous reply when
//! its next sample is due has missed a deadline; after `silent_periods` periods of
//! silence it is declared hung, its joint goes to its safe state while every other
//! joint keeps running, and the supervisor starts a fresh service thread (its restart
//! policy allowing), abandoning the hung one and releasing it through its cancel
//! flag. Time the host stalled the executor itself is not held against services.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::core::{Core, Host, TimeBase};
use super::service::{FaultMode, JointService};
use super::{Progress, RunError, RunOptions};
use crate::report::{Lateness, Report};
use crate::scene::Scene;
use crate::sys::clock::Clock;

/// Services on their own threads.
struct Threads {
    stop: Arc<AtomicBool>,
    ready: crossbeam::channel::Sender<()>,
    rt_priority: Option<i32>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Host for Threads {
    fn start(&mut self, _i: usize, service: JointService) -> Result<(), RunError> {
        let t = spawn_service(service, &self.stop, &self.ready, self.rt_priority)
            .map_err(RunError::Thread)?;
        self.threads.push(t);
        Ok(())
    }

    fn sent(&mut self, _i: usize, _t: f64) -> Result<bool, usize> {
        Ok(false) // the reply comes on the service's own thread, collected later
    }

    fn in_place(&self) -> bool {
        false
    }
}

/// A real-time run that can be advanced step by step (each step waits for its
/// deadline on the run's clock).
pub struct Realtime {
    core: Core,
    host: Threads,
    /// Clock reading at the first step.
    start: Duration,
    dt: Duration,
    step: u64,
    lateness_us: Vec<f64>,
    prev_late: Duration,
    rt_priority: Option<i32>,
}

impl Realtime {
    /// Builds the plant, starts every service thread (waiting until each runs),
    /// takes the real-time priority if asked, and starts the buses.
    pub fn new(scene: &Scene, opts: &RunOptions) -> Result<Self, RunError> {
        let (mut core, services) =
            Core::new(scene, opts, TimeBase::Clock, FaultMode::Real, "realtime")?;
        // Each service thread reports once it is running (and scheduled as asked),
        // so the clock starts only when every service can answer. Capacity: one per
        // service (restarted services report too; nobody waits for those, and a full
        // channel only drops their report).
        let (ready, ready_rx) = crossbeam::channel::bounded(services.len().max(1));
        let mut host = Threads {
            stop: Arc::new(AtomicBool::new(false)),
            ready,
            rt_priority: opts.rt_priority,
            threads: Vec::new(),
        };
        let count = services.len();
        for (i, s) in services.into_iter().enumerate() {
            host.start(i, s)?;
        }
        for _ in 0..count {
            if ready_rx.recv_timeout(Duration::from_secs(5)).is_err() {
                break;
            }
        }
        if let Some(p) = opts.rt_priority {
            let detail = match crate::sys::priority::set_fifo(p) {
                Ok(()) => format!("SCHED_FIFO priority {p} (services {})", (p - 1).max(1)),
                Err(e) => format!("SCHED_FIFO {p} refused ({e}); normal scheduling"),
            };
            core.plant.event(usize::MAX, "rt_priority", detail);
        }
        // Sleep overshoot is bounded by the timer slack (50 µs by default): ask for 1 µs.
        #[cfg(target_os = "linux")]
        {
            // SAFETY: PR_SET_TIMERSLACK only changes the calling thread's timer slack.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong) };
        }
        core.start_buses(opts.rt_priority)?;
        let dt = Duration::from_secs_f64(core.plant.dt());
        let start = core.clock.now();
        core.mark_start();
        Ok(Self {
            core,
            host,
            start,
            dt,
            step: 0,
            lateness_us: Vec::new(),
            prev_late: Duration::ZERO,
            rt_priority: opts.rt_priority,
        })
    }

    /// Waits for the next step's deadline, then runs it. Returns false once the run
    /// must end.
    pub fn step(&mut self) -> Result<bool, RunError> {
        let deadline = self.start + self.dt * self.step as u32;
        self.step += 1;
        let clock = self.core.clock.clone();
        clock.pace_to(deadline);
        let late = clock.now().saturating_sub(deadline);
        self.lateness_us.push(late.as_secs_f64() * 1e6);
        // Lateness grows only while this thread could not run (the process or the
        // machine stalled). Services could not run then either: that time is not
        // held against them.
        let stalled = late.saturating_sub(self.prev_late);
        self.prev_late = late;
        if stalled > Duration::from_micros(200) {
            self.core.forgive(stalled.as_secs_f64());
        }
        self.core.step(&mut self.host)
    }

    /// Stops the buses and every service thread, and produces the report.
    pub fn finish(self, scene: &Scene) -> Report {
        let Self {
            core,
            host,
            start,
            mut lateness_us,
            rt_priority,
            ..
        } = self;
        let wall = (core.clock.now().saturating_sub(start)).as_secs_f64();
        host.stop.store(true, Ordering::Relaxed);
        core.cancel_services();
        let period_us = core.plant.dt() * 1e6;
        let missed = lateness_us
            .iter()
            .filter(|&&l| l + 1e-3 >= period_us)
            .count() as u64;
        let mut report = core.finish(scene, "realtime", wall, Some(percentiles(&mut lateness_us)));
        report.missed_steps = Some(missed);
        // Hung threads are released by their cancel flags; give every thread a moment
        // to end so nothing outlives the run, but never let a controller that ignores
        // the cancel hold the run: it stays detached. (OS threads end on the
        // machine's time, not on the run's clock, which a test may hold still.)
        let os = crate::sys::clock::WallClock::new();
        let until = Duration::from_millis(500);
        for t in host.threads {
            while !t.is_finished() && os.now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
        if rt_priority.is_some() {
            // Back to normal scheduling for whatever the calling thread does next.
            #[cfg(target_os = "linux")]
            {
                let param = libc::sched_param { sched_priority: 0 };
                // SAFETY: as in `priority::set_fifo`: only the calling thread is affected.
                unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) };
            }
        }
        report
    }
}

pub(super) fn run(
    scene: &Scene,
    opts: &RunOptions,
    progress: Progress,
) -> Result<Report, RunError> {
    let mut rt = Realtime::new(scene, opts)?;
    let (duration, total, every) = rt.core.length(scene, opts);
    for step in 0..total {
        if super::stop_asked(opts) || !rt.step()? {
            break;
        }
        if step % every == 0 {
            progress(rt.core.plant.t(), duration);
        }
        rt.core.publish(false);
    }
    progress(rt.core.plant.t(), duration);
    Ok(rt.finish(scene))
}

fn percentiles(v: &mut [f64]) -> Lateness {
    if v.is_empty() {
        return Lateness {
            p50: 0.0,
            p99: 0.0,
            p999: 0.0,
            max: 0.0,
        };
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Lateness {
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
        max: v[v.len() - 1],
    }
}

/// Starts a service's thread. It reports on `ready` once running (and scheduled as
/// asked) and serves until `stop`, its executor going away, or its death.
fn spawn_service(
    mut s: JointService,
    stop: &Arc<AtomicBool>,
    ready: &crossbeam::channel::Sender<()>,
    prio: Option<i32>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let stop = stop.clone();
    let ready = ready.clone();
    std::thread::Builder::new()
        .name(format!("joint-{}", s.name))
        .spawn(move || {
            if let Some(p) = prio {
                let _ = crate::sys::priority::set_fifo((p - 1).max(1));
            }
            // A service in its own process starts it here, off the executor's thread.
            s.prepare();
            let _ = ready.try_send(());
            while !stop.load(Ordering::Relaxed) && s.serve_one(Duration::from_millis(50)) {}
        })
}
