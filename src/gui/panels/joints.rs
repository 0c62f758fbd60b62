//! The joint table and the selected joint's actions: fault injection, backend swap,
//! live gains, reset.

use bevy_egui::egui::{self, Color32, RichText, Ui};

use super::super::style::{self, Units};
use super::{UiState, list_ports, send, short};
use crate::report::JointHealth;
use crate::runtime::command::{ControlCommand, parse_backend};

/// Fault kinds offered, with their default argument (CLI spelling, see `--fault`).
const FAULTS: [(&str, Option<&str>); 15] = [
    ("panic", None),
    ("hang", None),
    ("slow", Some("5")),
    ("encoder_stuck", None),
    ("encoder_noise", Some("0.01")),
    ("encoder_offset", Some("0.1")),
    ("torque_sag", Some("0.3")),
    ("servo_error", Some("overload")),
    ("power_loss", None),
    ("jam", None),
    ("link_drop", Some("0.2")),
    ("link_corrupt", Some("0.05")),
    ("link_latency", Some("5,2")),
    ("unplug", None),
    ("wrong_id", Some("42")),
];

pub(super) fn joint_table(ui: &mut Ui, s: &mut crate::app::session::Session, st: &mut UiState) {
    let snap = &s.snapshot;
    let u = st.units;
    egui::ScrollArea::both().id_salt("table").show(ui, |ui| {
        egui::Grid::new("joint-table")
            .striped(true)
            .spacing(egui::vec2(7.0, 4.0))
            .show(ui, |ui| {
                for h in [
                    "plot", "joint", "backend", "service", "state", "setpoint", "measured", "error",
                    "torque", "load", "temp", "misses", "restarts", "link",
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
                    ui.label(RichText::new(short_service(&j.service)).monospace().small())
                        .on_hover_text(format!(
                            "{}: where the joint's controller service runs (a thread of armhil, its own process, or a program over Zenoh)",
                            j.service
                        ));
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
                    ui.monospace(format!("{}", j.restarts));
                    ui.monospace(match j.link_latency_us {
                        Some(us) => format!("{us:5.0} µs"),
                        None => "   —".into(),
                    });
                    ui.end_row();
                }
            });
    });
}

/// `process 1234` → `pid 1234`, `zenoh a/b/c` → `zenoh`: the table's short form.
fn short_service(s: &str) -> String {
    if let Some(pid) = s.strip_prefix("process ") {
        if pid.starts_with('(') {
            return "process".into();
        }
        return format!("pid {pid}");
    }
    if s.starts_with("zenoh ") {
        return "zenoh".into();
    }
    s.to_string()
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

pub(super) fn joint_actions(ui: &mut Ui, s: &mut crate::app::session::Session, st: &mut UiState) {
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
                Err(e) => st.status = Some((e.to_string(), true)),
            }
        }
    });
    if j.backend.starts_with("served:") || j.backend.starts_with("proxy:") {
        // A host drives it (`armhil serve`): no swap, and its gains are its servo's
        // registers, the host's to write.
        ui.label(
            RichText::new(
                "driven by the host on the served bus: its gains are the servo's registers",
            )
            .small()
            .weak(),
        );
        return;
    }
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
                Err(e) => st.status = Some((e.to_string(), true)),
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
