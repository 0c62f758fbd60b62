//! The executor core: one physics step with every due joint tick, written once for
//! both executors. A step applies the commands due (scheduled ones, then the control
//! channel's), collects every reply waiting from the joint services, restarts the
//! services whose restart is due, delivers delayed replies whose time has come, asks
//! the supervisor what each due joint's silence means (send its next sample, count a
//! missed deadline, declare it hung), exchanges goals and measurements with the
//! serial buses, and steps the plant, which records and publishes.
//!
//! The executors differ only in how time advances and where services run. Lockstep
//! (`lockstep.rs`) advances simulated time as fast as it may, judges silence on it and
//! runs each service in place right after sending its sample ([`Host`] returns
//! `collect now`); real time (`realtime.rs`) paces steps on the run's clock, judges
//! silence on that clock (forgiving time the host stalled the executor itself, and
//! correlated silence of several services for a short grace), and runs each service
//! on its own thread, whose reply is collected at a later step.

use std::collections::VecDeque;
use std::sync::Arc;

use crossbeam::channel::{Receiver, TryRecvError, TrySendError};

use super::buses::Buses;
use super::command::ControlCommand;
use super::live::Publisher;
use super::manage::Mailboxes;
use super::observers::Observers;
use super::pace::Pacer;
use super::plant::{DriveMode, Plant};
use super::service::{FaultMode, JointService, ServiceInput, ServiceOutput, ServicePort};
use super::supervisor::{Supervisor, Tick};
use super::tap::Sink;
use super::{RunError, RunOptions, ServiceFactory};
use crate::report::Report;
use crate::scene::{BackendSpec, Scene};
use crate::supervision::Symptom;
use crate::sys::clock::Clock;

/// Where joint services run.
pub(crate) trait Host {
    /// Serves joint `i` with `service` from now on (at the start, and after each
    /// restart: the old service has been released through its port's cancel flag).
    fn start(&mut self, i: usize, service: JointService) -> Result<(), RunError>;

    /// A sample was just handed to joint `i`'s service (simulated time `t`). Returns
    /// whether its reply is there to collect now (a service run in place), or
    /// `Err(joint)` when a service call never returned (the lockstep watchdog).
    fn sent(&mut self, i: usize, t: f64) -> Result<bool, usize>;

    /// Whether services run in place (their replies are always collected at once, so
    /// no reply can be waiting at the start of a step).
    fn in_place(&self) -> bool;
}

/// What silence is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeBase {
    /// Simulated time (lockstep).
    Simulated,
    /// The run's clock (real time).
    Clock,
}

/// How long correlated silence of several services (a machine stall) is forgiven
/// before the silent services are faulted anyway, s (real time only).
const SYSTEMIC_GRACE_S: f64 = 0.1;

/// The state of a run that both executors share.
pub(crate) struct Core {
    pub(crate) plant: Plant,
    /// The sinks' and live feed's taps, beside the plant.
    observers: Observers,
    factory: ServiceFactory,
    mail: Mailboxes,
    ports: Vec<ServicePort>,
    sup: Supervisor,
    schedule: VecDeque<(f64, ControlCommand)>,
    control: Option<Receiver<ControlCommand>>,
    /// Lockstep's wall-clock pacing, pause and single steps; real time keeps the
    /// clock's pace and refuses pacing commands.
    pub(crate) pacer: Option<Pacer>,
    buses: Option<Buses>,
    /// The served bus's transactions (`armhil serve`).
    served: Option<super::served::ServedLog>,
    /// The recorder and the live server.
    sinks: Vec<Box<dyn Sink>>,
    /// When simulated time 0 was, on the system clock, s since the Unix epoch: real
    /// time's step k is due then + k·dt (for the live server's latency figures).
    started_unix_s: Option<f64>,
    publisher: Option<Publisher>,
    pub(crate) clock: Arc<dyn Clock>,
    time: TimeBase,
    /// Per joint, reused every step (no allocation on the control path): whether its
    /// period has come, and its period, s.
    due: Vec<bool>,
    periods: Vec<f64>,
    /// Why the run ended early, if it did.
    pub(crate) aborted: Option<String>,
    /// The supervision time when the run started (the clock's reading).
    start: f64,
    /// Targets commanded as a stream (ROS 2), the version last taken, and a buffer
    /// reused every time they change (no allocation on the control path).
    targets: Option<(
        super::commanded::Targets,
        u64,
        Vec<Option<super::commanded::Target>>,
    )>,
}

impl Core {
    /// Builds the plant, the sinks and live publisher, and every joint's service
    /// (returned, for the host to start).
    pub(crate) fn new(
        scene: &Scene,
        opts: &RunOptions,
        time: TimeBase,
        faults: FaultMode,
        executor: &'static str,
    ) -> Result<(Self, Vec<JointService>), RunError> {
        let clock = opts.clock();
        let mut plant = Plant::new(scene, opts.build);
        for s in &opts.served {
            plant.serve(s.clone());
        }
        // Link frames: the scene's names; copies of the arm (benchmarks) as `name#k`.
        let links = (0..opts.build.copies)
            .flat_map(|k| {
                scene.arm.links.iter().map(move |l| match k {
                    0 => l.name.clone(),
                    k => format!("{}#{k}", l.name),
                })
            })
            .collect();
        let mut observers = Observers::new(plant.joints().len(), scene.serial_ports(), links);
        let sinks =
            super::start_sinks(scene, &plant, &mut observers, opts, time == TimeBase::Clock)?;
        let publisher = opts.live.clone().map(|tap| {
            observers.set_live(tap.sink.clone());
            let duration = opts.duration_s.unwrap_or(scene.duration_s);
            Publisher::new(tap, duration, executor)
        });
        let sup = Supervisor::new(
            scene,
            opts.build.copies,
            (time == TimeBase::Clock).then_some(SYSTEMIC_GRACE_S),
        );
        let procs = super::ProcessOptions::new(scene, opts, time == TimeBase::Simulated)?;
        let factory = ServiceFactory::new(scene, opts.build.copies, faults, clock.clone(), procs);
        let (services, ports) = factory.build_all();
        let n = services.len();
        // A joint's period is fixed for the run.
        let periods = plant.joints().iter().map(|j| j.period()).collect();
        let mut schedule = opts.schedule.clone();
        schedule.sort_by(|a, b| a.0.total_cmp(&b.0));
        let start = clock.now().as_secs_f64();
        let served = opts
            .served_tap
            .as_ref()
            .map(|t| super::served::ServedLog::new(t, &opts.served, &plant));
        Ok((
            Self {
                plant,
                observers,
                factory,
                mail: Mailboxes::new(n),
                ports,
                sup,
                schedule: schedule.into(),
                control: opts.control.clone(),
                pacer: (time == TimeBase::Simulated).then(|| Pacer::new(opts.pace)),
                buses: None,
                served,
                sinks,
                started_unix_s: None,
                publisher,
                clock,
                time,
                due: vec![false; n],
                periods,
                aborted: None,
                start,
                targets: opts.targets.clone().map(|t| (t, 0, Vec::new())),
            },
            services,
        ))
    }

    /// Starts the serial buses the plant's hardware joints need (real time only: a
    /// servo on a bus lives on the wall clock).
    pub(crate) fn start_buses(&mut self, rt_priority: Option<i32>) -> Result<(), RunError> {
        self.buses = Some(Buses::start(
            &mut self.plant,
            self.clock.clone(),
            rt_priority,
        )?);
        Ok(())
    }

    /// The run's length for `run`: (simulated seconds, physics steps, steps between
    /// progress reports: about 200 reports a run).
    pub(crate) fn length(&self, scene: &Scene, opts: &RunOptions) -> (f64, u64, u64) {
        let duration = opts.duration_s.unwrap_or(scene.duration_s);
        let total = (duration / self.plant.dt()).round() as u64;
        (duration, total, (total / 200).max(1))
    }

    /// Where each joint's service runs now.
    pub(crate) fn services(&self) -> Vec<String> {
        self.ports
            .iter()
            .enumerate()
            .map(|(i, p)| self.factory.location(i, p))
            .collect()
    }

    /// Releases any service stuck in a hang (the run is being torn down).
    pub(crate) fn cancel_services(&self) {
        use std::sync::atomic::Ordering;
        self.factory.run_cancel.store(true, Ordering::Relaxed);
        for p in &self.ports {
            p.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// The cancel flag that releases every service of the run.
    pub(crate) fn run_cancel(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.factory.run_cancel.clone()
    }

    /// Supervision time now, s: simulated time, or the clock since the start.
    fn now(&self) -> f64 {
        match self.time {
            TimeBase::Simulated => self.plant.t(),
            TimeBase::Clock => self.clock.now().as_secs_f64() - self.start,
        }
    }

    /// The executor could not run for `stalled` s: not held against any service.
    pub(crate) fn forgive(&mut self, stalled: f64) {
        self.sup.replies.forgive(stalled);
    }

    /// One physics step with every due joint tick. Returns false once the run must
    /// end (aborted, a policy stopped it, or stop was asked).
    pub(crate) fn step(&mut self, host: &mut dyn Host) -> Result<bool, RunError> {
        if self.aborted.is_some() {
            return Ok(false);
        }
        // Commands first: a fault injected now has its onset in this step.
        self.commands()?;
        self.take_targets();
        if self.plant.timeline()
            && let Some(b) = &self.buses
        {
            b.impair(&self.plant);
        }
        let n = self.plant.joints().len();
        // Every reply first: the supervisor then judges the whole arm as of now.
        if !host.in_place() {
            for i in 0..n {
                self.collect(i);
            }
        }
        for i in 0..n {
            self.due[i] = self.plant.due(i);
        }
        for i in 0..n {
            let due_now = self.due[i];
            let t = self.plant.t();
            if self.sup.probe_due(i, t) {
                if self.factory.present(i) {
                    self.restart(i, host)?;
                } else {
                    self.sup.still_away(i, t, host.in_place());
                }
            }
            if self.sup.restart_due(i, t) {
                self.restart(i, host)?;
            }
            if let Some((torque, for_t)) = self.sup.replies.arrived(i, self.plant.t()) {
                self.plant.command(i, torque, for_t);
                self.sup.replied(&mut self.plant, i);
            }
            self.mail.flush(i, &self.ports[i]);
            if !due_now || self.plant.joints()[i].mode() != DriveMode::Controller {
                continue;
            }
            if !self.tick(i, host) {
                return Ok(false);
            }
        }
        if let Some(b) = &mut self.buses {
            b.exchange(
                &mut self.plant,
                &mut self.sup,
                &mut self.observers,
                &self.due,
            );
            self.sup.hw_timeouts(&mut self.plant);
        }
        if self.sup.stop_requested().is_some() {
            return Ok(false);
        }
        if let Some(l) = &mut self.served {
            l.drain(&self.plant, &mut self.observers);
        }
        self.plant.note_command_ages();
        self.plant.play_traces();
        self.observers.samples(&self.plant, &self.sup);
        self.observers.world(&self.plant);
        self.sup.refresh_all(&mut self.plant);
        self.plant.actuate();
        self.sup.on_torques(&mut self.plant);
        self.plant.advance();
        self.observers.events(self.plant.events());
        Ok(true)
    }

    /// Hands the events logged since the last step to the observers (a paused run's
    /// commands are still seen at once).
    pub(crate) fn flush_events(&mut self) {
        self.observers.events(self.plant.events());
    }

    /// Joint `i`'s tick: what its silence means, or its next sample. False if the
    /// run must end (a service call never returned).
    fn tick(&mut self, i: usize, host: &mut dyn Host) -> bool {
        let now = self.now();
        let period = self.plant.joints()[i].period();
        let silent = self.sup.silent_periods(i);
        let joints = &self.plant.joints();
        let untaken = !self.ports[i].to_service.is_empty();
        let verdict = self
            .sup
            .replies
            .tick(i, now, period, silent, &self.periods, untaken, |k| {
                joints[k].mode() == DriveMode::Controller
            });
        let (plant, sup) = (&mut self.plant, &mut self.sup);
        match verdict {
            Tick::Send => return self.send(i, host),
            Tick::Wait => {}
            Tick::Missed { lone } => {
                plant.missed_deadline(i);
                if lone {
                    sup.late(plant, i);
                }
            }
            Tick::Stalled { silent_s, first } => {
                plant.missed_deadline(i);
                if first {
                    plant.event(
                        usize::MAX,
                        "system_stall",
                        format!(
                            "machine stall: services silent all at once, or before they ever ran ({:.1} ms); not faulting yet",
                            silent_s * 1e3
                        ),
                    );
                }
            }
            Tick::Hung { silent_s, lone } => {
                plant.missed_deadline(i);
                if lone {
                    sup.late(plant, i);
                }
                sup.symptom(plant, i, Symptom::Silent, "no reply");
                sup.controller_failed(
                    plant,
                    i,
                    "controller_hang",
                    format!(
                        "no reply for {:.1} ms ({silent} control periods)",
                        silent_s * 1e3
                    ),
                );
            }
        }
        true
    }

    /// Sends joint `i` its sample; with a service run in place, collects its reply.
    fn send(&mut self, i: usize, host: &mut dyn Host) -> bool {
        let input = self.plant.sample(i);
        let (sp, m) = (input.setpoint, input.measured);
        self.sup.on_sample(&mut self.plant, i, &m, sp.pos, sp.vel);
        if self.plant.joints()[i].mode() != DriveMode::Controller {
            return true; // the sample itself tripped the joint (following error)
        }
        let seq = self.plant.joints()[i].seq();
        let reset = self.plant.take_reset(i);
        // The sample is a piece of work on the run's clock until it is answered.
        self.clock.work_begins();
        match self.ports[i]
            .to_service
            .try_send(ServiceInput { seq, input, reset })
        {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                // It has not even taken its previous sample: it stays owing that one.
                self.clock.work_ends();
                return true;
            }
            Err(TrySendError::Disconnected(_)) => {
                self.clock.work_ends();
                self.sup.fault(
                    &mut self.plant,
                    i,
                    "service_gone",
                    "joint service inbox closed".into(),
                );
                return true;
            }
        }
        let now = self.now();
        self.sup.replies.sent(i, seq, input.t, now);
        match host.sent(i, input.t) {
            Ok(true) => self.collect(i),
            Ok(false) => {}
            Err(j) => {
                let name = self.plant.joints()[j].name().to_string();
                self.sup.fault(
                    &mut self.plant,
                    j,
                    "controller_hang",
                    "controller did not return within the watchdog's timeout (wall clock)".into(),
                );
                self.aborted = Some(format!(
                    "watchdog: joint '{name}' controller hung at t = {:.3} s",
                    self.plant.t()
                ));
                return false;
            }
        }
        true
    }

    /// Takes every reply waiting from joint `i`'s service.
    fn collect(&mut self, i: usize) {
        loop {
            match self.ports[i].from_service.try_recv() {
                Ok(ServiceOutput::Command {
                    seq,
                    torque,
                    delay_s,
                }) => {
                    if delay_s > 0.0 {
                        // A slow cycle on simulated time: it arrives later.
                        self.sup
                            .replies
                            .delayed(i, self.plant.t() + delay_s, torque);
                        continue;
                    }
                    let j = &self.plant.joints()[i];
                    let for_t = self.sup.replies.replied(i, seq, j.period(), j.seq());
                    self.plant.command(i, torque, for_t);
                    self.sup.replied(&mut self.plant, i);
                }
                Ok(ServiceOutput::Died { message, .. }) => {
                    self.sup
                        .symptom(&mut self.plant, i, Symptom::Died, &message);
                    self.sup
                        .controller_failed(&mut self.plant, i, "controller_panic", message);
                }
                Ok(ServiceOutput::Away { message, .. }) => {
                    self.sup
                        .symptom(&mut self.plant, i, Symptom::Died, &message);
                    self.sup.service_away(&mut self.plant, i, message);
                }
                Ok(ServiceOutput::Garbled { count, what }) => {
                    self.plant.garbled(i, count);
                    self.sup.garbled(&mut self.plant, i, &what);
                }
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    if self.plant.joints()[i].mode() == DriveMode::Controller {
                        self.sup.fault(
                            &mut self.plant,
                            i,
                            "service_gone",
                            "joint service ended".into(),
                        );
                    }
                    return;
                }
            }
        }
    }

    /// Replaces joint `i`'s service with a fresh one.
    fn restart(&mut self, i: usize, host: &mut dyn Host) -> Result<(), RunError> {
        let (s, p) = self.factory.build(i, &self.plant.struck(i));
        // Release the old service: a call stuck in a hang ends, a late reply from it
        // goes nowhere.
        self.ports[i]
            .cancel
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.ports[i] = p;
        host.start(i, s)?;
        self.sup.replies.forget(i);
        self.mail.restarted(i);
        self.sup.restarted(&mut self.plant, i);
        Ok(())
    }

    /// Applies the scheduled commands whose time has come and those sent on the
    /// control channel.
    pub(crate) fn commands(&mut self) -> Result<(), RunError> {
        let mut due = Vec::new();
        while self
            .schedule
            .front()
            .is_some_and(|(t, _)| *t <= self.plant.t() + 1e-9)
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
        if due.is_empty() {
            return Ok(());
        }
        for c in due {
            match (c, &mut self.pacer) {
                (ControlCommand::Pace(p), Some(pacer)) => {
                    pacer.apply(p);
                    self.plant
                        .event(usize::MAX, "pace", super::pace::describe(p));
                }
                (
                    ControlCommand::Swap {
                        joint,
                        backend: BackendSpec::Serial { .. },
                    },
                    _,
                ) if self.buses.is_none() => {
                    // No buses here: a real servo lives on the wall clock.
                    let i = self.plant.joints().iter().position(|j| j.name() == joint);
                    self.plant.event(
                        i.unwrap_or(usize::MAX),
                        "swap_refused",
                        "a serial servo needs the real-time executor (run with --realtime)".into(),
                    );
                }
                (c, _) => {
                    if let Some((i, m)) = super::command::apply(&mut self.plant, &mut self.sup, c)
                        && let Err(why) = self.mail.send(i, m, &self.ports[i], &mut self.factory)
                    {
                        self.plant.event(i, "command_refused", why.to_string());
                    }
                }
            }
        }
        if let Some(b) = &mut self.buses {
            b.sync(&mut self.plant)?;
        }
        Ok(())
    }

    /// Hands the plant the commanded targets that changed since the last step.
    fn take_targets(&mut self) {
        let Some((cell, seen, buf)) = &mut self.targets else {
            return;
        };
        if !cell.changed(seen, buf) {
            return;
        }
        for (i, t) in buf.iter().enumerate() {
            if let Some(t) = t {
                self.plant.command_target(i, *t, cell.source());
            }
        }
    }

    /// Publishes a live snapshot if one is due (or `force`).
    pub(crate) fn publish(&mut self, force: bool) {
        if let Some(p) = &mut self.publisher {
            p.publish(
                self.clock.now(),
                &self.plant,
                &self.sup,
                self.pacer.as_ref(),
                (&self.factory, &self.ports),
                force,
            );
        }
    }

    /// Notes the system clock's time as simulated time 0 (real time, as it begins).
    pub(crate) fn mark_start(&mut self) {
        self.started_unix_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64());
    }

    /// Stops the buses, produces the report, finishes the recording and tells the
    /// live observer. `wall_s`: the run's wall time; `lateness`: real time's step
    /// lateness.
    pub(crate) fn finish(
        mut self,
        scene: &Scene,
        executor: &str,
        wall_s: f64,
        lateness: Option<crate::report::Lateness>,
    ) -> Report {
        if let Some(b) = &mut self.buses {
            b.stop(&mut self.plant);
        }
        self.cancel_services();
        let aborted = self
            .aborted
            .clone()
            .or_else(|| self.sup.stop_requested().map(str::to_string));
        let mut report =
            super::summary::facts(&self.plant, &self.sup, scene, executor, wall_s, aborted);
        report.step_lateness_us = lateness;
        if let Some(l) = &mut self.served {
            l.drain(&self.plant, &mut self.observers);
            report.served = Some(l.report());
        }
        super::verdict::judge(scene, &mut report);
        super::finish_sinks(
            &self.plant,
            &mut self.observers,
            std::mem::take(&mut self.sinks),
            &mut report,
        );
        if let Some(l) = &mut report.live {
            l.started_unix_s = self.started_unix_s;
        }
        self.publish(true);
        if let Some(p) = &self.publisher {
            p.finish(&report);
        }
        report
    }
}
