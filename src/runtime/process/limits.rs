//! A service process's resource limits, applied in the child between fork and exec
//! (only async-signal-safe system calls there): the heap limit, the CPUs it may use,
//! its priority, and death with its parent.

use std::io;

use crate::control::ProcessLimits;

/// Everything the child applies to itself before exec, prepared in the parent.
#[derive(Clone, Copy)]
pub(super) struct Prepared {
    data_bytes: libc::rlim_t,
    cpus: Option<libc::cpu_set_t>,
    nice: i32,
    fifo: Option<i32>,
    /// The socket end to hand the child, and where (fd 3).
    fd: i32,
}

/// Where the child finds its socket.
pub(super) const CHILD_FD: i32 = 3;

impl Prepared {
    pub(super) fn new(l: &ProcessLimits, rt_priority: Option<i32>, fd: i32) -> Self {
        let cpus = (!l.cpus.is_empty()).then(|| {
            // SAFETY: an all-zero cpu_set_t is a valid empty set; CPU_SET writes one bit
            // of it for a CPU index below CPU_SETSIZE (the scene checked the index).
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                for &c in &l.cpus {
                    if (c as usize) < libc::CPU_SETSIZE as usize {
                        libc::CPU_SET(c as usize, &mut set);
                    }
                }
                set
            }
        });
        Self {
            data_bytes: l.memory_mb as libc::rlim_t * 1024 * 1024,
            cpus,
            nice: l.nice,
            fifo: rt_priority.map(|p| (p - 1).max(1)),
            fd,
        }
    }

    /// Runs in the child after fork, before exec.
    pub(super) fn apply(&self) -> io::Result<()> {
        let ok = |r: libc::c_int| {
            if r == -1 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        // SAFETY: plain system calls on this (the child) process with valid arguments;
        // all are async-signal-safe.
        unsafe {
            // Dies with armhil even if armhil is killed outright.
            ok(libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
            ))?;
            if self.fd == CHILD_FD {
                ok(libc::fcntl(self.fd, libc::F_SETFD, 0))?;
            } else {
                ok(libc::dup2(self.fd, CHILD_FD))?;
            }
            let lim = libc::rlimit {
                rlim_cur: self.data_bytes,
                rlim_max: self.data_bytes,
            };
            ok(libc::setrlimit(libc::RLIMIT_DATA, &lim))?;
            if let Some(set) = &self.cpus {
                ok(libc::sched_setaffinity(
                    0,
                    std::mem::size_of::<libc::cpu_set_t>(),
                    set,
                ))?;
            }
            match self.fifo {
                Some(p) => {
                    // As for service threads: without the privilege, normal scheduling.
                    let param = libc::sched_param { sched_priority: p };
                    libc::sched_setscheduler(0, libc::SCHED_FIFO, &param);
                }
                None if self.nice != 0 => {
                    ok(libc::setpriority(libc::PRIO_PROCESS, 0, self.nice))?;
                }
                None => {}
            }
        }
        Ok(())
    }
}
