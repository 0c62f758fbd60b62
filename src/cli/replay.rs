//! `armhil replay`: the window over a recording.
use std::path::PathBuf;
use std::process::ExitCode;

#[cfg(feature = "gui")]
use super::BadInput;
#[cfg(not(feature = "gui"))]
use super::BadInput;
use super::run::GuiArgs;
#[cfg(feature = "gui")]
use super::run::{RunArgs, gui_window};

#[derive(clap::Args)]
pub(super) struct ReplayArgs {
    /// An MCAP file written by `--record`.
    file: PathBuf,
    /// The scene the recording was made of (default: the copy stored in the file).
    #[arg(long, value_name = "SCENE")]
    scene: Option<PathBuf>,
    /// Start at this recorded time, s.
    #[arg(long, value_name = "S")]
    at: Option<f64>,
    #[command(flatten)]
    gui: GuiArgs,
}

#[cfg(not(feature = "gui"))]
pub(super) fn cmd_replay(_a: ReplayArgs) -> anyhow::Result<ExitCode> {
    Err(BadInput(
        "this armhil was built without the `gui` feature: `armhil export` gives the recording as CSV".into(),
    )
    .into())
}

#[cfg(feature = "gui")]
pub(super) fn cmd_replay(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    let rec = armhil::recording::read(&a.file).map_err(|e| BadInput(e.to_string()))?;
    let scene = armhil::app::replay::scene_of(&rec, &a.file, a.scene.as_deref())
        .map_err(|e| BadInput(e.to_string()))?;
    let matched = scene
        .joints
        .iter()
        .filter(|j| rec.joints.contains_key(&j.name))
        .count();
    if matched == 0 {
        return Err(BadInput(format!(
            "{}: no recorded joint matches a joint of scene '{}'",
            a.file.display(),
            scene.name
        ))
        .into());
    }
    if let Some(t) = a.at
        && !t.is_finite()
    {
        return Err(BadInput(format!("--at: {t} is not a time in seconds")).into());
    }
    let at = a.at.unwrap_or(0.0);
    let args = RunArgs {
        scene: a.file.clone(),
        zenoh: Default::default(),
        live: Default::default(),
        ros2: Default::default(),
        headless: false,
        duration: None,
        seed: None,
        realtime: false,
        report: None,
        swap: Vec::new(),
        fault: Vec::new(),
        rt_priority: None,
        hang_timeout: 2.0,
        real_controller_faults: false,
        record: None,
        gui: a.gui.clone(),
    };
    gui_window(scene, Vec::new(), &args, Some((rec, at)))
}
