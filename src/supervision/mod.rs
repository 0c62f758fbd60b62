//! Supervision as a domain: what a joint's supervision settings are ([`spec`]), and
//! the pure monitors that turn what a host observes into symptoms ([`monitors`]).
//! Deciding what to do about a symptom (safe state, restart, latch) is the runtime's
//! supervisor; this module only observes.

pub mod monitors;
pub mod spec;

pub use monitors::{CLEAR_AFTER_S, Monitors, RestartBudget, Symptom};
pub use spec::SupervisionSpec;
