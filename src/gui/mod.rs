//! The desktop GUI (feature `gui`): a Bevy window with the arm in 3D and egui panels.
//!
//! The GUI is a view of a [`Session`](crate::app::session::Session): the run lives on
//! its own thread at its own pace ([`LivePlugin`]), the window only reads snapshots
//! and sends [`ControlCommand`](crate::runtime::command::ControlCommand)s on the run's
//! control channel, exactly as the CLI's stdin does. A slow frame therefore delays no
//! control period. Modules: `view3d` (camera, arm, gizmos), `mesh` (STL loading),
//! `panels` (egui), `style` (state colours, units), `shot` (screenshot mode, frame
//! statistics, exit).

mod mesh;
mod panels;
mod shot;
mod style;
mod view3d;
mod world;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bevy::prelude::*;
use bevy::window::{PresentMode, WindowResolution};

use crate::app::live::{LivePlugin, LiveSystems};
use crate::app::session::SessionOptions;
use crate::report::Report;
use crate::scene::Scene;

pub use shot::FrameStats;

/// How to open the GUI.
#[derive(Debug, Clone)]
pub struct GuiOptions {
    pub session: SessionOptions,
    /// Write a PNG of the window after `exit_after` seconds, then exit.
    pub screenshot: Option<PathBuf>,
    /// Close the window after this many wall-clock seconds.
    pub exit_after: Option<f64>,
    /// Diagnostic: make every frame take this many more milliseconds (a frozen
    /// window), to show the run does not depend on the frame rate.
    pub stall_frame_ms: u64,
    /// Window size, logical pixels.
    pub size: (u32, u32),
    /// Start with joint axes / link frames shown.
    pub show_axes: bool,
    pub show_frames: bool,
    /// Play this recording back (from this time, s) instead of running the scene.
    pub replay: Option<(crate::recording::Recording, f64)>,
}

impl Default for GuiOptions {
    fn default() -> Self {
        Self {
            session: SessionOptions::default(),
            screenshot: None,
            exit_after: None,
            stall_frame_ms: 0,
            size: (1280, 720),
            show_axes: false,
            show_frames: false,
            replay: None,
        }
    }
}

/// What the GUI leaves behind when its window closes.
#[derive(Debug, Clone, Default)]
pub struct GuiOutcome {
    /// The run's report (the run is stopped when the window closes).
    pub report: Option<Report>,
    pub frames: FrameStats,
    /// The screenshot was asked for but not written: why.
    pub screenshot_error: Option<String>,
    /// The run could not start: why.
    pub run_error: Option<String>,
}

/// Shared slot the app fills on exit.
#[derive(Resource, Clone)]
pub(crate) struct Outcome(pub Arc<Mutex<GuiOutcome>>);

/// Opens the window and runs until it is closed (or `exit_after`). Blocks.
pub fn run(scene: Scene, opts: GuiOptions) -> GuiOutcome {
    let executor = crate::runtime::Executor::for_scene(&scene, opts.session.executor);
    if executor == crate::runtime::Executor::Realtime
        && std::env::var_os("LP_NUM_THREADS").is_none()
    {
        // Mesa's software rasterizer (no GPU: VMs, CI) otherwise renders on every
        // core, and a real-time run on a 2-core machine then misses deadlines (190
        // in 10 s against 3 with one render thread, BENCHMARKS.md). GPUs ignore it.
        // SAFETY: set before the app and the run start any thread; nothing else in
        // this process reads the environment concurrently.
        unsafe { std::env::set_var("LP_NUM_THREADS", "1") };
    }
    let outcome = Arc::new(Mutex::new(GuiOutcome::default()));
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: if opts.replay.is_some() {
                        format!("armhil replay: {}", scene.name)
                    } else {
                        format!("armhil: {}", scene.name)
                    },
                    resolution: WindowResolution::new(opts.size.0, opts.size.1)
                        .with_scale_factor_override(1.0),
                    present_mode: PresentMode::AutoVsync,
                    ..default()
                }),
                ..default()
            })
            .set(bevy::log::LogPlugin {
                level: bevy::log::Level::WARN,
                ..default()
            }),
    )
    .add_plugins(bevy_egui::EguiPlugin::default())
    .add_plugins(LivePlugin {
        scene: scene.clone(),
        options: opts.session.clone(),
        replay: opts.replay.clone(),
    })
    .insert_resource(Outcome(outcome.clone()))
    .add_plugins(GuiPlugin { opts });
    app.run();
    outcome.lock().map(|o| o.clone()).unwrap_or_default()
}

/// System sets of the GUI, after the session's refresh.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum GuiSystems {
    /// Move the 3D arm, colour it, draw gizmos, orbit the camera.
    View,
}

/// Render + panels over a [`LivePlugin`].
pub struct GuiPlugin {
    pub opts: GuiOptions,
}

impl Plugin for GuiPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(ClearColor(style::BACKGROUND))
            .insert_resource(panels::UiState {
                show_axes: self.opts.show_axes,
                show_frames: self.opts.show_frames,
                ..Default::default()
            })
            .insert_resource(shot::ShotPlan::new(&self.opts))
            .configure_sets(Update, GuiSystems::View.after(LiveSystems::Refresh))
            .add_systems(
                Startup,
                ((view3d::setup, world::setup).chain(), panels::setup),
            )
            .add_systems(
                Update,
                (
                    (view3d::update_arm, world::update).chain(),
                    view3d::gizmos,
                    world::forces,
                    view3d::orbit,
                )
                    .in_set(GuiSystems::View),
            )
            .add_systems(
                bevy_egui::EguiPrimaryContextPass,
                (panels::ui, view3d::fit_viewport).chain(),
            )
            .add_systems(Last, (shot::frame, shot::on_exit).chain());
    }
}

/// Whether a display is available to open a window on.
pub fn display_available() -> bool {
    std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty())
}
