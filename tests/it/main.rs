//! armhil integration tests: one binary (heavy crates link once), one module per area.

mod bridge;
mod campaign;
mod cli;
mod common;
mod control_path;
#[cfg(feature = "zenoh")]
mod external;
mod faults;
mod fuzz;
#[cfg(feature = "gui")]
mod gui;
mod layers;
#[cfg(feature = "live")]
mod live;
mod mitm;
mod physics;
mod process;
mod protocol;
mod realtime_exact;
mod recording;
#[cfg(feature = "ros2")]
mod ros2;
mod runtime;
mod scenes;
mod ser2net;
mod serve;
mod session;
mod stall;
mod supervision;
mod tracking;
mod transport;
mod urdf;
mod virtual_servo;
mod world;
