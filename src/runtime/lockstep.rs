//! Lockstep executor: simulated time, one thread. Each physics step, every joint whose
//! period has come is sent its sample, its service runs, and its reply is collected,
//! all through the service's channels; then the plant steps. Same scene and seed give
//! byte-identical results.
//!
//! Supervision is on simulated time: controller faults run in
//! [`FaultMode::Simulated`], so a slow reply arrives `ms` of simulated time later and
//! a hung service is simply silent. A service that owes a reply when its next period
//! comes has missed a deadline; one silent for `silent_periods` periods is hung, and
//! the plant restarts it or latches it FAULTED. The wall clock is used only by the
//! watchdog, the backstop for a controller that really never returns.
//!
//! [`Lockstep`] is steppable, so a Bevy app (see `crate::app`) can advance it a batch
//! of steps per frame; [`run`] drives it to the end.

use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::TryRecvError;

use super::command::ControlCommand;
use super::pace::Gate;
use super::plant::{DriveMode, Plant};
use super::service::{JointService, ServiceInput, ServiceOutput, ServicePort};
use super::watchdog::{self, Heartbeat};
use super::{Progress, RunOptions, ServiceFactory};
use crate::report::Report;
use crate::scene::Scene;
use crate::supervision::Symptom;
use crate::sys::clock::Clock;

/// A lockstep simulation that can be advanced step by step.
pub struct Lockstep {
    pub plant: Plant,
    factory: ServiceFactory,
    mail: super::manage::Mailboxes,
    services: Vec<JointService>,
    ports: Vec<ServicePort>,
    /// Per joint: since when (sim time) it has owed a reply.
    owed_since: Vec<Option<f64>>,
    /// Per joint: a reply computed but not yet arrived (Slow): (arrival, torque, for_t).
    in_flight: Vec<Option<(f64, f64, f64)>>,
    /// Commands to apply at given simulated times, in time order.
    schedule: std::collections::VecDeque<(f64, ControlCommand)>,
    control: Option<crossbeam::channel::Receiver<ControlCommand>>,
    hb: Arc<Heartbeat>,
    dog: Option<std::thread::JoinHandle<()>>,
    clock: Arc<dyn Clock>,
    hang_timeout: Duration,
    /// Why the run ended early, if it did.
    pub aborted: Option<String>,
    recorder: Option<Box<dyn super::tap::Sink>>,
    /// Wall-clock pacing, pause and single steps (see [`run`]).
    pub pacer: super::pace::Pacer,
    publisher: Option<super::live::Publisher>,
}

impl Lockstep {
    /// Builds the plant and services and starts the watchdog.
    pub fn new(scene: &Scene, opts: &RunOptions) -> std::io::Result<Self> {
        let clock = opts.clock();
        let mut plant = Plant::new(scene, opts.build);
        let recorder = super::start_recorder(scene, &mut plant, opts)?;
        let publisher = opts.live.clone().map(|tap| {
            plant.live = Some(tap.sink.clone());
            let duration = opts.duration_s.unwrap_or(scene.duration_s);
            super::live::Publisher::new(tap, duration, "lockstep")
        });
        let factory = ServiceFactory::new(
            scene,
            opts.build.copies,
            opts.lockstep_faults,
            clock.clone(),
        );
        // The watchdog's cancel releases any service stuck in a real hang.
        let cancel = factory.run_cancel.clone();
        let (services, ports) = factory.build_all();
        let n = services.len();
        let mut schedule = opts.schedule.clone();
        schedule.sort_by(|a, b| a.0.total_cmp(&b.0));
        let hb = Heartbeat::new(cancel);
        let dog = watchdog::spawn(
            hb.clone(),
            clock.clone(),
            opts.hang_timeout,
            opts.on_hang.clone(),
        )?;
        Ok(Self {
            plant,
            mail: super::manage::Mailboxes::new(n),
            factory,
            services,
            ports,
            owed_since: vec![None; n],
            in_flight: vec![None; n],
            schedule: schedule.into(),
            control: opts.control.clone(),
            hb,
            dog: Some(dog),
            clock,
            hang_timeout: opts.hang_timeout,
            aborted: None,
            recorder,
            pacer: super::pace::Pacer::new(opts.pace),
            publisher,
        })
    }

    /// One physics step with every due service tick. Returns false once aborted.
    pub fn step(&mut self) -> bool {
        if self.aborted.is_some() {
            return false;
        }
        self.plant.timeline();
        self.commands();
        for i in 0..self.plant.joints.len() {
            if self.plant.restart_due(i) {
                self.restart(i);
            }
            self.deliver(i);
            self.mail.flush(i, &self.ports[i]);
            if !self.plant.due(i) || self.plant.joints[i].mode != DriveMode::Controller {
                continue;
            }
            if let Some(since) = self.owed_since[i] {
                // Still owes a reply: a deadline miss; silent long enough, a hang.
                let plant = &mut self.plant;
                plant.joints[i].stats.deadline_misses += 1;
                let silent = plant.t - since;
                let periods = plant.joints[i].supervision.silent_periods;
                let limit = periods as f64 * plant.joints[i].period;
                plant.late(i);
                if silent + 1e-9 >= limit {
                    plant.symptom(i, Symptom::Silent, "no reply");
                    plant.controller_failed(
                        i,
                        "controller_hang",
                        format!(
                            "no reply for {:.1} ms ({periods} control periods)",
                            silent * 1e3
                        ),
                    );
                    self.owed_since[i] = None;
                    self.in_flight[i] = None;
                }
                continue;
            }
            if !self.tick(i) {
                return false;
            }
        }
        self.plant.step();
        true
    }

    /// Sends joint `i` its sample and collects the reply. False if the run aborts.
    fn tick(&mut self, i: usize) -> bool {
        let plant = &mut self.plant;
        let input = plant.sample(i);
        if plant.joints[i].mode != DriveMode::Controller {
            // The sample itself tripped the joint (following error).
            return true;
        }
        let seq = plant.joints[i].seq;
        // The inbox is empty here (the service drained it last tick), so this
        // cannot block; a failure means the service is gone.
        if self.ports[i]
            .to_service
            .try_send(ServiceInput {
                seq,
                input,
                reset: std::mem::take(&mut plant.joints[i].reset_controller),
            })
            .is_err()
        {
            plant.fault(i, "service_gone", "joint service inbox closed".into());
            return true;
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
            Ok(ServiceOutput::Command {
                torque, delay_s, ..
            }) => {
                if delay_s > 0.0 {
                    self.in_flight[i] = Some((plant.t + delay_s, torque, input.t));
                    self.owed_since[i] = Some(plant.t);
                } else {
                    plant.command(i, torque, input.t);
                    plant.replied(i);
                }
            }
            Ok(ServiceOutput::Died { message, .. }) => {
                plant.symptom(i, Symptom::Died, &message);
                plant.controller_failed(i, "controller_panic", message);
            }
            Err(TryRecvError::Empty) => self.owed_since[i] = Some(plant.t),
            Err(TryRecvError::Disconnected) => {
                plant.fault(i, "service_gone", "joint service outbox closed".into())
            }
        }
        true
    }

    /// A delayed reply whose simulated arrival has come.
    fn deliver(&mut self, i: usize) {
        if let Some((at, torque, for_t)) = self.in_flight[i]
            && self.plant.t + 1e-12 >= at
        {
            self.in_flight[i] = None;
            self.owed_since[i] = None;
            self.plant.command(i, torque, for_t);
            self.plant.replied(i);
        }
    }

    /// Replaces joint `i`'s service with a fresh one.
    fn restart(&mut self, i: usize) {
        let (s, p) = self.factory.build(i, &self.plant.struck(i));
        // Releases the old service if it is stuck in a (real) hang.
        self.ports[i]
            .cancel
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.services[i] = s;
        self.ports[i] = p;
        self.owed_since[i] = None;
        self.in_flight[i] = None;
        self.mail.restarted(i);
        self.plant.restarted(i);
    }

    /// Applies scheduled and channel commands due now.
    pub fn commands(&mut self) {
        let mut due = Vec::new();
        while self
            .schedule
            .front()
            .is_some_and(|(t, _)| *t <= self.plant.t + 1e-9)
        {
            if let Some((_, c)) = self.schedule.pop_front() {
                due.push(c);
            }
        }
        if let Some(rx) = &self.control {
            while let Ok(c) = rx.try_recv() {
                due.push(c);
            }
        }
        for c in due {
            if let ControlCommand::Pace(p) = c {
                self.pacer.apply(p);
                self.plant.event(usize::MAX, "pace", pace_text(p));
                continue;
            }
            if let ControlCommand::Swap {
                joint,
                backend: crate::scene::BackendSpec::Serial { .. },
            } = &c
            {
                // No buses here: a real servo lives on the wall clock.
                let i = self.plant.joints.iter().position(|j| &j.name == joint);
                self.plant.event(
                    i.unwrap_or(usize::MAX),
                    "swap_refused",
                    "a serial servo needs the real-time executor (run with --realtime)".into(),
                );
                continue;
            }
            if let Some((i, m)) = super::command::apply(&mut self.plant, c)
                && let Err(why) = self.mail.send(i, m, &self.ports[i], &mut self.factory)
            {
                self.plant.event(i, "command_refused", why);
            }
        }
    }

    /// Publishes a live snapshot if one is due (or `force`).
    pub fn publish(&mut self, force: bool) {
        if let Some(p) = &mut self.publisher {
            p.publish(
                self.clock.now(),
                &self.plant,
                Some(&self.pacer),
                &self.factory,
                force,
            );
        }
    }

    /// Wall time since the simulation was built, s.
    pub fn wall_time_s(&self) -> f64 {
        self.clock.now().as_secs_f64()
    }

    /// Stops the watchdog and produces the report.
    pub fn finish(mut self, scene: &Scene) -> Report {
        self.stop_watchdog();
        let wall = self.wall_time_s();
        let mut report = self
            .plant
            .report(scene, "lockstep", wall, self.aborted.clone());
        super::finish_recorder(&mut self.plant, self.recorder.take(), &mut report);
        if let Some(p) = &mut self.publisher {
            p.publish(
                self.clock.now(),
                &self.plant,
                Some(&self.pacer),
                &self.factory,
                true,
            );
            p.finish(&report);
        }
        report
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
    while sim.plant.steps < total {
        if super::stop_asked(opts) {
            break;
        }
        match sim.pacer.gate(sim.clock.now(), sim.plant.t) {
            Gate::Go => {
                if !sim.step() {
                    break;
                }
                if sim.plant.steps % every == 0 {
                    progress(sim.plant.t, duration);
                }
            }
            Gate::Wait(d) => {
                std::thread::sleep(d);
                // Paused or ahead of the wall clock: commands still act at once.
                sim.commands();
                sim.plant.flush_events();
            }
        }
        sim.publish(false);
    }
    progress(sim.plant.t, duration);
    Ok(sim.finish(scene))
}

/// Event text of a pacing command.
fn pace_text(p: super::command::Pace) -> String {
    use super::command::Pace;
    match p {
        Pace::Pause => "paused".into(),
        Pace::Resume => "resumed".into(),
        Pace::Step(n) => format!("single step x{n}"),
        Pace::Speed(Some(s)) => format!("speed x{s}"),
        Pace::Speed(None) => "speed: as fast as possible".into(),
    }
}
