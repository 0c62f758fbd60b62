//! The egui panels. Top bar: run controls (play, pause, step, speed, reset, real
//! time), units, view toggles, the state legend and the e-stop (Space or Esc).
//! Right: plots of setpoint vs measured, error and torque for the joints ticked in
//! the table, over a chosen window; the event timeline. Bottom: the joint table and,
//! for the selected joint, fault injection, backend swap and live gains.
//!
//! Every action becomes a [`ControlCommand`] on the run's control channel, the same
//! messages the CLI sends; the panels change nothing else.

use bevy::prelude::*;
use bevy_egui::egui::{self, Color32, RichText};
use bevy_egui::{EguiContexts, egui::Ui};
use egui_plot::{Legend, Line, LineStyle, Plot};

use super::style::{self, Units};
use crate::app::live::LiveSession;
use crate::app::session::SessionOptions;
use crate::control::Gains;
use crate::runtime::Executor;
use crate::runtime::control::{ControlCommand, Pace, parse_backend};
use crate::telemetry::JointHealth;

/// Fault kinds offered, with their default argument (CLI spelling, see `--fault`).
const FAULTS: [(&str, Option<&str>); 14] = [
    ("panic", None),
    ("hang", None),
    ("slow", Some("5")),
    ("encoder_stuck", None),
    ("encoder_noise", Some("0.01")),
    ("encoder_offset", Some("0.1")),
    ("torque_sag", Some("0.3")),
    ("servo_error", Some("overload")),
    ("power_loss", None),
    ("link_drop", Some("0.2")),
    ("link_corrupt", Some("0.05")),
    ("link_latency", Some("5,2")),
    ("unplug", None),
    ("wrong_id", Some("42")),
];

/// Plot windows offered, s.
const WINDOWS: [f64; 5] = [2.0, 5.0, 10.0, 30.0, 60.0];

/// Panel state (what the operator has chosen; nothing of the run's).
#[derive(Resource)]
pub struct UiState {
    /// Where the 3D view is (logical pixels), after the panels took their space.
    pub view_rect: Option<egui::Rect>,
    /// A drag that began over the 3D view is still going.
    pub dragging_view: bool,
    pub show_axes: bool,
    pub show_frames: bool,
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
fn list_ports() -> Vec<String> {
    let mut v: Vec<String> = serialport::available_ports()
        .map(|ps| ps.into_iter().map(|p| p.port_name).collect())
        .unwrap_or_default();
    v.push("virtual:bench".into());
    v
}

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
                replay_bar(ui, s, st)
            } else {
                top_bar(ui, s, st)
            }
        });
    egui::Panel::bottom("joints")
        .exact_size(222.0)
        .show(&mut root, |ui| {
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.set_width((ui.available_width() - 420.0).max(300.0));
                    joint_table(ui, s, st);
                });
                ui.separator();
                ui.vertical(|ui| joint_actions(ui, s, st));
            });
        });
    egui::Panel::right("plots")
        .exact_size(440.0)
        .show(&mut root, |ui| {
            plots(ui, s, st);
            ui.separator();
            timeline(ui, s);
        });
    let free = root.available_rect_before_wrap();
    st.view_rect = Some(free);
    legend(&ctx, free.min + egui::vec2(8.0, 8.0));
    let pointer = ctx.input(|i| (i.pointer.press_origin(), i.pointer.any_down()));
    st.dragging_view = pointer.1 && pointer.0.is_some_and(|p| free.contains(p));
    Ok(())
}

/// Sends a command; a refusal by the channel shows in the status line.
fn send(s: &mut crate::app::session::Session, st: &mut UiState, c: ControlCommand) {
    let what = format!("{c:?}");
    match s.send(c) {
        Ok(()) => st.status = Some((format!("sent: {}", short(&what)), false)),
        Err(e) => st.status = Some((e, true)),
    }
}

fn short(s: &str) -> String {
    if s.len() > 90 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(90).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s.to_string()
    }
}

fn top_bar(ui: &mut Ui, s: &mut crate::app::session::Session, st: &mut UiState) {
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
        let hardware = s.scene.joints.iter().any(|j| j.backend.is_hardware());
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
}

/// The state colours, over the 3D view's top-left corner.
fn legend(ctx: &egui::Context, at: egui::Pos2) {
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
fn replay_bar(ui: &mut Ui, s: &mut crate::app::session::Session, st: &mut UiState) {
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

fn joint_table(ui: &mut Ui, s: &mut crate::app::session::Session, st: &mut UiState) {
    let snap = &s.snapshot;
    let u = st.units;
    egui::ScrollArea::both().id_salt("table").show(ui, |ui| {
        egui::Grid::new("joint-table")
            .striped(true)
            .spacing(egui::vec2(7.0, 4.0))
            .show(ui, |ui| {
                for h in [
                    "plot", "joint", "backend", "state", "setpoint", "measured", "error", "torque",
                    "load", "temp", "misses", "link",
                ] {
                    ui.label(RichText::new(h).strong());
                }
                ui.end_row();
                if st.plotted.len() < snap.joints.len() {
                    st.plotted.resize(snap.joints.len(), false);
                }
                for (i, j) in snap.joints.iter().enumerate() {
                    ui.checkbox(&mut st.plotted[i], "");
                    let name = RichText::new(&j.name).monospace();
                    if ui
                        .selectable_label(st.selected == i, name)
                        .on_hover_text("select: faults, swap, gains")
                        .clicked()
                    {
                        st.selected = i;
                    }
                    ui.label(RichText::new(short_backend(&j.backend)).monospace().small())
                        .on_hover_text(format!("{} (driven by: {})", j.backend, j.mode));
                    let chip = RichText::new(style::state_name(j.state))
                        .color(Color32::BLACK)
                        .background_color(style::color32(j.state))
                        .monospace();
                    ui.label(chip);
                    let unit = u.pos_unit(j.kind);
                    ui.monospace(format!("{:8.2} {unit}", u.pos(j.kind, j.setpoint)));
                    ui.monospace(format!("{:8.2} {unit}", u.pos(j.kind, j.measured)));
                    ui.monospace(format!("{:7.3} {unit}", u.pos(j.kind, j.error)));
                    ui.monospace(format!("{:6.3} {}", j.torque, Units::torque_unit(j.kind)));
                    ui.monospace(format!("{:4.0} %", j.load * 100.0));
                    ui.monospace(match j.temperature_c {
                        Some(c) => format!("{c:5.1} °C"),
                        None => "   —".into(),
                    });
                    let misses = RichText::new(format!("{}", j.deadline_misses)).monospace();
                    ui.label(if j.deadline_misses > 0 {
                        misses.color(Color32::from_rgb(240, 178, 50))
                    } else {
                        misses
                    });
                    ui.monospace(match j.link_latency_us {
                        Some(us) => format!("{us:5.0} µs"),
                        None => "   —".into(),
                    });
                    ui.end_row();
                }
            });
    });
}

/// `serial:/dev/ttyUSB0:sts:3` → `ttyUSB0 sts#3`.
fn short_backend(b: &str) -> String {
    if let Some(rest) = b.strip_prefix("serial:") {
        let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
        if let [id, proto, port] = parts.as_slice() {
            let port = port.rsplit('/').next().unwrap_or(port);
            return format!("{port} {proto}#{id}");
        }
    }
    b.to_string()
}

fn joint_actions(ui: &mut Ui, s: &mut crate::app::session::Session, st: &mut UiState) {
    let Some(j) = s.snapshot.joints.get(st.selected).cloned() else {
        ui.label("waiting for the run…");
        return;
    };
    if s.is_replay() {
        ui.label(RichText::new(&j.name).strong().size(15.0));
        ui.label("A replay shows what was recorded: faults, swaps and gains act on live runs.");
        ui.label(format!("restarts so far: {}", j.restarts));
        return;
    }
    ui.horizontal(|ui| {
        ui.label(RichText::new(&j.name).strong().size(15.0));
        ui.label(RichText::new(format!("on {}", j.backend)).small());
        if j.state == JointHealth::Faulted
            && ui
                .button("reset joint")
                .on_hover_text("clear the latch: a fresh service with a fresh restart budget")
                .clicked()
        {
            send(s, st, ControlCommand::ResetJoint(j.name.clone()));
        }
    });
    // Fault injection.
    ui.horizontal(|ui| {
        ui.label("fault");
        let before = st.fault_kind;
        egui::ComboBox::from_id_salt("fault-kind")
            .width(118.0)
            .selected_text(FAULTS[st.fault_kind].0)
            .show_ui(ui, |ui| {
                for (k, (name, _)) in FAULTS.iter().enumerate() {
                    ui.selectable_value(&mut st.fault_kind, k, *name);
                }
            });
        if before != st.fault_kind || (st.fault_arg.is_empty() && FAULTS[st.fault_kind].1.is_some())
        {
            st.fault_arg = FAULTS[st.fault_kind].1.unwrap_or("").to_string();
        }
        if FAULTS[st.fault_kind].1.is_some() {
            ui.add(egui::TextEdit::singleline(&mut st.fault_arg).desired_width(64.0))
                .on_hover_text(
                    "argument, as in --fault (ms, σ rad, rad, factor, bit, p, ms,jitter, id)",
                );
        }
        ui.add(
            egui::DragValue::new(&mut st.fault_for_s)
                .range(0.0..=600.0)
                .speed(0.05)
                .suffix(" s"),
        )
        .on_hover_text("how long; 0 = until the end of the run");
        if ui.button("inject").clicked() {
            let (kind, arg) = FAULTS[st.fault_kind];
            let arg = if arg.is_some() {
                format!("({})", st.fault_arg.trim())
            } else {
                String::new()
            };
            let until = if st.fault_for_s > 0.0 {
                format!("..{}", st.fault_for_s)
            } else {
                String::new()
            };
            match crate::faults::parse_cli_fault(&format!("{}:{kind}{arg}@0{until}", j.name)) {
                Ok(f) => send(s, st, ControlCommand::Fault(f)),
                Err(e) => st.status = Some((e, true)),
            }
        }
    });
    // Backend swap.
    ui.horizontal(|ui| {
        ui.label("swap to");
        egui::ComboBox::from_id_salt("swap-port")
            .width(120.0)
            .selected_text(short_backend(&st.swap_port))
            .show_ui(ui, |ui| {
                for p in st.ports.clone() {
                    ui.selectable_value(&mut st.swap_port, p.clone(), p);
                }
            });
        if ui
            .small_button("↻")
            .on_hover_text("scan serial ports")
            .clicked()
        {
            st.ports = list_ports();
        }
        let before = st.swap_dxl;
        ui.selectable_value(&mut st.swap_dxl, false, "sts");
        ui.selectable_value(&mut st.swap_dxl, true, "dxl");
        if before != st.swap_dxl {
            st.swap_baud = if st.swap_dxl { 57_600 } else { 1_000_000 };
        }
        ui.add(
            egui::DragValue::new(&mut st.swap_id)
                .range(0..=252)
                .prefix("id "),
        );
        ui.add(
            egui::DragValue::new(&mut st.swap_baud)
                .range(9_600..=10_500_000)
                .speed(1000),
        )
        .on_hover_text("baud");
    });
    ui.horizontal(|ui| {
        let on_hw = j.backend != "sim";
        let spec = format!(
            "serial:{}:{}:{}:{}",
            st.swap_port,
            if st.swap_dxl { "dxl" } else { "sts" },
            st.swap_id,
            st.swap_baud
        );
        if ui
            .add_enabled(!on_hw, egui::Button::new("swap in servo"))
            .on_hover_text("bumpless: the servo is walked to the simulated position first")
            .clicked()
        {
            match parse_backend(&spec) {
                Ok(backend) => send(
                    s,
                    st,
                    ControlCommand::Swap {
                        joint: j.name.clone(),
                        backend,
                    },
                ),
                Err(e) => st.status = Some((e, true)),
            }
        }
        if ui
            .add_enabled(on_hw, egui::Button::new("back to sim"))
            .clicked()
        {
            send(
                s,
                st,
                ControlCommand::Swap {
                    joint: j.name.clone(),
                    backend: crate::scene::BackendSpec::Sim,
                },
            );
        }
    });
    // Live gains.
    if let Some(current) = j.gains {
        if st.gains.is_none_or(|(k, _)| k != st.selected) {
            st.gains = Some((st.selected, current));
        }
        if let Some((_, g)) = st.gains.as_mut() {
            let mut apply = false;
            ui.horizontal(|ui| {
                ui.label("gains");
                ui.add(
                    egui::DragValue::new(&mut g.kp)
                        .range(0.0..=1e6)
                        .speed(0.1)
                        .prefix("kp "),
                );
                ui.add(
                    egui::DragValue::new(&mut g.ki)
                        .range(0.0..=1e7)
                        .speed(0.1)
                        .prefix("ki "),
                );
                ui.add(
                    egui::DragValue::new(&mut g.kd)
                        .range(0.0..=1e5)
                        .speed(0.01)
                        .prefix("kd "),
                );
                apply = ui
                    .add_enabled(*g != current, egui::Button::new("apply"))
                    .clicked();
            });
            if apply {
                let gains = *g;
                send(
                    s,
                    st,
                    ControlCommand::Gains {
                        joint: j.name.clone(),
                        gains,
                    },
                );
            }
        }
    }
    if let Some((msg, err)) = &st.status {
        let t = RichText::new(short(msg)).small();
        ui.label(if *err {
            t.color(Color32::LIGHT_RED)
        } else {
            t.weak()
        });
    }
    for p in &st.problems {
        ui.label(RichText::new(short(p)).small().color(Color32::LIGHT_RED));
    }
}

fn plots(ui: &mut Ui, s: &crate::app::session::Session, st: &mut UiState) {
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
    let data: Vec<(usize, Vec<crate::telemetry::recorder::JointSample>)> = joints
        .iter()
        .map(|&i| (i, s.window(i, t0, snap.t, 500)))
        .collect();
    let kind = |i: usize| snap.joints[i].kind;
    let unit = snap.joints.first().map_or("rad", |j| u.pos_unit(j.kind));
    let h = ((ui.available_height() - 190.0) / 3.0).max(80.0);
    type Pick = fn(&crate::telemetry::recorder::JointSample) -> f64;
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

fn timeline(ui: &mut Ui, s: &crate::app::session::Session) {
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
