//! Scenes: the RON schema a user writes (`schema`), URDF import (`urdf`), and the
//! validated, typed [`Scene`] that the rest of armhil runs. Loading is all-or-nothing:
//! either every field is valid or the caller gets a [`SceneError`] listing each problem
//! with its file, field and expected range, and nothing has started.

mod error;
pub mod generate;
pub mod mesh;
mod model;
pub mod scenario;
pub mod schema;
pub mod urdf;
mod validate;

pub use crate::servo::spec::ServoSpec;
pub use error::{Problem, SceneError};
pub use model::{ArmModel, JointConfig, KinJoint, Link, PhysicsConfig, Scene, Trace};
pub use schema::{
    BackendSpec, BusProtocol, DriveSpec, JointKind, LinkLossPolicy, OriginSpec, SafeState,
    ShapeSpec, TrajectorySpec, WaypointSpec,
};

use std::path::Path;

impl Scene {
    /// Whether the scene can only run on the wall clock: real servos live in real
    /// time, so a scene with a joint on a serial bus runs on the real-time executor
    /// whatever was asked. The one place this rule is written.
    pub fn needs_realtime(&self) -> bool {
        self.joints.iter().any(|j| j.backend.is_hardware())
    }

    /// Whether a joint's controller is an external service (over Zenoh): runs of
    /// such scenes cannot share the machine, they share the service's keys.
    pub fn has_external(&self) -> bool {
        self.joints.iter().any(|j| {
            matches!(
                j.controller,
                crate::control::spec::ControllerSpec::External(_)
            )
        })
    }

    /// The serial ports the scene's joints are on, each once, in order of first use.
    pub fn serial_ports(&self) -> Vec<String> {
        let mut ports: Vec<String> = Vec::new();
        for c in &self.joints {
            if let BackendSpec::Serial { port, .. } = &c.backend
                && !ports.contains(port)
            {
                ports.push(port.clone());
            }
        }
        ports
    }

    /// Loads a scene from a `.ron` scene file or a `.urdf` file.
    pub fn load(path: &Path) -> Result<Scene, SceneError> {
        let text = std::fs::read_to_string(path).map_err(|source| SceneError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        let is_urdf = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("urdf"));
        if is_urdf {
            validate::from_urdf_text(path, &text)
        } else {
            Self::from_ron_str(path, &text)
        }
    }

    /// Parses and validates RON text; `path` names the file in errors and anchors
    /// relative URDF paths.
    pub fn from_ron_str(path: &Path, text: &str) -> Result<Scene, SceneError> {
        if scenario::is_scenario(text) {
            let s = parse_as::<scenario::ScenarioFile>(path, text)?;
            let (_base, file) = scenario::resolve(path, s)?;
            return validate::validate(path, file);
        }
        let file = parse_ron(path, text)?;
        validate::validate(path, file)
    }
}

/// Parses RON text into the raw schema, mapping errors to file:line:column.
pub fn parse_ron(path: &Path, text: &str) -> Result<schema::SceneFile, SceneError> {
    parse_as(path, text)
}

fn parse_as<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, SceneError> {
    let opts = ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .with_default_extension(ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES);
    opts.from_str::<T>(text).map_err(|e| {
        let mut message = e.code.to_string();
        // `Some((a: 1))` reads as a newtype holding a tuple here: say how to write it.
        let line = text
            .lines()
            .nth(e.position.line.saturating_sub(1))
            .unwrap_or("");
        let before: String = line
            .chars()
            .take(e.position.col.saturating_sub(1))
            .collect();
        if before.trim_end().ends_with("Some(") {
            message.push_str(
                " (an optional section is written `Some(field: ..)` or just `(field: ..)`, \
                 without a second pair of parentheses)",
            );
        }
        SceneError::Parse {
            file: path.to_path_buf(),
            line: e.position.line,
            column: e.position.col,
            message,
        }
    })
}
