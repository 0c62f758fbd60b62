//! Telemetry sinks: taps beside a run that never slow its control path. The MCAP
//! recorder (a writer thread fed through a [`crate::runtime::tap::Tap`]), the live
//! Foxglove server (feature `live`, fed the same way), the ROS 2 topics over Zenoh
//! (feature `ros2`) and JUnit XML for CI. The file
//! format itself (records, protobuf encoding, reading) is [`crate::recording`]; the
//! report's types are [`crate::report`].

pub mod junit;
#[cfg(feature = "live")]
pub mod live;
pub mod recorder;
pub mod ros2;
