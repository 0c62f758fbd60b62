//! armhil's side of one service process: started on first use (on the service's own
//! thread in real time, so the executor never waits for an exec), one exchange per
//! sample, and the child's end turned into words for the event log.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::ProcessError;
use super::limits::{CHILD_FD, Prepared};
use super::wire::{self, FrameReader, FromChild, Hello, ToChild};
use crate::control::ProcessLimits;
use crate::runtime::service::{Exchange, ServiceInput, ServiceMsg, ServiceOutput};
use crate::sys::clock::Clock;

/// How long a new child has to answer its hello (an exec of armhil and a few
/// allocations; generous for a loaded 2-core machine).
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// How often a wait for a reply looks at the cancel flags, wall time.
const POLL: Duration = Duration::from_millis(20);
/// How long an executor waiting in place polls for a reply before it sleeps: a
/// service process answers in well under this when nothing else delays it.
const SPIN: Duration = Duration::from_micros(300);

/// Everything needed to start one service process.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The armhil executable to run as `joint-service`.
    pub exe: PathBuf,
    pub hello: Hello,
    pub limits: ProcessLimits,
    pub rt_priority: Option<i32>,
    /// Wall time after which an unanswered sample ends the process (lockstep, where
    /// the executor waits in place); `None` in real time, where silence is judged on
    /// the run's clock.
    pub reply_bound: Option<Duration>,
}

struct Running {
    proc: std::process::Child,
    sock: UnixStream,
    reader: FrameReader,
}

/// A service's process, started on first use.
pub struct Child {
    launch: Launch,
    running: Option<Running>,
    /// The process id while it runs (0 before and after), for tables and tests.
    pid: Arc<AtomicU32>,
}

impl Child {
    pub fn new(launch: Launch, pid: Arc<AtomicU32>) -> Self {
        Self {
            launch,
            running: None,
            pid,
        }
    }

    /// Starts the process if it is not running (an error says why it cannot).
    pub fn start(&mut self) -> Result<(), ProcessError> {
        if self.running.is_some() {
            return Ok(());
        }
        let l = &self.launch;
        let (ours, theirs) = UnixStream::pair().map_err(ProcessError::Socket)?;
        let prepared = Prepared::new(&l.limits, l.rt_priority, theirs.as_raw_fd());
        let mut cmd = Command::new(&l.exe);
        cmd.arg("joint-service")
            .arg("--fd")
            .arg(CHILD_FD.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group: ending the service ends whatever it started.
            .process_group(0);
        // SAFETY: `apply` makes only async-signal-safe system calls.
        unsafe {
            cmd.pre_exec(move || prepared.apply());
        }
        let proc = cmd.spawn().map_err(|source| ProcessError::Spawn {
            exe: l.exe.display().to_string(),
            source,
        })?;
        drop(theirs);
        let mut run = Running {
            proc,
            sock: ours,
            reader: FrameReader::default(),
        };
        let hello = ToChild::Hello(Box::new(l.hello.clone())).encode();
        let ready = wire::send(&mut run.sock, &hello)
            .map_err(ProcessError::from)
            .and_then(|()| wait_ready(&mut run));
        match ready {
            Ok(pid) => {
                self.pid.store(pid, Ordering::Relaxed);
                self.running = Some(run);
                Ok(())
            }
            Err(e) => {
                let end = end(run);
                Err(ProcessError::Protocol(format!("{e} ({end})")))
            }
        }
    }

    /// Forwards a fault or new gains; they act from the next sample, as in a thread.
    pub fn manage(&mut self, m: &ServiceMsg) {
        if let Some(run) = &mut self.running {
            // A child that has gone is found out by the next exchange.
            let _ = wire::send(&mut run.sock, &ToChild::Manage(m.clone()).encode());
        }
    }

    /// Sends one sample and waits for its answer. A reply the service's clock must
    /// hear about (a hang began, a slow cycle) is told to `clock` on the way.
    pub fn exchange(
        &mut self,
        msg: &ServiceInput,
        cancelled: &dyn Fn() -> bool,
        clock: &dyn Clock,
    ) -> Exchange {
        let died = |message: String| {
            Exchange::Reply(ServiceOutput::Died {
                seq: msg.seq,
                message,
            })
        };
        if let Err(e) = self.start() {
            return died(format!("service process did not start: {e}"));
        }
        let Some(run) = self.running.as_mut() else {
            return died("service process did not start".into());
        };
        if let Err(e) = wire::send(&mut run.sock, &ToChild::Sample(*msg).encode()) {
            let why = match e {
                wire::WireError::Closed => String::new(),
                e => e.to_string(),
            };
            return died(self.ended(&why));
        }
        let _ = run.sock.set_read_timeout(Some(POLL));
        let began = Instant::now();
        // In place (lockstep) the executor has nothing else to do while it waits: it
        // polls for the reply a little before sleeping, saving its own wake-up (tens
        // of µs on a VM). On a service thread (real time) it sleeps at once, leaving
        // the CPU to physics.
        let mut spin = self.launch.reply_bound.is_some() && run.sock.set_nonblocking(true).is_ok();
        let mut announced = false;
        loop {
            let Some(run) = self.running.as_mut() else {
                return died("service process ended".into());
            };
            if spin && began.elapsed() > SPIN {
                spin = false;
                let _ = run.sock.set_nonblocking(false);
            }
            let frame = match run.reader.next(&mut run.sock) {
                Ok(Some((tag, body))) => FromChild::decode(tag, &body),
                Ok(None) if spin => {
                    std::hint::spin_loop();
                    continue;
                }
                Ok(None) => {
                    if cancelled() {
                        self.stop();
                        if !announced {
                            clock.work_ends();
                        }
                        return Exchange::Cancelled { announced };
                    }
                    if let Some(bound) = self.launch.reply_bound
                        && !announced
                        && began.elapsed() > bound
                    {
                        return died(
                            self.ended(&format!("no reply within {bound:?} of wall time")),
                        );
                    }
                    continue;
                }
                Err(wire::WireError::Closed) => return died(self.ended("")),
                Err(e) => return died(self.ended(&e.to_string())),
            };
            if spin {
                spin = false;
                let _ = run.sock.set_nonblocking(false);
            }
            match frame {
                Ok(FromChild::Command {
                    seq,
                    torque,
                    delay_s,
                }) => {
                    return Exchange::Reply(ServiceOutput::Command {
                        seq,
                        torque,
                        delay_s,
                    });
                }
                Ok(FromChild::Died { seq, message }) => {
                    self.stop();
                    return Exchange::Reply(ServiceOutput::Died { seq, message });
                }
                Ok(FromChild::Silent { .. }) => return Exchange::Silent,
                Ok(FromChild::Abandoned) => {
                    announced = true;
                    clock.work_ends();
                }
                Ok(FromChild::Delay { s }) if s.is_finite() && s >= 0.0 => {
                    clock.sleep_working(clock.now() + Duration::from_secs_f64(s.min(1e6)));
                }
                Ok(other) => {
                    return died(self.ended(&format!("unexpected reply {other:?}")));
                }
                Err(e) => return died(self.ended(&format!("malformed reply: {e}"))),
            }
        }
    }

    /// Ends the process (if it runs) and says how it ended, after `why` (if any).
    fn ended(&mut self, why: &str) -> String {
        let Some(run) = self.running.take() else {
            return format!("service process ended {why}")
                .trim_end()
                .to_string();
        };
        self.pid.store(0, Ordering::Relaxed);
        let end = end(run);
        if why.is_empty() {
            format!("service process {end}")
        } else {
            format!("service process {end} ({why})")
        }
    }

    /// Ends the process, if it runs.
    pub fn stop(&mut self) {
        if let Some(run) = self.running.take() {
            self.pid.store(0, Ordering::Relaxed);
            end(run);
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wait_ready(run: &mut Running) -> Result<u32, ProcessError> {
    run.sock
        .set_read_timeout(Some(POLL))
        .map_err(ProcessError::Socket)?;
    let began = Instant::now();
    while began.elapsed() < HELLO_WITHIN {
        if let Some((tag, body)) = run.reader.next(&mut run.sock)? {
            return match FromChild::decode(tag, &body)? {
                FromChild::Ready { version, pid } if version == wire::VERSION => Ok(pid),
                FromChild::Ready { version, .. } => Err(ProcessError::Version {
                    theirs: version,
                    ours: wire::VERSION,
                }),
                other => Err(ProcessError::Protocol(format!(
                    "expected ready, got {other:?}"
                ))),
            };
        }
    }
    Err(ProcessError::NoHello(HELLO_WITHIN))
}

/// Ends a child (killing it if it still runs) and describes its end: the signal or
/// exit status, and the first line it wrote to stderr (e.g. why an allocation failed).
fn end(mut run: Running) -> String {
    drop(run.sock);
    let status = match run.proc.try_wait() {
        Ok(Some(s)) => Some(s),
        _ => {
            // Give a child that is going anyway (its socket closed) a moment to be
            // reaped with its own status; otherwise kill it.
            let until = Instant::now() + Duration::from_millis(50);
            let mut s = None;
            while Instant::now() < until {
                if let Ok(Some(st)) = run.proc.try_wait() {
                    s = Some(st);
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            s
        }
    };
    let (status, killed) = match status {
        Some(s) => (Some(s), false),
        None => {
            // SAFETY: signalling the child's own process group (it leads it).
            unsafe { libc::kill(-(run.proc.id() as i32), libc::SIGKILL) };
            let _ = run.proc.kill();
            (run.proc.wait().ok(), true)
        }
    };
    let mut err = String::new();
    if let Some(mut e) = run.proc.stderr.take() {
        // What it wrote is in the pipe now; never wait for more (something it started
        // may still hold the pipe open).
        // SAFETY: setting O_NONBLOCK on a pipe descriptor this process owns.
        unsafe {
            let fd = e.as_raw_fd();
            libc::fcntl(
                fd,
                libc::F_SETFL,
                libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK,
            );
        }
        let mut buf = Vec::new();
        let _ = (&mut e).take(64 * 1024).read_to_end(&mut buf);
        // The first line says what happened (a failed allocation, an error); what
        // follows is detail (backtrace notes).
        err = String::from_utf8_lossy(&buf)
            .lines()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().chars().take(200).collect())
            .unwrap_or_default();
    }
    let how = match status {
        _ if killed => "killed by armhil".to_string(),
        Some(s) => match (s.signal(), s.code()) {
            (Some(sig), _) => format!("killed by {} (signal {sig})", signal_name(sig)),
            (None, Some(code)) => format!("exited with status {code}"),
            _ => "ended".to_string(),
        },
        None => "ended".to_string(),
    };
    if err.is_empty() {
        how
    } else {
        format!("{how}: {err}")
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGABRT => "SIGABRT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGKILL => "SIGKILL",
        libc::SIGBUS => "SIGBUS",
        libc::SIGTERM => "SIGTERM",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        _ => "a signal",
    }
}

/// Whether either of a service's cancel flags is set.
pub fn either(a: &AtomicBool, b: Option<&AtomicBool>) -> bool {
    a.load(Ordering::Relaxed) || b.is_some_and(|b| b.load(Ordering::Relaxed))
}
