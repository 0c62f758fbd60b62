//! Lockstep executor: simulated time, one thread. Each physics step, every joint whose
//! period has come is sent its sample, its service runs, and its reply is collected,
//! all through the service's channels; then the plant steps. Same scene and seed give
//! byte-identical results. The wall clock is used only by the hang watchdog.
//!
//! [`Lockstep`] is steppable, so a Bevy app (see `crate::app`) can advance it a batch
//! of steps per frame; [`run`] drives it to the end.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crossbeam::channel::TryRecvError;

use super::clock::{Clock, WallClock};
use super::plant::{DriveMode, Plant};
use super::service::{JointService, ServiceInput, ServiceOutput, ServicePort};
use super::watchdog::{self, Heartbeat};
use super::{Progress, RunOptions, build_services};
use crate::scene::Scene;
use crate::telemetry::Report;

/// A lockstep simulation that can be advanced step by step.
pub struct Lockstep {
    pub plant: Plant,
    services: Vec<JointService>,
    ports: Vec<ServicePort>,
    hb: Arc<Heartbeat>,
    dog: Option<std::thread::JoinHandle<()>>,
    clock: Arc<dyn Clock>,
    hang_timeout: Duration,
    /// Why the run ended early, if it did.
    pub aborted: Option<String>,
}

impl Lockstep {
    /// Builds the plant and services and starts the watchdog.
    pub fn new(scene: &Scene, opts: &RunOptions) -> std::io::Result<Self> {
        let clock: Arc<dyn Clock> = Arc::new(WallClock::new());
        let cancel = Arc::new(AtomicBool::new(false));
        let plant = Plant::new(scene, opts.build);
        let (services, ports) = build_services(scene, opts.build.copies, &cancel);
        let hb = Heartbeat::new(cancel);
        let dog = watchdog::spawn(
            hb.clone(),
            clock.clone(),
            opts.hang_timeout,
            opts.on_hang.clone(),
        )?;
        Ok(Self {
            plant,
            services,
            ports,
            hb,
            dog: Some(dog),
            clock,
            hang_timeout: opts.hang_timeout,
            aborted: None,
        })
    }

    /// One physics step with every due service tick. Returns false once aborted.
    pub fn step(&mut self) -> bool {
        if self.aborted.is_some() {
            return false;
        }
        let plant = &mut self.plant;
        for i in 0..plant.joints.len() {
            if !plant.due(i) || plant.joints[i].mode != DriveMode::Controller {
                continue;
            }
            let input = plant.sample(i);
            let seq = plant.joints[i].seq;
            // The inbox is empty here (the service drained it last tick), so this
            // cannot block; a failure means the service is gone.
            if self.ports[i]
                .to_service
                .try_send(ServiceInput {
                    seq,
                    input,
                    reset: false,
                })
                .is_err()
            {
                plant.fault(i, "service_gone", "joint service inbox closed".into());
                continue;
            }
            self.hb.enter(i, plant.t, self.clock.now());
            self.services[i].poll();
            self.hb.exit();
            if let Some(j) = self.hb.tripped() {
                let name = plant.joints[j].name.clone();
                plant.fault(
                    j,
                    "controller_hang",
                    format!(
                        "controller did not return within {:?} (wall clock)",
                        self.hang_timeout
                    ),
                );
                self.aborted = Some(format!(
                    "watchdog: joint '{name}' controller hung at t = {:.3} s",
                    plant.t
                ));
                return false;
            }
            match self.ports[i].from_service.try_recv() {
                Ok(ServiceOutput::Command { torque, .. }) => plant.command(i, torque, input.t),
                Ok(ServiceOutput::Died { message, .. }) => {
                    plant.fault(i, "controller_panic", message)
                }
                Err(TryRecvError::Empty) => plant.joints[i].stats.deadline_misses += 1,
                Err(TryRecvError::Disconnected) => {
                    plant.fault(i, "service_gone", "joint service outbox closed".into())
                }
            }
        }
        plant.step();
        true
    }

    /// Wall time since the simulation was built, s.
    pub fn wall_time_s(&self) -> f64 {
        self.clock.now().as_secs_f64()
    }

    /// Stops the watchdog and produces the report.
    pub fn finish(mut self, scene: &Scene) -> Report {
        self.stop_watchdog();
        let wall = self.wall_time_s();
        self.plant
            .report(scene, "lockstep", wall, self.aborted.clone())
    }

    fn stop_watchdog(&mut self) {
        self.hb.stop();
        if let Some(d) = self.dog.take() {
            let _ = d.join();
        }
    }
}

impl Drop for Lockstep {
    fn drop(&mut self) {
        self.stop_watchdog();
    }
}

pub(super) fn run(scene: &Scene, opts: &RunOptions, progress: Progress) -> std::io::Result<Report> {
    let mut sim = Lockstep::new(scene, opts)?;
    let duration = opts.duration_s.unwrap_or(scene.duration_s);
    let total = (duration / sim.plant.dt).round() as u64;
    let every = (total / 200).max(1);
    for step in 0..total {
        if !sim.step() {
            break;
        }
        if step % every == 0 {
            progress(sim.plant.t, duration);
        }
    }
    progress(sim.plant.t, duration);
    Ok(sim.finish(scene))
}
