//! Scenarios: a small file that reuses a whole scene and adds what a test needs,
//! so a library of fault scenarios does not copy the arm into every file:
//!
//! ```ron
//! Scenario(
//!     extends: "../arm6.ron",          // a scene file, relative to this one
//!     duration_s: 4.0,                 // optional overrides
//!     drives: { "elbow_pitch": (supervision: (max_restarts: 1)) },
//!     faults: [(at: 2.0, joint: "elbow_pitch", kind: Hang)],
//!     expect: [Recovered(joint: "elbow_pitch", within_ms: 100)],
//! )
//! ```
//!
//! The base scene's faults and expectations are kept and the scenario's appended; a
//! scenario's `world: (...)` puts the base scene's arm in that world.
//! Errors name the scenario file (syntax, unknown fields, a missing base) or the
//! base file (its own problems).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::SceneError;
use super::schema::{ArmSpec, DriveSpec, SafeState, SceneFile};
use crate::expect::spec::Expectation;
use crate::faults::spec::FaultSpec;
use crate::supervision::spec::SupervisionSpec;

/// A scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "Scenario", deny_unknown_fields)]
pub struct ScenarioFile {
    /// The scene this scenario runs, relative to the scenario file.
    pub extends: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// Per-joint changes to the base scene's drives.
    #[serde(default)]
    pub drives: BTreeMap<String, DriveOverride>,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    #[serde(default)]
    pub expect: Vec<Expectation>,
    /// A world for the base scene's arm (replacing the base scene's own, if any).
    #[serde(default)]
    pub world: Option<crate::physics::spec::WorldSpec>,
}

/// What a scenario may change in a joint's drive.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriveOverride {
    #[serde(default)]
    pub safe_state: Option<SafeState>,
    #[serde(default)]
    pub supervision: Option<SupervisionSpec>,
    #[serde(default)]
    pub backend: Option<super::schema::BackendSpec>,
    #[serde(default)]
    pub on_link_loss: Option<super::schema::LinkLossPolicy>,
    #[serde(default)]
    pub isolation: Option<crate::control::spec::Isolation>,
    /// Another controller for the joint (e.g. an external one).
    #[serde(default)]
    pub controller: Option<crate::control::spec::ControllerSpec>,
    #[serde(default)]
    pub process: Option<crate::control::spec::ProcessLimits>,
}

/// Whether `text` looks like a scenario (its first token is `Scenario(`).
pub fn is_scenario(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("//"))
        .is_some_and(|l| l.starts_with("Scenario"))
}

/// The base scene with the scenario applied; `path` is the scenario file.
pub fn resolve(
    path: &Path,
    s: ScenarioFile,
) -> Result<(std::path::PathBuf, SceneFile), SceneError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let base_path = dir.join(&s.extends);
    let text = std::fs::read_to_string(&base_path).map_err(|source| SceneError::Io {
        file: base_path.clone(),
        source,
    })?;
    if is_scenario(&text) {
        return Err(SceneError::Invalid {
            file: path.to_path_buf(),
            problems: vec![super::Problem {
                field: "extends".into(),
                message: format!(
                    "{} is itself a scenario: extend a scene file",
                    base_path.display()
                ),
            }],
        });
    }
    let mut f = super::parse_ron(&base_path, &text)?;
    // The base's relative URDF path stays relative to the base.
    if let ArmSpec::Urdf { path: rel } = &mut f.arm {
        let base_dir = base_path.parent().unwrap_or(Path::new("."));
        let joined = base_dir.join(&*rel);
        *rel = std::path::absolute(&joined)
            .unwrap_or(joined)
            .display()
            .to_string();
    }
    if s.name.is_some() {
        f.name = s.name;
    } else {
        f.name = path.file_stem().map(|n| n.to_string_lossy().into_owned());
    }
    if let Some(v) = s.seed {
        f.seed = v;
    }
    if let Some(v) = s.duration_s {
        f.duration_s = v;
    }
    let mut problems = Vec::new();
    for (joint, o) in s.drives {
        let drive: Option<DriveSpec> = f
            .drives
            .get(&joint)
            .cloned()
            .or_else(|| f.default_drive.clone());
        let Some(mut d) = drive else {
            problems.push(super::Problem {
                field: format!("drives[\"{joint}\"]"),
                message: format!("the base scene {} has no drive for it", base_path.display()),
            });
            continue;
        };
        if let Some(v) = o.safe_state {
            d.safe_state = v;
        }
        if let Some(v) = o.supervision {
            d.supervision = v;
        }
        if let Some(v) = o.backend {
            d.backend = v;
        }
        if let Some(v) = o.on_link_loss {
            d.on_link_loss = v;
        }
        if let Some(v) = o.isolation {
            d.isolation = v;
        }
        if let Some(v) = o.controller {
            d.controller = v;
        }
        if let Some(v) = o.process {
            d.process = Some(v);
        }
        f.drives.insert(joint, d);
    }
    if !problems.is_empty() {
        return Err(SceneError::Invalid {
            file: path.to_path_buf(),
            problems,
        });
    }
    f.faults.extend(s.faults);
    f.expect.extend(s.expect);
    if s.world.is_some() {
        f.world = s.world;
    }
    Ok((base_path, f))
}
