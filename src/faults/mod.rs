//! The fault catalogue: what can go wrong with a joint, injected on the scene
//! timeline (`faults: [...]`), from the CLI (`--fault`) or at runtime through the
//! control channel. In the lockstep executor every fault acts on simulated time, so a
//! faulted run is reproducible from its seed; in the real-time executor controller
//! faults are real (a thread that sleeps, spins or panics).
//!
//! Where each kind acts ([`FaultClass`]): controller faults inside the joint's service
//! (`runtime::service`); sensor and actuator faults in the simulated servo
//! (`runtime::plant`); link faults in a man-in-the-middle layer on a hardware joint's
//! serial transport (`hardware::mitm`), so they work against real servos too. How
//! each is *detected* is the supervisor's business (`crate::supervision` observes, `runtime::plant` decides); which
//! symptom reveals which kind is [`FaultKind::revealed_by`].

pub mod fuzz;
pub mod spec;

pub use spec::{
    CLI_KINDS, FaultClass, FaultKind, FaultParseError, FaultSpec, ServoErrorBit, parse_cli_fault,
    unknown_joint,
};

use crate::supervision::Symptom;

impl FaultKind {
    /// Whether observing `s` on the joint counts as detecting this fault.
    pub fn revealed_by(self, s: Symptom) -> bool {
        use Symptom as S;
        match self {
            // A process that aborts, crashes or is ended at its memory limit dies.
            FaultKind::Panic | FaultKind::Abort | FaultKind::Crash | FaultKind::Leak { .. } => {
                s == S::Died
            }
            FaultKind::Hang => matches!(s, S::Silent | S::Late),
            FaultKind::Slow { .. } => matches!(s, S::Late | S::Silent),
            FaultKind::EncoderStuck
            | FaultKind::EncoderNoise { .. }
            | FaultKind::EncoderOffset { .. } => {
                matches!(s, S::EncoderImplausible | S::FollowingError)
            }
            FaultKind::TorqueSag { .. } => matches!(s, S::TorqueDeficit | S::FollowingError),
            FaultKind::ServoError { .. } | FaultKind::PowerLoss => s == S::ServoStatus,
            // Stuck: the joint stands still under a moving setpoint (to the host, as a
            // frozen encoder would), its servo pushes at full torque without moving it
            // (a stall), it falls behind, and the servo's overload protection trips
            // (its status).
            FaultKind::Jam => matches!(
                s,
                S::EncoderImplausible | S::Stalled | S::FollowingError | S::ServoStatus
            ),
            FaultKind::LinkDrop { .. }
            | FaultKind::LinkCorrupt { .. }
            | FaultKind::LinkLatency { .. }
            | FaultKind::Unplug
            | FaultKind::WrongId { .. } => s == S::LinkError,
        }
    }
}
