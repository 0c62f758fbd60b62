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

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};

use crossbeam::channel::{Receiver, Sender, TryRecvError, bounded};

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

/// Message out of a service.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceOutput {
    /// The torque command for sample `seq`, N·m. `delay_s` is the simulated time the
    /// computation took (a `Slow` fault in [`FaultMode::Simulated`]; 0 otherwise).
    Command { seq: u64, torque: f64, delay_s: f64 },
    /// The controller panicked on sample `seq`; the service is dead.
    Died { seq: u64, message: String },
}

/// A management message to a running service (besides its samples): both come at
/// human or schedule rate.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceMsg {
    /// A controller fault to suffer (see `crate::faults`).
    Fault(FaultSpec),
    /// New gains, effective from the next sample.
    Gains(crate::control::Gains),
}

/// How controller faults play out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// One joint's controller service.
pub struct JointService {
    pub name: String,
    controller: Box<dyn JointController>,
    inbox: Receiver<ServiceInput>,
    outbox: Sender<ServiceOutput>,
    manage: Receiver<ServiceMsg>,
    faults: Vec<FaultSpec>,
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
        let (to_service, inbox) = bounded(INBOX);
        let (outbox, from_service) = bounded(OUTBOX);
        let (manage_tx, manage) = bounded(MANAGE);
        let cancel = Arc::new(AtomicBool::new(false));
        (
            Self {
                name: name.to_string(),
                controller,
                inbox,
                outbox,
                manage,
                faults,
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
            },
        )
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
            match m {
                ServiceMsg::Fault(f) => self.faults.push(f),
                ServiceMsg::Gains(g) => {
                    self.controller.set_gains(&g);
                }
            }
        }
        if self.dead || self.hung {
            return Work::Done;
        }
        quiet_service_panics();
        let t = msg.input.t;
        let mut delay_s = 0.0;
        let mut panic_now = false;
        for f in self.faults.iter().filter(|f| f.active(t)) {
            match f.kind {
                FaultKind::Panic => panic_now = true,
                FaultKind::Hang => match self.mode {
                    FaultMode::Simulated => {
                        // Silent from now on: the supervisor must notice.
                        self.hung = true;
                        return Work::Done;
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
                        return Work::Abandoned;
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
        let ctl = &mut self.controller;
        IN_SERVICE.with(|f| f.set(true));
        let result = catch_unwind(AssertUnwindSafe(|| {
            if panic_now {
                panic!("injected controller panic at t = {t:.3} s");
            }
            if msg.reset {
                ctl.reset();
            }
            ctl.update(&msg.input)
        }));
        IN_SERVICE.with(|f| f.set(false));
        let out = match result {
            Ok(torque) => ServiceOutput::Command {
                seq: msg.seq,
                torque,
                delay_s,
            },
            Err(payload) => {
                self.dead = true;
                ServiceOutput::Died {
                    seq: msg.seq,
                    message: panic_message(&payload),
                }
            }
        };
        // The executor drains the outbox every period; if it is full the executor is
        // gone or far behind, and dropping a command is the right thing.
        let _ = self.outbox.try_send(out);
        Work::Done
    }
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
