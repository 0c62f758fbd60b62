//! The child's side: `armhil joint-service --fd N` becomes one joint's service. It
//! reads the hello (controller, servo, faults, fault mode), builds the same
//! [`JointService`] a thread would run, and answers each sample with one frame until
//! armhil closes the socket. Controller faults act here, in this process: a panic is
//! caught at the service boundary and answered `Died`; an abort, a crash or a leak
//! past the heap limit ends the process, which armhil sees as the socket closing.
//!
//! The service's clock is the run's clock seen over the wire ([`WireClock`]): the
//! two things a service tells its clock (a real hang began; a slow cycle sleeps) go
//! to armhil as frames, so a run on a manual clock stays exact with a child too.

use std::io::Write;
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use super::ProcessError;
use super::wire::{self, FrameReader, FromChild, ToChild};
use crate::runtime::service::{JointService, ServiceOutput};
use crate::sys::clock::{Clock, WallClock};

/// The run's clock, reached over the socket (see the module doc).
struct WireClock {
    wall: WallClock,
    sock: UnixStream,
}

impl WireClock {
    fn tell(&self, f: FromChild) {
        // If armhil has gone the next read ends the service; nothing to do here.
        let _ = (&self.sock).write_all(&f.encode());
    }
}

impl Clock for WireClock {
    fn now(&self) -> Duration {
        self.wall.now()
    }

    /// Only a real hang calls this here (samples are handled with `poll`, which does
    /// not): armhil's clock need not wait for this service any more.
    fn work_ends(&self) {
        self.tell(FromChild::Abandoned);
    }

    fn sleep_working(&self, deadline: Duration) {
        let s = deadline.saturating_sub(self.now()).as_secs_f64();
        self.tell(FromChild::Delay { s });
    }
}

/// Serves on the inherited socket `fd` until armhil closes it.
pub fn serve(fd: i32) -> Result<(), ProcessError> {
    if fd < 3 {
        return Err(ProcessError::Fd(fd));
    }
    // SAFETY: armhil passed us this descriptor (its end of a socket pair, dup'ed to
    // `fd` before exec); nothing else in this process owns it.
    let sock = unsafe { UnixStream::from_raw_fd(fd) };
    let mut reader = FrameReader::default();
    let mut rd = sock.try_clone().map_err(ProcessError::Socket)?;
    let mut wr = sock.try_clone().map_err(ProcessError::Socket)?;
    let hello = match next(&mut reader, &mut rd)? {
        Some(ToChild::Hello(h)) => h,
        Some(other) => {
            return Err(ProcessError::Protocol(format!(
                "expected hello, got {other:?}"
            )));
        }
        None => return Ok(()),
    };
    if hello.version != wire::VERSION {
        return Err(ProcessError::Version {
            theirs: hello.version,
            ours: wire::VERSION,
        });
    }
    let (mut svc, port) = JointService::with_faults(
        &hello.name,
        crate::control::build(&hello.controller, &hello.servo),
        hello.faults.clone(),
        hello.mode,
    );
    svc.clock = Arc::new(WireClock {
        wall: WallClock::new(),
        sock,
    });
    let ready = FromChild::Ready {
        version: wire::VERSION,
        pid: std::process::id(),
    };
    wire::send(&mut wr, &ready.encode())?;
    while let Some(msg) = next(&mut reader, &mut rd)? {
        match msg {
            ToChild::Manage(m) => svc.apply(m),
            ToChild::Sample(s) => {
                let seq = s.seq;
                // The inbox is empty: the previous sample was handled before this read.
                let _ = port.to_service.try_send(s);
                svc.poll();
                let reply = match port.from_service.try_recv() {
                    Ok(ServiceOutput::Command {
                        seq,
                        torque,
                        delay_s,
                    }) => FromChild::Command {
                        seq,
                        torque,
                        delay_s,
                    },
                    Ok(ServiceOutput::Died { seq, message }) => FromChild::Died { seq, message },
                    // Only an external body reports garbled replies or goes away;
                    // this one runs here.
                    Ok(ServiceOutput::Garbled { .. } | ServiceOutput::Away { .. }) | Err(_) => {
                        FromChild::Silent { seq }
                    }
                };
                wire::send(&mut wr, &reply.encode())?;
            }
            ToChild::Hello(_) => return Err(ProcessError::Protocol("a second hello".into())),
        }
    }
    Ok(())
}

/// The next message, or `None` once armhil has closed the socket.
fn next(reader: &mut FrameReader, rd: &mut UnixStream) -> Result<Option<ToChild>, ProcessError> {
    loop {
        match reader.next(rd) {
            Ok(Some((tag, body))) => return Ok(Some(ToChild::decode(tag, &body)?)),
            Ok(None) => continue,
            Err(wire::WireError::Closed) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}
