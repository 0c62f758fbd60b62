//! The runtime: joint services and the executors that drive them.
//!
//! Every joint's controller is a [`JointService`](service::JointService) with its own
//! state and rate, reached only through bounded crossbeam channels. Two executors run
//! the same services over the same [`Plant`](plant::Plant):
//! - **lockstep** (`lockstep.rs`): on simulated time, one thread, deterministic, as
//!   fast as the machine allows; a wall-clock watchdog ends a run whose controller hangs;
//! - **real-time** (`realtime.rs`): the physics loop paced by the wall clock on its own
//!   thread, each service on its own thread; a late service never holds physics up.

pub mod clock;
pub mod control;
mod lockstep;
pub use lockstep::Lockstep;
pub mod plant;
pub mod priority;
mod realtime;
pub mod service;
pub mod watchdog;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::physics::BuildOptions;
use crate::scene::Scene;
use crate::telemetry::Report;

pub use service::{FaultyController, JointService, ServiceInput, ServiceOutput, ServicePort};
pub use watchdog::HangHook;

/// Which executor runs the services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executor {
    Lockstep,
    Realtime,
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
    /// Real-time: consecutive missed periods after which a silent service is faulted.
    pub silent_periods: u32,
    /// Commands sent while the run goes (swaps; the GUI will use the same channel).
    pub control: Option<crossbeam::channel::Receiver<control::ControlCommand>>,
    /// Commands to apply at given simulated times, s.
    pub schedule: Vec<(f64, control::ControlCommand)>,
    /// Real-time: run physics at this SCHED_FIFO priority and services one below
    /// (1..=99; needs root or CAP_SYS_NICE). `None`: normal scheduling.
    pub rt_priority: Option<i32>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            executor: Executor::Lockstep,
            duration_s: None,
            hang_timeout: Duration::from_secs(2),
            on_hang: None,
            build: BuildOptions::default(),
            silent_periods: 3,
            rt_priority: None,
            control: None,
            schedule: Vec::new(),
        }
    }
}

/// Progress callback: (simulated time, total simulated time).
pub type Progress<'a> = &'a mut dyn FnMut(f64, f64);

/// Builds each joint's service (controller wrapped with its faults).
pub(crate) fn build_services(
    scene: &Scene,
    copies: usize,
    cancel: &Arc<AtomicBool>,
) -> (Vec<JointService>, Vec<ServicePort>) {
    let mut services = Vec::new();
    let mut ports = Vec::new();
    for copy in 0..copies {
        for c in &scene.joints {
            let faults: Vec<_> = scene
                .faults
                .iter()
                .filter(|f| f.joint == c.name && f.kind.in_controller())
                .cloned()
                .collect();
            let ctl = c.controller.build(&c.servo);
            let ctl: Box<dyn crate::control::JointController> = if faults.is_empty() {
                ctl
            } else {
                Box::new(FaultyController::new(ctl, faults, cancel.clone()))
            };
            let name = if copies > 1 {
                format!("{}#{copy}", c.name)
            } else {
                c.name.clone()
            };
            let (s, p) = JointService::new(&name, ctl);
            services.push(s);
            ports.push(p);
        }
    }
    (services, ports)
}

/// Runs a validated scene to completion and returns its report.
pub fn run(scene: &Scene, opts: &RunOptions, progress: Progress) -> std::io::Result<Report> {
    // Real servos live in real time: a scene with hardware joints always runs paced
    // by the wall clock.
    let hardware = scene
        .joints
        .iter()
        .any(|j| j.backend != crate::scene::BackendSpec::Sim);
    let executor = if hardware {
        Executor::Realtime
    } else {
        opts.executor
    };
    match executor {
        Executor::Lockstep => lockstep::run(scene, opts, progress),
        Executor::Realtime => realtime::run(scene, opts, progress),
    }
}
