//! Lockstep executor: simulated time, one thread. Each physics step, every joint whose
//! period has come is sent its sample, its service runs, and its reply is collected,
//! all through the service's channels; then the plant steps. Same scene and seed give
//! byte-identical results. The wall clock is used only by the hang watchdog.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crossbeam::channel::TryRecvError;

use super::clock::{Clock, WallClock};
use super::plant::{DriveMode, Plant};
use super::service::{ServiceInput, ServiceOutput};
use super::watchdog::{self, Heartbeat};
use super::{Progress, RunOptions, build_services};
use crate::scene::Scene;
use crate::telemetry::Report;

pub(super) fn run(scene: &Scene, opts: &RunOptions, progress: Progress) -> std::io::Result<Report> {
    let clock: Arc<dyn Clock> = Arc::new(WallClock::new());
    let cancel = Arc::new(AtomicBool::new(false));
    let mut plant = Plant::new(scene, opts.build);
    let (mut services, ports) = build_services(scene, opts.build.copies, &cancel);
    let hb = Heartbeat::new(cancel);
    let dog = watchdog::spawn(
        hb.clone(),
        clock.clone(),
        opts.hang_timeout,
        opts.on_hang.clone(),
    )?;
    let duration = opts.duration_s.unwrap_or(scene.duration_s);
    let total = (duration / plant.dt).round() as u64;
    let every = (total / 200).max(1);
    let mut aborted = None;
    'steps: for step in 0..total {
        for i in 0..plant.joints.len() {
            if !plant.due(i) || plant.joints[i].mode != DriveMode::Controller {
                continue;
            }
            let input = plant.sample(i);
            let seq = plant.joints[i].seq;
            // The inbox is empty here (the service drained it last tick), so this
            // cannot block; a failure means the service is gone.
            if ports[i]
                .to_service
                .try_send(ServiceInput { seq, input })
                .is_err()
            {
                plant.fault(i, "service_gone", "joint service inbox closed".into());
                continue;
            }
            hb.enter(i, plant.t, clock.now());
            services[i].poll();
            hb.exit();
            if let Some(j) = hb.tripped() {
                let name = plant.joints[j].name.clone();
                plant.fault(
                    j,
                    "controller_hang",
                    format!(
                        "controller did not return within {:?} (wall clock)",
                        opts.hang_timeout
                    ),
                );
                aborted = Some(format!(
                    "watchdog: joint '{name}' controller hung at t = {:.3} s",
                    plant.t
                ));
                break 'steps;
            }
            match ports[i].from_service.try_recv() {
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
        if step % every == 0 {
            progress(plant.t, duration);
        }
    }
    progress(plant.t, duration);
    hb.stop();
    let _ = dog.join();
    let wall = clock.now().as_secs_f64();
    Ok(plant.report(scene, "lockstep", wall, aborted))
}
