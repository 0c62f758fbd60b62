//! Joint services in their own OS processes (`isolation: Process`): armhil re-executes
//! itself as `armhil joint-service --fd 3`, one child per joint service, and talks to
//! it over a Unix stream socket pair ([`wire`]). The child runs the very
//! [`JointService`](super::service::JointService) a thread would ([`serve`]); armhil's
//! side ([`child::Child`]) is the body of a service whose controller lives elsewhere:
//! it forwards samples and management messages and turns the child's end (an abort, a
//! crash, the heap limit) into the service's death, reported like a caught panic, so
//! supervision, safe states and restarts work unchanged.
//!
//! Why a socket pair rather than a shared-memory ring: the round trip is a few tens of
//! µs on this class of machine (BENCHMARKS.md, "Services in their own processes"),
//! well inside a 1 ms period, the kernel tells us at once when the child dies (the
//! socket closes), and no memory is shared with a process that may be corrupting its
//! own.

pub mod child;
mod limits;
pub mod serve;
pub mod wire;

pub use child::{Child, Launch};

/// What can go wrong between armhil and a service's process.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot start {exe}: {source}")]
    Spawn {
        exe: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the service socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("{0}")]
    Wire(#[from] wire::WireError),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("the service speaks wire version {theirs}, this armhil {ours}")]
    Version { theirs: u32, ours: u32 },
    #[error("--fd {0}: expected an inherited descriptor, 3 or above")]
    Fd(i32),
    #[error("no answer to the hello within {0:?}")]
    NoHello(std::time::Duration),
}
