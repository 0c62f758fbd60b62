//! Why the runtime refused a command: each becomes a `*_refused` event whose detail is
//! this error's text, so an operator (CLI, GUI) sees the reason and nothing changes.

/// A command the run could not carry out now.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("no joint named '{0}'")]
    NoSuchJoint(String),
    #[error("joint '{0}' is FAULTED")]
    Faulted(String),
    #[error("a joint cannot be swapped to a recording while running")]
    SwapToRecording,
    #[error("joint '{0}' is already simulated")]
    AlreadySimulated(String),
    #[error("joint '{0}' is already on a serial bus")]
    AlreadyOnBus(String),
    #[error("the e-stop is not latched")]
    EStopNotLatched,
    #[error("joint '{0}' is not FAULTED")]
    NotFaulted(String),
    /// Management messages waiting for a service that takes no samples.
    #[error("{0} messages already wait for this joint's service (it takes no samples)")]
    Backlog(usize),
}
