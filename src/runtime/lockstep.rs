//! Lockstep executor: simulated time, one thread. The shared step (`core.rs`) runs
//! each due service in place right after sending its sample, so its reply acts in
//! the same step; silence is judged on simulated time. Same scene and seed give
//! byte-identical results.
//!
//! Controller faults run in [`FaultMode::Simulated`]: a slow reply arrives `ms` of
//! simulated time later and a hung service is simply silent. The wall clock is used
//! only by the pacer (a run watched at 1x) and by the watchdog, the backstop for a
//! controller that really never returns.

use std::sync::Arc;

use super::core::{Core, Host, TimeBase};
use super::pace::Gate;
use super::service::JointService;
use super::watchdog::{self, Heartbeat};
use super::{Progress, RunError, RunOptions};
use crate::report::Report;
use crate::scene::Scene;

/// Services run in place, on the executor's thread, under the watchdog.
struct InPlace {
    services: Vec<JointService>,
    hb: Arc<Heartbeat>,
    dog: Option<std::thread::JoinHandle<()>>,
    clock: Arc<dyn crate::sys::clock::Clock>,
}

impl Host for InPlace {
    fn start(&mut self, i: usize, service: JointService) -> Result<(), RunError> {
        self.services[i] = service;
        Ok(())
    }

    fn sent(&mut self, i: usize, t: f64) -> Result<bool, usize> {
        self.hb.enter(i, t, self.clock.now());
        self.services[i].poll();
        self.hb.exit();
        match self.hb.tripped() {
            Some(j) => Err(j),
            None => Ok(true),
        }
    }

    fn in_place(&self) -> bool {
        true
    }
}

impl InPlace {
    fn stop_watchdog(&mut self) {
        self.hb.stop();
        if let Some(d) = self.dog.take() {
            let _ = d.join();
        }
    }
}

impl Drop for InPlace {
    fn drop(&mut self) {
        self.stop_watchdog();
    }
}

/// A lockstep simulation that can be advanced step by step.
pub struct Lockstep {
    core: Core,
    host: InPlace,
    /// The clock's reading when simulated time began: the run's wall time counts
    /// from here (not the setup before: processes started, a live client awaited).
    started: std::time::Duration,
}

impl Lockstep {
    /// Builds the plant and services and starts the watchdog.
    pub fn new(scene: &Scene, opts: &RunOptions) -> Result<Self, RunError> {
        let (core, mut services) = Core::new(
            scene,
            opts,
            TimeBase::Simulated,
            opts.lockstep_faults,
            "lockstep",
        )?;
        // Service processes start, and external services are waited for, before
        // simulated time begins (and before the watchdog watches).
        for s in &mut services {
            s.prepare();
        }
        // The watchdog's cancel releases any service stuck in a real hang.
        let hb = Heartbeat::new(core.run_cancel());
        let dog = watchdog::spawn(
            hb.clone(),
            core.clock.clone(),
            opts.hang_timeout,
            opts.on_hang.clone(),
        )
        .map_err(RunError::Thread)?;
        let clock = core.clock.clone();
        let started = clock.now();
        Ok(Self {
            core,
            host: InPlace {
                services,
                hb,
                dog: Some(dog),
                clock,
            },
            started,
        })
    }

    /// One physics step with every due service tick. Returns false once the run must
    /// end.
    pub fn step(&mut self) -> Result<bool, RunError> {
        self.core.step(&mut self.host)
    }

    /// Simulated time, s, and physics steps so far.
    pub fn t(&self) -> f64 {
        self.core.plant.t()
    }

    pub fn steps(&self) -> u64 {
        self.core.plant.steps()
    }

    /// The plant, to look at between steps (its joints, events, contacts).
    pub fn plant(&self) -> &super::plant::Plant {
        &self.core.plant
    }

    /// Where each joint's service runs now (`thread`, `process 1234`, ...).
    pub fn services(&self) -> Vec<String> {
        self.core.services()
    }

    /// Why the run ended early, if it did.
    pub fn aborted(&self) -> Option<&str> {
        self.core.aborted.as_deref()
    }

    /// Paused or ahead of the wall clock: commands still act at once and their events
    /// are published.
    fn idle(&mut self) -> Result<(), RunError> {
        self.core.commands()?;
        self.core.flush_events();
        Ok(())
    }

    /// Stops the watchdog and produces the report.
    pub fn finish(mut self, scene: &Scene) -> Report {
        self.host.stop_watchdog();
        let wall = self.core.clock.now().saturating_sub(self.started);
        self.core
            .finish(scene, "lockstep", wall.as_secs_f64(), None)
    }
}

pub(super) fn run(
    scene: &Scene,
    opts: &RunOptions,
    progress: Progress,
) -> Result<Report, RunError> {
    let mut sim = Lockstep::new(scene, opts)?;
    let (duration, total, every) = sim.core.length(scene, opts);
    while sim.steps() < total {
        if super::stop_asked(opts) {
            break;
        }
        let now = sim.core.clock.now();
        let t = sim.t();
        let gate = match &mut sim.core.pacer {
            Some(p) => p.gate(now, t),
            None => Gate::Go,
        };
        match gate {
            Gate::Go => {
                if !sim.step()? {
                    break;
                }
                if sim.steps() % every == 0 {
                    progress(sim.t(), duration);
                }
            }
            Gate::Wait(d) => {
                std::thread::sleep(d);
                sim.idle()?;
            }
        }
        sim.core.publish(false);
    }
    progress(sim.t(), duration);
    Ok(sim.finish(scene))
}
