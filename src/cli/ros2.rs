//! `--ros2`: the run on the ROS 2 graph through zenoh-bridge-ros2dds (joint states
//! and clock out, joint commands in), over the run's Zenoh session (`--zenoh-*`).

use armhil::telemetry::ros2::{Ros2Options, check_name};

use super::BadInput;

#[derive(clap::Args, Debug, Clone, Default)]
pub(super) struct Ros2Args {
    /// Publish the run as ROS 2 topics on Zenoh, in zenoh-bridge-ros2dds's keys and
    /// CDR: /joint_states (sensor_msgs/JointState) and /clock (simulated time), and
    /// follow joint positions/efforts commanded on --ros2-commands. The session
    /// listens where --zenoh-listen says (default tcp/127.0.0.1:7447).
    #[arg(long)]
    pub(super) ros2: bool,
    /// The namespace zenoh-bridge-ros2dds was started with (`--namespace`), if any.
    #[arg(long, requires = "ros2", value_name = "NS", value_parser = ros_name)]
    ros2_namespace: Option<String>,
    /// The topic the joint states go on (e.g. /armhil/joint_states when a
    /// joint_state_broadcaster owns /joint_states).
    #[arg(long, requires = "ros2", value_name = "TOPIC", default_value = armhil::telemetry::ros2::JOINT_STATES, value_parser = ros_name)]
    ros2_states: String,
    /// The joint command topic (sensor_msgs/JointState: name, position and/or
    /// effort), as the topic-based ros2_control hardware interface publishes it.
    #[arg(long, requires = "ros2", value_name = "TOPIC", default_value = armhil::telemetry::ros2::JOINT_COMMANDS, value_parser = ros_name)]
    ros2_commands: String,
    /// Start the run only once something subscribes to the joint states (the ROS
    /// side then sees them from simulated time 0).
    #[arg(long, requires = "ros2")]
    ros2_wait: bool,
}

fn ros_name(s: &str) -> Result<String, String> {
    check_name(s).map(|_| s.to_string())
}

impl Ros2Args {
    /// The ROS 2 options, if `--ros2` was given (and this armhil can).
    pub(super) fn options(&self) -> Result<Option<Ros2Options>, BadInput> {
        if !self.ros2 {
            return Ok(None);
        }
        if !cfg!(feature = "ros2") {
            return Err(BadInput(
                "--ros2: this armhil was built without the `ros2` feature; rebuild with default features".into(),
            ));
        }
        Ok(Some(Ros2Options {
            namespace: self.ros2_namespace.clone().unwrap_or_default(),
            states: self.ros2_states.clone(),
            commands: self.ros2_commands.clone(),
            wait: self.ros2_wait,
        }))
    }
}
