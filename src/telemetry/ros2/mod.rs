//! ROS 2 without a ROS install (`--ros2`, feature `ros2`): the run on Zenoh in the
//! key expressions and CDR payloads of zenoh-bridge-ros2dds, so the bridge puts it on
//! the ROS 2 graph (DDS) as if a robot driver published it. A topic `/T` is the key
//! `T` (the namespace, when the bridge has one, before it), the payload the message
//! exactly as DDS carries it ([`cdr`]):
//!
//! - `joint_states` (`sensor_msgs/msg/JointState`; another topic if told): every
//!   joint's measured position, velocity and effort, stamped with simulated time, 50 Hz
//!   of simulated time;
//! - `clock` (`rosgraph_msgs/msg/Clock`): simulated time, with each joint state, for
//!   nodes with `use_sim_time`;
//! - `joint_commands` (another topic if told; subscribed, `sensor_msgs/msg/JointState`,
//!   as the topic-based
//!   ros2_control hardware interface publishes it): per named joint a position
//!   (velocity fed forward when given) and/or an effort. Each becomes the joint's
//!   latest target ([`crate::runtime::commanded`]); its own service tracks it under
//!   supervision. NaN means "not commanded" (ros2_control's unset interfaces);
//!   malformed messages, unknown joint names and arrays of the wrong length are
//!   counted for the report, never applied.
//!
//! A sink like the live server: fed through a bounded [`Tap`] that takes only the
//! joint-state records, published from its own thread, never on the control path.

#[cfg(feature = "ros2")]
mod bridge;
pub mod cdr;

#[cfg(feature = "ros2")]
pub use bridge::{Ros2Error, start};

/// A run's ROS 2 side, ready to go: what [`open`] gives.
#[cfg(feature = "ros2")]
pub struct Ros2Run {
    pub sink: crate::runtime::tap::SinkFactory,
    pub targets: crate::runtime::commanded::Targets,
    pub session: zenoh::Session,
}

#[cfg(feature = "ros2")]
impl Ros2Run {
    /// Puts it into a run's options: the sink, the targets, and the session that
    /// external controllers then share.
    pub fn apply(self, run: &mut crate::runtime::RunOptions) {
        run.ros2 = Some(self.sink);
        run.targets = Some(self.targets);
        run.zenoh_session = Some(self.session);
    }
}

/// Opens the run's Zenoh session as `zenoh` says and prepares the ROS 2 sink for an
/// arm with `joints`.
#[cfg(feature = "ros2")]
pub fn open(
    zenoh: &crate::runtime::external::ZenohOptions,
    opts: Ros2Options,
    joints: Vec<String>,
) -> Result<Ros2Run, crate::runtime::external::ExternalError> {
    let session = crate::runtime::external::open(zenoh)?;
    let targets =
        crate::runtime::commanded::Targets::new(format!("ROS 2 {}", opts.commands), joints);
    Ok(Ros2Run {
        sink: start(session.clone(), opts, targets.clone()),
        targets,
        session,
    })
}

/// Topics, as ROS names them.
pub const JOINT_STATES: &str = "/joint_states";
pub const CLOCK: &str = "/clock";
/// The command topic of the topic-based ros2_control hardware interface.
pub const JOINT_COMMANDS: &str = "/joint_commands";

/// How the run appears on the ROS 2 graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Ros2Options {
    /// The bridge's namespace (`zenoh-bridge-ros2dds --namespace`), or empty.
    pub namespace: String,
    /// The topic the joint states go on (a ros2_control stack whose
    /// joint_state_broadcaster owns `/joint_states` wants them elsewhere).
    pub states: String,
    /// The topic the joints' commands come on.
    pub commands: String,
    /// Start the run only once something subscribes to the joint states (the ROS
    /// side then sees them from simulated time 0).
    pub wait: bool,
}

impl Default for Ros2Options {
    fn default() -> Self {
        Self {
            namespace: String::new(),
            states: JOINT_STATES.into(),
            commands: JOINT_COMMANDS.into(),
            wait: false,
        }
    }
}

impl Ros2Options {
    /// The Zenoh key of ROS topic `topic`, as zenoh-bridge-ros2dds maps it: the
    /// namespace and the topic without their leading and trailing slashes.
    pub fn key(&self, topic: &str) -> String {
        [self.namespace.as_str(), topic]
            .iter()
            .map(|s| s.trim_matches('/'))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// A ROS topic or namespace name: `/`-separated tokens of letters, digits and `_`,
/// none starting with a digit (ROS 2's rules, without `~` and substitutions).
pub fn check_name(s: &str) -> Result<(), String> {
    let tokens: Vec<&str> = s.trim_matches('/').split('/').collect();
    let ok = |t: &str| {
        !t.is_empty()
            && !t.starts_with(|c: char| c.is_ascii_digit())
            && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if s.trim_matches('/').is_empty() || !tokens.iter().all(|t| ok(t)) {
        return Err(format!(
            "{s:?}: expected a ROS name such as /joint_commands (tokens of letters, digits and _, not starting with a digit)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_bridges() {
        let o = Ros2Options::default();
        assert_eq!(o.key(&o.states), "joint_states");
        assert_eq!(o.key(&o.commands), "joint_commands");
        let o = Ros2Options {
            namespace: "/arm1/".into(),
            ..Default::default()
        };
        assert_eq!(o.key(CLOCK), "arm1/clock");
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("/joint_commands").is_ok());
        assert!(check_name("arm1/cmd").is_ok());
        for bad in ["", "/", "/a b", "/1x", "/a//b", "/a*"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
