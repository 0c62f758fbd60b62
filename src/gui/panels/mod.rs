//! The egui panels. Top bar: run controls (play, pause, step, speed, reset, real
//! time), units, view toggles, the state legend and the e-stop (Space or Esc).
//! Right: plots of setpoint vs measured, error and torque for the joints ticked in
//! the table, over a chosen window; the event timeline. Bottom: the joint table and,
//! for the selected joint, fault injection, backend swap and live gains.
//!
//! Every action becomes a [`ControlCommand`] on the run's control channel, the same
//! messages the CLI sends; the panels change nothing else.

mod bar;
mod joints;
mod plots;

use bevy::prelude::*;
use bevy_egui::EguiContexts;
use bevy_egui::egui::{self, Ui};

use crate::app::live::LiveSession;
use crate::control::Gains;
use crate::runtime::command::ControlCommand;

use super::style::Units;

/// Panel state (what the operator has chosen; nothing of the run's).
#[derive(Resource)]
pub struct UiState {
    /// Where the 3D view is (logical pixels), after the panels took their space.
    pub view_rect: Option<egui::Rect>,
    /// A drag that began over the 3D view is still going.
    pub dragging_view: bool,
    pub show_axes: bool,
    pub show_frames: bool,
    /// Contact force arrows (scenes with a world).
    pub show_forces: bool,
    pub units: Units,
    /// Joints shown in the plots.
    pub plotted: Vec<bool>,
    pub window_s: f64,
    /// Joint whose actions are shown.
    pub selected: usize,
    pub fault_kind: usize,
    pub fault_arg: String,
    /// Seconds the injected fault lasts; 0: until cleared by the run's end.
    pub fault_for_s: f64,
    pub ports: Vec<String>,
    pub swap_port: String,
    pub swap_dxl: bool,
    pub swap_id: u8,
    pub swap_baud: u32,
    /// Gains being edited: (joint, gains).
    pub gains: Option<(usize, Gains)>,
    pub speed: f64,
    /// Last message for the operator, and whether it is an error.
    pub status: Option<(String, bool)>,
    /// Problems found at start (e.g. a mesh that did not load).
    pub problems: Vec<String>,
    /// Frame time, ms (smoothed).
    pub frame_ms: f64,
}

impl Default for UiState {
    fn default() -> Self {
        Self {
            view_rect: None,
            dragging_view: false,
            show_axes: false,
            show_frames: false,
            show_forces: true,
            units: Units::Deg,
            plotted: Vec::new(),
            window_s: 10.0,
            selected: 0,
            fault_kind: 0,
            fault_arg: String::new(),
            fault_for_s: 1.0,
            ports: Vec::new(),
            swap_port: "virtual:bench".into(),
            swap_dxl: false,
            swap_id: 1,
            swap_baud: 1_000_000,
            gains: None,
            speed: 1.0,
            status: None,
            problems: Vec::new(),
            frame_ms: 0.0,
        }
    }
}

pub fn setup(session: Res<LiveSession>, mut ui: ResMut<UiState>) {
    let n = session.0.scene.joints.len();
    ui.plotted = (0..n).map(|i| i < 2).collect();
    ui.speed = session.0.options.speed;
    ui.ports = list_ports();
}

/// Serial ports on this machine, plus an emulated bus for trying swaps without one.
pub(super) fn list_ports() -> Vec<String> {
    let mut v: Vec<String> = serialport::available_ports()
        .map(|ps| ps.into_iter().map(|p| p.port_name).collect())
        .unwrap_or_default();
    v.push("virtual:bench".into());
    v
}

pub fn ui(
    mut contexts: EguiContexts,
    mut session: ResMut<LiveSession>,
    mut st: ResMut<UiState>,
    time: Res<Time<Real>>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let dt_ms = time.delta_secs_f64() * 1e3;
    st.frame_ms = if st.frame_ms == 0.0 {
        dt_ms
    } else {
        st.frame_ms * 0.9 + dt_ms * 0.1
    };
    let mut root = Ui::new(
        ctx.clone(),
        "armhil-root".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    let st = &mut *st;
    let s = &mut session.0;
    // The e-stop's keys work whatever has focus (Space only outside text fields).
    let (esc, space) = ctx.input(|i| {
        (
            i.key_pressed(egui::Key::Escape),
            i.key_pressed(egui::Key::Space),
        )
    });
    if esc || (space && !ctx.egui_wants_keyboard_input()) {
        send(s, st, ControlCommand::EStop);
    }
    egui::Panel::top("bar")
        .exact_size(38.0)
        .show(&mut root, |ui| {
            if s.is_replay() {
                bar::replay_bar(ui, s, st)
            } else {
                bar::top_bar(ui, s, st)
            }
        });
    egui::Panel::bottom("joints")
        .exact_size(222.0)
        .show(&mut root, |ui| {
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.set_width((ui.available_width() - 420.0).max(300.0));
                    joints::joint_table(ui, s, st);
                });
                ui.separator();
                ui.vertical(|ui| joints::joint_actions(ui, s, st));
            });
        });
    egui::Panel::right("plots")
        .exact_size(440.0)
        .show(&mut root, |ui| {
            plots::plots(ui, s, st);
            ui.separator();
            plots::timeline(ui, s);
        });
    let free = root.available_rect_before_wrap();
    st.view_rect = Some(free);
    bar::legend(&ctx, free.min + egui::vec2(8.0, 8.0));
    let pointer = ctx.input(|i| (i.pointer.press_origin(), i.pointer.any_down()));
    st.dragging_view = pointer.1 && pointer.0.is_some_and(|p| free.contains(p));
    Ok(())
}

/// Sends a command; a refusal by the channel shows in the status line.
pub(super) fn send(s: &mut crate::app::session::Session, st: &mut UiState, c: ControlCommand) {
    let what = format!("{c:?}");
    match s.send(c) {
        Ok(()) => st.status = Some((format!("sent: {}", short(&what)), false)),
        Err(e) => st.status = Some((e.to_string(), true)),
    }
}

pub(super) fn short(s: &str) -> String {
    if s.len() > 90 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(90).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s.to_string()
    }
}
