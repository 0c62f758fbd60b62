//! The top bar: run controls (or a replay's scrubber), units, view toggles, e-stop;
//! and the state legend over the 3D view.

use bevy_egui::egui::{self, Color32, RichText, Ui};

use super::super::style::{self, Units};
use super::{UiState, send};
use crate::app::session::SessionOptions;
use crate::runtime::Executor;
use crate::runtime::command::{ControlCommand, Pace};

pub(super) fn top_bar(ui: &mut Ui, s: &mut crate::app::session::Session, st: &mut UiState) {
    ui.horizontal_centered(|ui| {
        ui.label(RichText::new("armhil").strong().size(16.0));
        ui.label(RichText::new(&s.scene.name).monospace());
        ui.separator();
        let snap = &s.snapshot;
        let realtime = snap.executor == "realtime"
            || (snap.executor.is_empty() && s.options.executor == Executor::Realtime);
        let pace_ok = !realtime && !snap.finished;
        let why = "real time runs at the wall clock's pace";
        let paused = snap.paused;
        let play = ui
            .add_enabled(
                pace_ok,
                egui::Button::new(if paused { "▶ Play" } else { "⏸ Pause" }),
            )
            .on_disabled_hover_text(why);
        if play.clicked() {
            send(
                s,
                st,
                ControlCommand::Pace(if paused { Pace::Resume } else { Pace::Pause }),
            );
        }
        let rate = s.scene.physics.rate_hz;
        let ten_ms = ((rate * 0.01).round() as u32).max(1);
        if ui
            .add_enabled(pace_ok, egui::Button::new("⏭ 10 ms"))
            .on_hover_text("pause and advance 10 ms of simulated time")
            .on_disabled_hover_text(why)
            .clicked()
        {
            send(s, st, ControlCommand::Pace(Pace::Step(ten_ms)));
        }
        let r = ui
            .add_enabled(
                pace_ok,
                egui::Slider::new(&mut st.speed, 0.1..=10.0)
                    .logarithmic(true)
                    .max_decimals(1)
                    .prefix("×"),
            )
            .on_hover_text("simulated seconds per wall-clock second")
            .on_disabled_hover_text(why);
        if r.drag_stopped() || (r.changed() && !r.dragged()) {
            send(s, st, ControlCommand::Pace(Pace::Speed(Some(st.speed))));
        }
        if ui
            .button("⟲ Reset")
            .on_hover_text("start the scene again from t = 0")
            .clicked()
        {
            let opts = s.options.clone();
            s.restart(opts);
            st.status = Some(("run restarted".into(), false));
        }
        let hardware = s.scene.needs_realtime();
        let mut rt = realtime;
        if ui
            .add_enabled(!hardware, egui::Checkbox::new(&mut rt, "real time"))
            .on_hover_text(
                "services on their own threads, paced by the wall clock (needed to swap in real servos); restarts the run",
            )
            .changed()
        {
            let opts = SessionOptions {
                executor: if rt {
                    Executor::Realtime
                } else {
                    Executor::Lockstep
                },
                ..s.options.clone()
            };
            s.restart(opts);
        }
        ui.separator();
        let t = &s.snapshot;
        let state = if let Some(e) = &t.error {
            RichText::new(e).color(Color32::LIGHT_RED)
        } else if t.finished {
            let passed = t.report.as_ref().is_some_and(|r| r.passed);
            RichText::new(if passed { "finished: PASSED" } else { "finished: FAILED" })
                .color(if passed { Color32::LIGHT_GREEN } else { Color32::LIGHT_RED })
        } else {
            RichText::new(format!("t = {:.3} s of {:.0} s", t.t, t.duration_s)).monospace()
        };
        ui.label(state);
        view_options(ui, st);
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let latched = s.snapshot.estop.is_some();
            let (text, fill) = if latched {
                ("RESET E-STOP", Color32::from_rgb(200, 140, 20))
            } else {
                ("E-STOP", Color32::from_rgb(200, 30, 30))
            };
            let b = egui::Button::new(RichText::new(text).strong().size(17.0).color(Color32::WHITE))
                .fill(fill)
                .min_size(egui::vec2(150.0, 32.0));
            let hint = if latched {
                "release the e-stop: joints go back to their controllers"
            } else {
                "hold every joint where it is until reset (Space / Esc)"
            };
            if ui.add(b).on_hover_text(hint).clicked() {
                send(
                    s,
                    st,
                    if latched {
                        ControlCommand::Reset
                    } else {
                        ControlCommand::EStop
                    },
                );
            }
            ui.label(RichText::new(format!("{:4.0} ms/frame", st.frame_ms)).small().weak());
        });
    });
}

/// Units, view toggles and the state legend.
fn view_options(ui: &mut Ui, st: &mut UiState) {
    ui.separator();
    ui.selectable_value(&mut st.units, Units::Deg, "deg");
    ui.selectable_value(&mut st.units, Units::Rad, "rad");
    ui.checkbox(&mut st.show_axes, "axes")
        .on_hover_text("joint axes");
    ui.checkbox(&mut st.show_frames, "frames")
        .on_hover_text("link frames (x red, y green, z blue)");
    ui.checkbox(&mut st.show_forces, "forces")
        .on_hover_text("contact forces (scenes with a world): an arrow per contact, 2 cm per N");
}

/// The state colours, over the 3D view's top-left corner.
pub(super) fn legend(ctx: &egui::Context, at: egui::Pos2) {
    egui::Area::new("legend".into())
        .fixed_pos(at)
        .interactable(false)
        .show(ctx, |ui| {
            egui::Frame::new()
                .fill(Color32::from_black_alpha(140))
                .inner_margin(6.0)
                .corner_radius(4.0)
                .show(ui, |ui| {
                    for h in style::STATES {
                        ui.horizontal(|ui| {
                            ui.label(RichText::new("■").color(style::color32(h)).size(14.0));
                            ui.label(
                                RichText::new(style::state_name(h))
                                    .small()
                                    .color(Color32::LIGHT_GRAY),
                            );
                        });
                    }
                });
        });
}

/// The top bar of a replay: play/pause, speed and the time scrubber.
pub(super) fn replay_bar(ui: &mut Ui, s: &mut crate::app::session::Session, st: &mut UiState) {
    ui.horizontal_centered(|ui| {
        ui.label(RichText::new("armhil replay").strong().size(16.0));
        ui.label(RichText::new(&s.scene.name).monospace());
        ui.separator();
        let paused = s.snapshot.paused;
        if ui
            .button(if paused { "▶ Play" } else { "⏸ Pause" })
            .clicked()
        {
            send(
                s,
                st,
                ControlCommand::Pace(if paused { Pace::Resume } else { Pace::Pause }),
            );
        }
        let r = ui.add(
            egui::Slider::new(&mut st.speed, 0.1..=10.0)
                .logarithmic(true)
                .max_decimals(1)
                .prefix("×"),
        );
        if r.drag_stopped() || (r.changed() && !r.dragged()) {
            send(s, st, ControlCommand::Pace(Pace::Speed(Some(st.speed))));
        }
        if let Some(rp) = s.replay_mut() {
            let (a, b) = (rp.start, rp.end);
            let mut t = rp.t();
            let scrub = ui
                .add(
                    egui::Slider::new(&mut t, a..=b.max(a + 1e-3))
                        .suffix(" s")
                        .max_decimals(3),
                )
                .on_hover_text("drag to any instant of the recording");
            if scrub.changed() {
                rp.seek(t);
            }
        }
        view_options(ui, st);
    });
}
