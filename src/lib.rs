//! armhil: a real-time hardware-in-the-loop simulator for multi-joint robot arms.
//!
//! The core (scene, physics, servo, control, runtime, faults, telemetry) is plain Rust
//! plus rapier3d and crossbeam and builds without any rendering; the `gui` feature adds
//! the desktop window (bevy's render stack, egui panels and plots).

pub mod app;
pub mod batch;
pub mod campaign;
pub mod control;
pub mod expect;
pub mod faults;
#[cfg(feature = "gui")]
pub mod gui;
pub mod hardware;
pub mod physics;
pub mod recording;
pub mod report;
pub mod runtime;
pub mod scene;
pub mod servo;
pub mod supervision;
pub mod sys;
pub mod telemetry;
