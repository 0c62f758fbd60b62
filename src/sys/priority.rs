//! Real-time scheduling for the real-time executor's threads. On Linux, a thread can
//! ask for `SCHED_FIFO` at a priority (needs root or CAP_SYS_NICE); when refused, the
//! run continues at normal priority and the report says so.

/// Why a thread could not have real-time scheduling.
#[derive(Debug, thiserror::Error)]
pub enum PriorityError {
    /// The OS refused (typically: neither root nor CAP_SYS_NICE).
    #[error("{0}")]
    Refused(#[source] std::io::Error),
    #[error("real-time scheduling is only supported on Linux")]
    Unsupported,
}

/// Puts the calling thread under `SCHED_FIFO` at `priority` (1..=99).
#[cfg(target_os = "linux")]
pub fn set_fifo(priority: i32) -> Result<(), PriorityError> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: sched_setscheduler with pid 0 affects only the calling thread and reads
    // `param`, which lives for the duration of the call.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(PriorityError::Refused(std::io::Error::last_os_error()))
    }
}

/// Not supported off Linux.
#[cfg(not(target_os = "linux"))]
pub fn set_fifo(_priority: i32) -> Result<(), PriorityError> {
    Err(PriorityError::Unsupported)
}
