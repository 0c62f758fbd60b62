//! A joint service: one joint's controller with its own state, reached only through
//! its inbox (setpoint + measurement) and outbox (command). A panic inside the
//! controller is caught here, at the service boundary, and reported as a message;
//! the service is then dead and answers nothing more.
//!
//! Controller faults (see `crate::faults`) act here, inside the service, as the
//! service's own misbehaviour: a real panic, and in [`FaultMode::Real`] a real hang
//! (a spinning call) or a real sleep, or in [`FaultMode::Simulated`] (lockstep) a
//! silence and a reply stamped with its simulated delay, so the run stays
//! deterministic. Faults and gains reach a running service only as messages on its `manage` inbox.
//!
//! Where the controller runs is the service's body: here (a thread of armhil; an
//! abort, a crash or a leak here is the whole simulator's), or in its own process
//! (`super::process`), where those end only that process and reach the supervisor
//! as the service's death, like a caught panic.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Once};

use crossbeam::channel::{Receiver, Sender, TryRecvError, bounded};

use super::process::{self, Child, Launch};
use crate::control::{ControlInput, JointController};
use crate::faults::{FaultKind, FaultSpec};
use crate::sys::clock::{Clock, WallClock};

/// Message into a service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServiceInput {
    /// Sequence number of this sample (per joint, from 0).
    pub seq: u64,
    pub input: ControlInput,
    /// Clear the controller's state before this sample (the joint comes back to its
    /// controller after being driven by something else, e.g. a real servo).
    pub reset: bool,
}

impl ServiceInput {
    /// The sample's numbers in wire order (both service wires, the process socket and
    /// Zenoh, carry them so): t, dt, setpoint pos/vel/acc, measured pos/vel/torque,
    /// gravity torque.
    pub fn values(&self) -> [f64; 9] {
        let i = &self.input;
        [
            i.t,
            i.dt,
            i.setpoint.pos,
            i.setpoint.vel,
            i.setpoint.acc,
            i.measured.pos,
            i.measured.vel,
            i.measured.torque,
            i.gravity_torque,
        ]
    }
}

/// Message out of a service.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceOutput {
    /// The torque command for sample `seq`, N·m. `delay_s` is the simulated time the
    /// computation took (a `Slow` fault in [`FaultMode::Simulated`]; 0 otherwise).
    Command { seq: u64, torque: f64, delay_s: f64 },
    /// The controller panicked on sample `seq`; the service is dead.
    Died { seq: u64, message: String },
    /// An external service is not there (its liveliness token is gone) at sample
    /// `seq`: this instance is done, and the joint waits for the service to return.
    Away { seq: u64, message: String },
    /// `count` more replies from an external service were malformed or answered
    /// another sample (ignored); `what` says how the last one was wrong.
    Garbled { count: u64, what: String },
}

/// A management message to a running service (besides its samples): both come at
/// human or schedule rate.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ServiceMsg {
    /// A controller fault to suffer (see `crate::faults`).
    Fault(FaultSpec),
    /// New gains, effective from the next sample.
    Gains(crate::control::Gains),
}

/// How controller faults play out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FaultMode {
    /// On simulated time (lockstep): a hang is a silence, a slow cycle a delayed reply.
    Simulated,
    /// On the wall clock (real time): a hang spins, a slow cycle sleeps.
    Real,
}

/// The executor's end of a service's channels.
pub struct ServicePort {
    pub to_service: Sender<ServiceInput>,
    pub from_service: Receiver<ServiceOutput>,
    /// Controller faults injected and gains changed while running.
    pub manage: Sender<ServiceMsg>,
    /// Releases a call stuck in an injected hang (set when the service is replaced).
    pub cancel: Arc<AtomicBool>,
    /// The service's process id while it runs in its own process (0 otherwise).
    pub pid: Arc<AtomicU32>,
}

/// How one exchange with a service elsewhere (a process, an external program) ended.
#[derive(Debug, PartialEq)]
pub enum Exchange {
    Reply(ServiceOutput),
    /// The service swallowed the sample (a simulated hang).
    Silent,
    /// The service is being replaced or the run is ending; the process was ended.
    /// `announced`: the child had said it hung (the clock was told then).
    Cancelled {
        announced: bool,
    },
}

/// Where a service's controller runs.
enum Body {
    /// Here, on the calling thread; controller faults act here.
    Here {
        controller: Box<dyn JointController>,
        faults: Vec<FaultSpec>,
        /// What a `Leak` fault has taken and never gives back.
        leaked: Vec<Vec<u8>>,
    },
    /// In its own process, which runs a `Here` body and suffers the faults itself.
    Process(Box<Child>),
    /// An external program over Zenoh (`super::external`).
    #[cfg(feature = "zenoh")]
    External(Box<super::external::Link>),
    /// A body that could not be set up: every sample is answered with its death.
    Failed(String),
}

/// One joint's controller service.
pub struct JointService {
    pub name: String,
    body: Body,
    inbox: Receiver<ServiceInput>,
    outbox: Sender<ServiceOutput>,
    manage: Receiver<ServiceMsg>,
    mode: FaultMode,
    cancel: Arc<AtomicBool>,
    /// The run's own cancel flag (the lockstep watchdog's), also releasing a hang.
    pub(crate) run_cancel: Option<Arc<AtomicBool>>,
    /// The run's clock: a real slow cycle sleeps on it, and a service on its own
    /// thread tells it when each sample is done (see `Clock::work_ends`).
    pub(crate) clock: Arc<dyn Clock>,
    dead: bool,
    /// Simulated hang: swallows every sample.
    hung: bool,
}

/// Capacity of a service inbox: one sample. A service that has not taken the previous
/// sample is late; queueing more would only feed it stale data.
const INBOX: usize = 1;
/// Capacity of a service outbox: two commands, so a reply never blocks the service
/// even if the executor has not yet collected the previous one.
const OUTBOX: usize = 2;
/// Capacity of the management inbox: faults and gains come at human (or schedule)
/// rate; a handful.
const MANAGE: usize = 8;

impl JointService {
    /// Creates a service and the executor's port to it.
    pub fn new(name: &str, controller: Box<dyn JointController>) -> (Self, ServicePort) {
        Self::with_faults(name, controller, Vec::new(), FaultMode::Real)
    }

    /// Creates a service that will suffer the controller faults `faults`.
    pub fn with_faults(
        name: &str,
        controller: Box<dyn JointController>,
        faults: Vec<FaultSpec>,
        mode: FaultMode,
    ) -> (Self, ServicePort) {
        let body = Body::Here {
            controller,
            faults,
            leaked: Vec::new(),
        };
        Self::with_body(name, body, mode, Arc::new(AtomicU32::new(0)))
    }

    /// Creates a service whose controller runs in its own process, started by
    /// [`JointService::prepare`] or on the first sample.
    pub fn in_process(name: &str, launch: Launch) -> (Self, ServicePort) {
        let pid = Arc::new(AtomicU32::new(0));
        let mode = launch.hello.mode;
        let child = Child::new(launch, pid.clone());
        Self::with_body(name, Body::Process(Box::new(child)), mode, pid)
    }

    fn with_body(
        name: &str,
        body: Body,
        mode: FaultMode,
        pid: Arc<AtomicU32>,
    ) -> (Self, ServicePort) {
        let (to_service, inbox) = bounded(INBOX);
        let (outbox, from_service) = bounded(OUTBOX);
        let (manage_tx, manage) = bounded(MANAGE);
        let cancel = Arc::new(AtomicBool::new(false));
        (
            Self {
                name: name.to_string(),
                body,
                inbox,
                outbox,
                manage,
                mode,
                cancel: cancel.clone(),
                run_cancel: None,
                clock: Arc::new(WallClock::new()),
                dead: false,
                hung: false,
            },
            ServicePort {
                to_service,
                from_service,
                manage: manage_tx,
                cancel,
                pid,
            },
        )
    }

    /// A service whose controller is an external program over Zenoh.
    #[cfg(feature = "zenoh")]
    pub fn external(
        name: &str,
        link: super::external::Link,
        mode: FaultMode,
    ) -> (Self, ServicePort) {
        let body = Body::External(Box::new(link));
        Self::with_body(name, body, mode, Arc::new(AtomicU32::new(0)))
    }

    /// A service that cannot run (`why`): each sample is answered with its death.
    pub fn failed(name: &str, why: String, mode: FaultMode) -> (Self, ServicePort) {
        Self::with_body(name, Body::Failed(why), mode, Arc::new(AtomicU32::new(0)))
    }

    /// Starts the service's process, if it has one and it is not running: called on
    /// the service's own thread before it reports ready, so the executor never waits
    /// for an exec. A process that cannot start is reported at the first sample.
    pub fn prepare(&mut self) {
        match &mut self.body {
            Body::Process(c) => {
                let _ = c.start();
            }
            #[cfg(feature = "zenoh")]
            Body::External(link) => {
                let cancel = &self.cancel;
                let run_cancel = self.run_cancel.as_deref();
                link.prepare(&|| process::child::either(cancel, run_cancel));
            }
            _ => {}
        }
    }

    /// Takes a management message at once (a service process hears them this way).
    pub(crate) fn apply(&mut self, m: ServiceMsg) {
        match (&mut self.body, m) {
            (Body::Here { faults, .. }, ServiceMsg::Fault(f)) => faults.push(f),
            (Body::Here { controller, .. }, ServiceMsg::Gains(g)) => {
                controller.set_gains(&g);
            }
            (Body::Process(c), m) => c.manage(&m),
            #[cfg(feature = "zenoh")]
            (Body::External(link), m) => link.manage(&m),
            (Body::Failed(_), _) => {}
        }
    }

    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Processes every waiting sample (normally one). Returns false once dead.
    pub fn poll(&mut self) -> bool {
        loop {
            match self.inbox.try_recv() {
                Ok(msg) => {
                    self.handle(msg);
                }
                Err(TryRecvError::Empty) => return !self.dead,
                Err(TryRecvError::Disconnected) => return false,
            }
            if self.dead {
                return false;
            }
        }
    }

    /// Blocks for the next sample up to `timeout`; returns false when the executor
    /// has gone or the service is dead. Each sample is one piece of work on the run's
    /// clock (the executor began it when it sent the sample): it ends here, or, for a
    /// service that hangs, when it stops answering.
    pub fn serve_one(&mut self, timeout: std::time::Duration) -> bool {
        match self.inbox.recv_timeout(timeout) {
            Ok(msg) => {
                if self.handle(msg) == Work::Done {
                    self.clock.work_ends();
                }
                !self.dead
            }
            Err(crossbeam::channel::RecvTimeoutError::Timeout) => !self.dead,
            Err(crossbeam::channel::RecvTimeoutError::Disconnected) => false,
        }
    }

    /// Handles one sample. `Work::Abandoned`: it hung, and has told the clock so.
    fn handle(&mut self, msg: ServiceInput) -> Work {
        while let Ok(m) = self.manage.try_recv() {
            self.apply(m);
        }
        if self.dead || self.hung {
            return Work::Done;
        }
        let out = match &mut self.body {
            Body::Process(child) => {
                let cancel = &self.cancel;
                let run_cancel = self.run_cancel.as_deref();
                let cancelled = || process::child::either(cancel, run_cancel);
                match child.exchange(&msg, &cancelled, &*self.clock) {
                    Exchange::Reply(out) => out,
                    Exchange::Silent => return Work::Done,
                    Exchange::Cancelled { .. } => {
                        self.dead = true;
                        return Work::Abandoned;
                    }
                }
            }
            #[cfg(feature = "zenoh")]
            Body::External(link) => {
                let cancel = &self.cancel;
                let run_cancel = self.run_cancel.as_deref();
                let cancelled = || process::child::either(cancel, run_cancel);
                let exchange = link.exchange(&msg, &cancelled, &*self.clock);
                if let Some(g) = link.take_garbled() {
                    let _ = self.outbox.try_send(g);
                }
                match exchange {
                    Exchange::Reply(out) => out,
                    Exchange::Silent => return Work::Done,
                    Exchange::Cancelled { .. } => {
                        self.dead = true;
                        return Work::Abandoned;
                    }
                }
            }
            Body::Failed(why) => ServiceOutput::Died {
                seq: msg.seq,
                message: why.clone(),
            },
            Body::Here { .. } => match self.here(&msg) {
                Some(out) => out,
                None if self.hung => return Work::Done,
                None => return Work::Abandoned,
            },
        };
        if matches!(out, ServiceOutput::Died { .. } | ServiceOutput::Away { .. }) {
            self.dead = true;
        }
        // The executor drains the outbox every period; if it is full the executor is
        // gone or far behind, and dropping a command is the right thing.
        let _ = self.outbox.try_send(out);
        Work::Done
    }

    /// Runs the controller here, suffering the active controller faults. `None`: no
    /// reply (hung: simulated if `self.hung`, else abandoned after a real hang).
    fn here(&mut self, msg: &ServiceInput) -> Option<ServiceOutput> {
        let Body::Here {
            controller,
            faults,
            leaked,
        } = &mut self.body
        else {
            return None;
        };
        quiet_service_panics();
        let t = msg.input.t;
        let mut delay_s = 0.0;
        let mut panic_now = false;
        for f in faults.iter().filter(|f| f.active(t)) {
            match f.kind {
                FaultKind::Panic => panic_now = true,
                FaultKind::Abort => std::process::abort(),
                FaultKind::Crash => crash(),
                FaultKind::Leak { mb_per_s } => {
                    // Touched (non-zero), so it is really resident, and kept for good.
                    let bytes = (mb_per_s * 1e6 * msg.input.dt.max(0.0)) as usize;
                    leaked.push(vec![0xA5; bytes]);
                }
                FaultKind::Hang => match self.mode {
                    FaultMode::Simulated => {
                        // Silent from now on: the supervisor must notice.
                        self.hung = true;
                        return None;
                    }
                    FaultMode::Real => {
                        // A real hang: this call never returns on its own; only a
                        // cancel (the service is being replaced or the run torn down)
                        // releases the thread, with no reply. A hung service does no
                        // more work: the clock need not wait for it.
                        self.clock.work_ends();
                        while !self.cancel.load(Ordering::Relaxed)
                            && !self
                                .run_cancel
                                .as_ref()
                                .is_some_and(|c| c.load(Ordering::Relaxed))
                        {
                            std::thread::sleep(std::time::Duration::from_millis(1));
                        }
                        self.dead = true;
                        return None;
                    }
                },
                FaultKind::Slow { ms } => match self.mode {
                    FaultMode::Simulated => delay_s += ms / 1000.0,
                    FaultMode::Real => {
                        let until =
                            self.clock.now() + std::time::Duration::from_secs_f64(ms / 1000.0);
                        self.clock.sleep_working(until);
                    }
                },
                _ => {}
            }
        }
        IN_SERVICE.with(|f| f.set(true));
        let result = catch_unwind(AssertUnwindSafe(|| {
            if panic_now {
                panic!("injected controller panic at t = {t:.3} s");
            }
            if msg.reset {
                controller.reset();
            }
            controller.update(&msg.input)
        }));
        IN_SERVICE.with(|f| f.set(false));
        Some(match result {
            Ok(torque) => ServiceOutput::Command {
                seq: msg.seq,
                torque,
                delay_s,
            },
            Err(payload) => ServiceOutput::Died {
                seq: msg.seq,
                message: panic_message(&payload),
            },
        })
    }
}

/// A real segmentation fault's end: SIGSEGV with its default action (Rust's own
/// handler, there for stack overflows, is put aside first).
fn crash() -> ! {
    // SAFETY: resetting a signal's disposition and raising it are plain system calls.
    unsafe {
        libc::signal(libc::SIGSEGV, libc::SIG_DFL);
        libc::raise(libc::SIGSEGV);
    }
    // SIGSEGV's default action ends the process; should it somehow be blocked, abort.
    std::process::abort()
}

/// How handling a sample ended, for the clock's accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    Done,
    /// The service hung and has already told the clock it does no more work.
    Abandoned,
}

thread_local! {
    /// True while this thread is inside a controller call.
    static IN_SERVICE: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once) a panic hook that stays silent for panics inside a controller
/// call: they are caught at the service boundary and reported in the event log, and
/// printing a backtrace would cost the other joints' deadlines. Every other panic goes
/// to the previous hook unchanged.
fn quiet_service_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_SERVICE.with(|f| f.get()) {
                previous(info);
            }
        }));
    });
}

/// Text of a panic payload.
pub fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns how many times it was reset, and panics on t < 0.
    struct Probe(u32);
    impl JointController for Probe {
        fn update(&mut self, i: &ControlInput) -> f64 {
            assert!(i.t >= 0.0, "negative time");
            self.0 as f64
        }
        fn reset(&mut self) {
            self.0 += 1;
        }
        fn kind(&self) -> &'static str {
            "probe"
        }
    }

    fn send(port: &ServicePort, t: f64, reset: bool) {
        let input = ControlInput {
            t,
            ..ControlInput::default()
        };
        port.to_service
            .try_send(ServiceInput {
                seq: 1,
                input,
                reset,
            })
            .expect("inbox has room");
    }

    #[test]
    fn reset_flag_resets_the_controller_and_a_panic_kills_only_the_service() {
        let (mut svc, port) = JointService::new("j", Box::new(Probe(0)));
        send(&port, 0.0, false);
        assert!(svc.poll());
        assert_eq!(
            port.from_service.try_recv(),
            Ok(ServiceOutput::Command {
                seq: 1,
                torque: 0.0,
                delay_s: 0.0
            })
        );
        send(&port, 0.0, true);
        svc.poll();
        assert_eq!(
            port.from_service.try_recv(),
            Ok(ServiceOutput::Command {
                seq: 1,
                torque: 1.0,
                delay_s: 0.0
            })
        );
        send(&port, -1.0, false);
        assert!(!svc.poll());
        assert!(
            matches!(port.from_service.try_recv(), Ok(ServiceOutput::Died { message, .. }) if message.contains("negative time"))
        );
        assert!(svc.is_dead());
    }
}
