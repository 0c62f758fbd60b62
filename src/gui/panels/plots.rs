//! Plots of the ticked joints (position with dashed setpoint, error, torque) over a
//! chosen window, and the event timeline.

use bevy_egui::egui::{self, Color32, RichText, Ui};
use egui_plot::{Legend, Line, LineStyle, Plot};

use super::super::style;
use super::UiState;

/// Plot windows offered, s.
const WINDOWS: [f64; 5] = [2.0, 5.0, 10.0, 30.0, 60.0];

/// Distinct colours for plotted joints.
fn joint_colour(i: usize) -> Color32 {
    const P: [Color32; 8] = [
        Color32::from_rgb(90, 170, 255),
        Color32::from_rgb(255, 150, 60),
        Color32::from_rgb(120, 220, 120),
        Color32::from_rgb(240, 100, 200),
        Color32::from_rgb(250, 220, 80),
        Color32::from_rgb(100, 230, 230),
        Color32::from_rgb(200, 160, 255),
        Color32::from_rgb(255, 110, 110),
    ];
    P[i % P.len()]
}

pub(super) fn plots(ui: &mut Ui, s: &crate::app::session::Session, st: &mut UiState) {
    ui.horizontal(|ui| {
        ui.label(RichText::new("Plots").strong());
        ui.label("window");
        egui::ComboBox::from_id_salt("plot-window")
            .width(60.0)
            .selected_text(format!("{} s", st.window_s))
            .show_ui(ui, |ui| {
                for w in WINDOWS {
                    ui.selectable_value(&mut st.window_s, w, format!("{w} s"));
                }
            });
        ui.label(RichText::new("(tick joints in the table)").small().weak());
    });
    let snap = &s.snapshot;
    // Before a full window has passed, show the first window.
    let t1 = snap.t.max(st.window_s);
    let t0 = t1 - st.window_s;
    let u = st.units;
    let joints: Vec<usize> = (0..snap.joints.len())
        .filter(|&i| st.plotted.get(i).copied().unwrap_or(false))
        .collect();
    let data: Vec<(usize, Vec<crate::recording::JointSample>)> = joints
        .iter()
        .map(|&i| (i, s.window(i, t0, snap.t, 500)))
        .collect();
    let kind = |i: usize| snap.joints[i].kind;
    let unit = snap.joints.first().map_or("rad", |j| u.pos_unit(j.kind));
    let h = ((ui.available_height() - 190.0) / 3.0).max(80.0);
    type Pick = fn(&crate::recording::JointSample) -> f64;
    let panels: [(&str, String, Pick, Option<Pick>, bool); 3] = [
        (
            "pos",
            format!("position, {unit} (dashed: setpoint)"),
            |x| x.measured,
            Some(|x| x.setpoint),
            true,
        ),
        ("err", format!("error, {unit}"), |x| x.error, None, true),
        ("tau", "torque, N·m".into(), |x| x.torque, None, false),
    ];
    for (id, title, pick, dashed, angular) in panels {
        ui.label(RichText::new(title).small());
        let mut plot = Plot::new(id);
        if id == "pos" {
            // One legend for the three plots (same colours).
            plot = plot.legend(
                Legend::default()
                    .position(egui_plot::Corner::LeftTop)
                    .background_alpha(0.6),
            );
        }
        plot.height(h)
            .link_axis("plots", [true, false])
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .allow_boxed_zoom(false)
            .include_x(t0)
            .include_x(t1)
            .show(ui, |p| {
                for (i, samples) in &data {
                    let conv = |v: f64| if angular { u.pos(kind(*i), v) } else { v };
                    let c = joint_colour(*i);
                    let name = &snap.joints[*i].name;
                    let pts: Vec<[f64; 2]> = samples.iter().map(|x| [x.t, conv(pick(x))]).collect();
                    p.line(Line::new(name.clone(), pts).color(c).width(1.5));
                    if let Some(sp) = dashed {
                        let pts: Vec<[f64; 2]> =
                            samples.iter().map(|x| [x.t, conv(sp(x))]).collect();
                        // Unnamed: the legend lists each joint once.
                        p.line(
                            Line::new("", pts)
                                .color(c)
                                .style(LineStyle::dashed_loose())
                                .width(1.0),
                        );
                    }
                }
            });
    }
}

pub(super) fn timeline(ui: &mut Ui, s: &crate::app::session::Session) {
    ui.label(RichText::new(format!("Events ({})", s.events.len())).strong());
    if s.events.is_empty() {
        ui.label(
            RichText::new("fault onsets and clears, state changes, swaps, e-stops appear here")
                .small()
                .weak(),
        );
    }
    egui::ScrollArea::vertical()
        .id_salt("events")
        .stick_to_bottom(true)
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let from = s.events.len().saturating_sub(300);
            for e in &s.events[from..] {
                let colour = match (e.kind.as_str(), e.state) {
                    (_, Some(h)) => style::color32(h),
                    ("fault_onset" | "fault_injected" | "estop", _) => {
                        Color32::from_rgb(240, 110, 90)
                    }
                    ("fault_clear" | "fault_detected", _) => Color32::from_rgb(240, 178, 50),
                    ("swap", _) => Color32::from_rgb(110, 170, 255),
                    (k, _) if k.ends_with("_refused") => Color32::LIGHT_RED,
                    _ => Color32::GRAY,
                };
                let who = if e.joint.is_empty() { "run" } else { &e.joint };
                ui.label(
                    RichText::new(format!("{:8.3} {who:<14} {:<16} {}", e.t, e.kind, e.detail))
                        .monospace()
                        .small()
                        .color(colour),
                );
            }
        });
}
