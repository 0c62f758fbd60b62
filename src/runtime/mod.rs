//! The runtime: joint services and the executors that drive them.
//!
//! Every joint's controller is a [`JointService`](service::JointService) with its own
//! state and rate, reached only through bounded crossbeam channels. Two executors run
//! the same services over the same [`Plant`](plant::Plant):
//! - **lockstep** (`lockstep.rs`): on simulated time, one thread, deterministic, as
//!   fast as the machine allows; a wall-clock watchdog ends a run whose controller hangs;
//! - **real-time** (`realtime.rs`): the physics loop paced by the wall clock on its own
//!   thread, each service on its own thread; a late service never holds physics up.

mod buses;
pub mod command;
pub mod commanded;
mod core;
pub mod live;
mod lockstep;
mod manage;
mod observers;
pub mod pace;
pub use lockstep::Lockstep;
pub use realtime::Realtime;
pub mod external;
pub mod plant;
pub mod process;
mod realtime;
pub mod refusal;
mod served;
pub mod service;
mod summary;
pub mod supervisor;
pub mod tap;
mod verdict;
pub mod watchdog;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::physics::BuildOptions;
use crate::report::Report;
use crate::scene::Scene;
use crate::sys::clock::{Clock, WallClock};

pub use service::{
    Exchange, FaultMode, JointService, ServiceInput, ServiceMsg, ServiceOutput, ServicePort,
};
pub use watchdog::HangHook;

/// Why a run could not start or go on (a bad scene is refused earlier, by
/// `Scene::load`; a failing joint is a fault in the report, not an error).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start the recording: {0}")]
    Record(#[source] tap::SinkError),
    #[error("cannot start the live server: {0}")]
    Live(#[source] tap::SinkError),
    #[error("cannot start the ROS 2 topics: {0}")]
    Ros2(#[source] tap::SinkError),
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("{0}")]
    Zenoh(#[source] external::ExternalError),
    #[error("serial bus {port}: cannot start its thread: {source}")]
    BusThread {
        port: String,
        #[source]
        source: std::io::Error,
    },
    #[error("virtual port {port}: {source}")]
    VirtualPort {
        port: String,
        #[source]
        source: crate::hardware::virtual_port::VirtualPortError,
    },
}

/// Which executor runs the services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executor {
    Lockstep,
    Realtime,
}

impl Executor {
    /// The executor that runs `scene` when `requested` is asked for: real time for a
    /// scene that needs it ([`Scene::needs_realtime`]), else as requested.
    pub fn for_scene(scene: &Scene, requested: Executor) -> Executor {
        if scene.needs_realtime() {
            Executor::Realtime
        } else {
            requested
        }
    }
}

/// How to run a scene.
#[derive(Clone)]
pub struct RunOptions {
    pub executor: Executor,
    /// Overrides the scene's duration, s.
    pub duration_s: Option<f64>,
    /// Lockstep: a service call that has not returned after this long is a hang.
    pub hang_timeout: Duration,
    /// Called from the watchdog thread when a lockstep service hangs.
    pub on_hang: Option<HangHook>,
    /// Copies of the arm in one world (benchmarks).
    pub build: BuildOptions,
    /// Lockstep: how injected controller faults play out. `Simulated` (default) keeps
    /// the run deterministic; `Real` makes an injected hang really block, which only
    /// the wall-clock watchdog ends (to exercise that backstop). Real time is always
    /// `Real`.
    pub lockstep_faults: FaultMode,
    /// Commands sent while the run goes (swaps; the GUI will use the same channel).
    pub control: Option<crossbeam::channel::Receiver<command::ControlCommand>>,
    /// Commands to apply at given simulated times, s.
    pub schedule: Vec<(f64, command::ControlCommand)>,
    /// Record telemetry into this sink (e.g. `telemetry::recorder::to_file(path)`).
    pub record: Option<tap::SinkFactory>,
    /// A live server beside the run (`--live`: `telemetry::live::server(..)`), a sink
    /// like the recorder.
    pub live_server: Option<tap::SinkFactory>,
    /// Set from outside (Ctrl-C) to end the run early, cleanly: the report and the
    /// recording are finished as at a normal end.
    pub stop: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Real-time: run physics at this SCHED_FIFO priority and services one below
    /// (1..=99; needs root or CAP_SYS_NICE). `None`: normal scheduling.
    pub rt_priority: Option<i32>,
    /// Lockstep: simulated seconds per wall second (the GUI runs at 1x); `None`: as
    /// fast as the machine allows. Changed while running by `Pace` commands.
    pub pace: Option<f64>,
    /// A live observer (the GUI): snapshots and a sample feed, never waited for.
    pub live: Option<live::LiveTap>,
    /// The wall clock the run reads (real time's pacing, the lockstep watchdog and
    /// pacer, the buses); `None`: the machine's. Tests pass a `ManualClock`.
    pub clock: Option<Arc<dyn Clock>>,
    /// Joints a host drives over the served bus (`armhil serve`): their servos'
    /// firmware drives them, from the registers the bus thread keeps.
    pub served: Vec<crate::hardware::served::ServedJoint>,
    /// The served bus's transactions, recorded and counted in the report.
    pub served_tap: Option<crate::hardware::served::ServedTap>,
    /// Where the Zenoh session for external controllers listens and connects.
    pub zenoh: external::ZenohOptions,
    /// The run's Zenoh session when the caller opened it (for ROS 2 topics): external
    /// controllers share it instead of opening their own.
    #[cfg(feature = "zenoh")]
    pub zenoh_session: Option<zenoh::Session>,
    /// The ROS 2 topics' sink (`crate::telemetry::ros2`).
    pub ros2: Option<tap::SinkFactory>,
    /// Joint targets commanded from outside as a stream (ROS 2's joint command
    /// topic), read once per step.
    pub targets: Option<commanded::Targets>,
    /// The armhil executable run as `joint-service` for drives with `isolation:
    /// Process`; default: this executable (a program embedding the library, such as
    /// a test, names armhil's binary here).
    pub service_exe: Option<std::path::PathBuf>,
}

impl RunOptions {
    /// The clock this run reads: the one given, or a fresh wall clock.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock
            .clone()
            .unwrap_or_else(|| Arc::new(WallClock::new()))
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            executor: Executor::Lockstep,
            duration_s: None,
            hang_timeout: Duration::from_secs(2),
            on_hang: None,
            build: BuildOptions::default(),
            lockstep_faults: FaultMode::Simulated,
            record: None,
            live_server: None,
            stop: None,
            rt_priority: None,
            control: None,
            schedule: Vec::new(),
            pace: None,
            live: None,
            clock: None,
            served: Vec::new(),
            served_tap: None,
            service_exe: None,
            zenoh: Default::default(),
            #[cfg(feature = "zenoh")]
            zenoh_session: None,
            ros2: None,
            targets: None,
        }
    }
}

/// Progress callback: (simulated time, total simulated time).
pub type Progress<'a> = &'a mut dyn FnMut(f64, f64);

/// How service processes are started (drives with `isolation: Process`).
#[derive(Debug, Clone)]
pub(crate) struct ProcessOptions {
    pub(crate) exe: std::path::PathBuf,
    pub(crate) rt_priority: Option<i32>,
    /// See [`process::Launch::reply_bound`].
    pub(crate) reply_bound: Option<Duration>,
    /// The run's Zenoh session, when a joint's controller is external.
    #[cfg(feature = "zenoh")]
    pub(crate) zenoh: Option<zenoh::Session>,
    /// Whether each external service (by key) is there now.
    #[cfg(feature = "zenoh")]
    presence: std::collections::HashMap<String, external::Presence>,
}

impl ProcessOptions {
    pub(crate) fn new(scene: &Scene, opts: &RunOptions, in_place: bool) -> Result<Self, RunError> {
        let exe = opts
            .service_exe
            .clone()
            .or_else(|| std::env::current_exe().ok())
            .unwrap_or_else(|| "armhil".into());
        let external = scene.has_external();
        #[cfg(feature = "zenoh")]
        let zenoh = match (&opts.zenoh_session, external) {
            (Some(s), true) => Some(s.clone()),
            (None, true) => Some(external::open(&opts.zenoh).map_err(RunError::Zenoh)?),
            (_, false) => None,
        };
        #[cfg(feature = "zenoh")]
        let mut presence = std::collections::HashMap::new();
        #[cfg(feature = "zenoh")]
        if let Some(session) = &zenoh {
            for j in &scene.joints {
                if let crate::control::ControllerSpec::External(e) = &j.controller {
                    let p = external::Presence::watch(session, &e.key).map_err(RunError::Zenoh)?;
                    presence.insert(e.key.clone(), p);
                }
            }
        }
        #[cfg(not(feature = "zenoh"))]
        if external {
            return Err(RunError::Zenoh(external::ExternalError::Open(
                "this armhil was built without the `zenoh` feature".into(),
            )));
        }
        Ok(Self {
            exe,
            rt_priority: opts.rt_priority,
            // In place (lockstep) the executor waits for the reply: a service that
            // does not answer within half the watchdog's timeout is given up on (a
            // child process ended and restarted as its policy says) before the
            // watchdog would end the whole run.
            reply_bound: in_place.then(|| opts.hang_timeout / 2),
            #[cfg(feature = "zenoh")]
            zenoh,
            #[cfg(feature = "zenoh")]
            presence,
        })
    }
}

/// Builds joint services: at the start, and again whenever the supervisor restarts
/// one. It remembers each joint's controller faults (scheduled and injected while
/// running) so a restarted service suffers the ones still to come, but not a
/// one-shot fault that has already struck.
pub(crate) struct ServiceFactory {
    /// Each joint's controller as it stands now (live gains changes included) and the
    /// servo it drives: the one copy of the controller config while a run goes.
    controllers: Vec<(crate::control::ControllerSpec, crate::servo::ServoSpec)>,
    /// Where each service runs, with its process's limits.
    isolation: Vec<(crate::control::Isolation, crate::control::ProcessLimits)>,
    procs: ProcessOptions,
    names: Vec<String>,
    faults: Vec<Vec<crate::faults::FaultSpec>>,
    mode: FaultMode,
    /// The run's clock, handed to every service it builds.
    clock: Arc<dyn Clock>,
    /// Set when the whole run is torn down: releases any service stuck in a hang.
    pub(crate) run_cancel: Arc<AtomicBool>,
}

impl ServiceFactory {
    pub(crate) fn new(
        scene: &Scene,
        copies: usize,
        mode: FaultMode,
        clock: Arc<dyn Clock>,
        procs: ProcessOptions,
    ) -> Self {
        let mut controllers = Vec::new();
        let mut isolation = Vec::new();
        let mut names = Vec::new();
        let mut faults = Vec::new();
        for copy in 0..copies {
            for c in &scene.joints {
                controllers.push((c.controller.clone(), c.servo.clone()));
                isolation.push((c.isolation, c.process.clone()));
                names.push(if copies > 1 {
                    format!("{}#{copy}", c.name)
                } else {
                    c.name.clone()
                });
                // Faults name joints of the scene; copies (benchmarks) get none.
                faults.push(if copies == 1 {
                    scene
                        .faults
                        .iter()
                        .filter(|f| f.joint == c.name && f.kind.in_controller())
                        .cloned()
                        .collect()
                } else {
                    Vec::new()
                });
            }
        }
        Self {
            controllers,
            isolation,
            procs,
            names,
            faults,
            mode,
            clock,
            run_cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.controllers.len()
    }

    /// Joint `i`'s controller gains as its service has them (or will, once it has
    /// taken its waiting messages).
    /// Where service `i` runs, for tables: `thread`, `process 1234`, `process
    /// (starting)` before its process has answered, or `zenoh KEY`.
    pub(crate) fn location(&self, i: usize, port: &ServicePort) -> String {
        if let Some((crate::control::ControllerSpec::External(e), _)) = self.controllers.get(i) {
            return format!("zenoh {}", e.key);
        }
        match self.isolation.get(i).map(|x| x.0) {
            Some(crate::control::Isolation::Process) => {
                match port.pid.load(std::sync::atomic::Ordering::Relaxed) {
                    0 => "process (starting)".into(),
                    pid => format!("process {pid}"),
                }
            }
            _ => "thread".into(),
        }
    }

    /// Whether joint `i`'s external service is there: in place (lockstep) waiting up
    /// to the reply bound for it, on wall time, so a service back within it returns
    /// at the same simulated time every run; otherwise a look at its flag.
    pub(crate) fn present(&self, i: usize) -> bool {
        #[cfg(feature = "zenoh")]
        if let Some((crate::control::ControllerSpec::External(e), _)) = self.controllers.get(i) {
            let within = self.procs.reply_bound.unwrap_or_default();
            return self
                .procs
                .presence
                .get(&e.key)
                .is_some_and(|p| p.here(within));
        }
        let _ = i;
        false
    }

    pub(crate) fn gains(&self, i: usize) -> Option<crate::control::Gains> {
        self.controllers.get(i).and_then(|(c, _)| c.gains())
    }

    /// A fresh service for joint `i`; `struck` are the one-shot faults that have
    /// already struck an earlier instance (see [`plant::Plant::struck`]).
    pub(crate) fn build(
        &self,
        i: usize,
        struck: &[crate::faults::FaultSpec],
    ) -> (JointService, ServicePort) {
        let (controller, servo) = &self.controllers[i];
        let faults = self.faults[i]
            .iter()
            .filter(|f| !(f.one_shot() && struck.contains(f)))
            .cloned()
            .collect();
        let (isolation, limits) = &self.isolation[i];
        if let crate::control::ControllerSpec::External(ext) = controller {
            #[cfg(feature = "zenoh")]
            let built = match &self.procs.zenoh {
                Some(session) => match external::Link::new(
                    session,
                    &ext.key,
                    servo.clone(),
                    self.procs.reply_bound,
                ) {
                    Ok(link) => JointService::external(&self.names[i], link, self.mode),
                    Err(e) => JointService::failed(&self.names[i], e.to_string(), self.mode),
                },
                None => JointService::failed(&self.names[i], "no zenoh session".into(), self.mode),
            };
            #[cfg(not(feature = "zenoh"))]
            let built = JointService::failed(
                &self.names[i],
                format!(
                    "external controller {}: built without the zenoh feature",
                    ext.key
                ),
                self.mode,
            );
            let (mut s, p) = built;
            s.run_cancel = Some(self.run_cancel.clone());
            s.clock = self.clock.clone();
            return (s, p);
        }
        let (mut s, p) = match isolation {
            crate::control::Isolation::Thread => JointService::with_faults(
                &self.names[i],
                crate::control::build(controller, servo),
                faults,
                self.mode,
            ),
            crate::control::Isolation::Process => JointService::in_process(
                &self.names[i],
                process::Launch {
                    exe: limits
                        .program
                        .as_ref()
                        .map_or_else(|| self.procs.exe.clone(), std::path::PathBuf::from),
                    hello: process::wire::Hello {
                        version: process::wire::VERSION,
                        name: self.names[i].clone(),
                        controller: controller.clone(),
                        servo: servo.clone(),
                        faults,
                        mode: self.mode,
                    },
                    limits: limits.clone(),
                    rt_priority: self.procs.rt_priority,
                    reply_bound: self.procs.reply_bound,
                },
            ),
        };
        s.run_cancel = Some(self.run_cancel.clone());
        s.clock = self.clock.clone();
        (s, p)
    }

    /// Every joint's service.
    pub(crate) fn build_all(&self) -> (Vec<JointService>, Vec<ServicePort>) {
        (0..self.len()).map(|i| self.build(i, &[])).unzip()
    }

    /// Remembers what a running service was told (a controller fault, new gains) so
    /// that its restarts start from it.
    pub(crate) fn remember(&mut self, i: usize, m: &service::ServiceMsg) {
        match m {
            service::ServiceMsg::Fault(f) => {
                if let Some(v) = self.faults.get_mut(i) {
                    v.push(f.clone());
                }
            }
            service::ServiceMsg::Gains(g) => {
                if let Some((c, _)) = self.controllers.get_mut(i) {
                    *c = c.with_gains(g);
                }
            }
        }
    }
}

/// How a sink that fails to start becomes the run's error.
type SinkFailed = fn(tap::SinkError) -> RunError;

/// Starts the run's sinks (the recorder, the live server) and hands their taps to
/// the observers.
pub(crate) fn start_sinks(
    scene: &Scene,
    plant: &plant::Plant,
    observers: &mut observers::Observers,
    opts: &RunOptions,
    realtime: bool,
) -> Result<Vec<Box<dyn tap::Sink>>, RunError> {
    let factories: Vec<(&tap::SinkFactory, SinkFailed)> = [
        opts.record
            .as_ref()
            .map(|f| (f, RunError::Record as fn(_) -> _)),
        opts.live_server
            .as_ref()
            .map(|f| (f, RunError::Live as fn(_) -> _)),
        opts.ros2
            .as_ref()
            .map(|f| (f, RunError::Ros2 as fn(_) -> _)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if factories.is_empty() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&scene.source).unwrap_or_default();
    let joints: Vec<String> = plant
        .joints()
        .iter()
        .map(|j| j.name().to_string())
        .collect();
    let gains: Vec<Option<crate::control::Gains>> =
        scene.joints.iter().map(|j| j.controller.gains()).collect();
    let mut sinks = Vec::new();
    for (factory, error) in factories {
        let sink = factory
            .start(&tap::RunInfo {
                scene_name: &scene.name,
                scene_text: &text,
                joints: &joints,
                ports: observers.ports(),
                gains: &gains,
                pace: opts.pace,
                realtime,
            })
            .map_err(error)?;
        observers.add_sink(sink.tap());
        sinks.push(sink);
    }
    Ok(sinks)
}

/// Ends the sinks: hands over the last events, lets go of their taps, and writes
/// their summaries into the report (a sink that fails is an event in the report).
pub(crate) fn finish_sinks(
    plant: &plant::Plant,
    observers: &mut observers::Observers,
    sinks: Vec<Box<dyn tap::Sink>>,
    report: &mut Report,
) {
    observers.events(plant.events());
    observers.close_sinks();
    for sink in sinks {
        match sink.finish() {
            Ok(tap::SinkReport::Recording(rec)) => report.recording = Some(rec),
            Ok(tap::SinkReport::Live(live)) => report.live = Some(live),
            Ok(tap::SinkReport::Ros2(ros2)) => report.ros2 = Some(ros2),
            Err(e) => report.events.push(crate::report::Event {
                t: plant.t(),
                joint: String::new(),
                kind: "recording_error".into(),
                detail: e.to_string(),
                state: None,
                latency_s: None,
            }),
        }
    }
}

/// Whether someone asked the run to stop.
pub(crate) fn stop_asked(opts: &RunOptions) -> bool {
    opts.stop
        .as_ref()
        .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
}

/// Runs a validated scene to completion and returns its report.
pub fn run(scene: &Scene, opts: &RunOptions, progress: Progress) -> Result<Report, RunError> {
    match Executor::for_scene(scene, opts.executor) {
        Executor::Lockstep => lockstep::run(scene, opts, progress),
        Executor::Realtime => realtime::run(scene, opts, progress),
    }
}
