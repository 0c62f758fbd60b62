//! Colours and units: one place, so the 3D view, the table and the legend agree.

use bevy::prelude::Color;
use bevy_egui::egui::Color32;

use crate::report::JointHealth;
use crate::scene::JointKind;

/// Behind the arm.
pub const BACKGROUND: Color = Color::srgb(0.16, 0.18, 0.22);
/// The fixed base link.
pub const BASE: Color = Color::srgb(0.35, 0.36, 0.40);
/// A link touching something (blended over its state colour), and the world's objects.
pub const CONTACT: Color = Color::srgb(0.1, 0.85, 1.0);
pub const OBJECT: Color = Color::srgb(0.62, 0.52, 0.42);
pub const FIXED_OBJECT: Color = Color::srgb(0.45, 0.47, 0.5);

/// (r, g, b) of a joint state, 0..=255.
pub fn rgb(h: JointHealth) -> [u8; 3] {
    match h {
        JointHealth::Ok => [86, 186, 112],
        JointHealth::Degraded => [240, 178, 50],
        JointHealth::Offline => [130, 136, 150],
        JointHealth::Faulted => [228, 64, 52],
        JointHealth::Restarting => [140, 120, 235],
    }
}

pub fn color32(h: JointHealth) -> Color32 {
    let [r, g, b] = rgb(h);
    Color32::from_rgb(r, g, b)
}

pub fn color(h: JointHealth) -> Color {
    let [r, g, b] = rgb(h);
    Color::srgb_u8(r, g, b)
}

pub const STATES: [JointHealth; 5] = [
    JointHealth::Ok,
    JointHealth::Degraded,
    JointHealth::Offline,
    JointHealth::Faulted,
    JointHealth::Restarting,
];

pub fn state_name(h: JointHealth) -> &'static str {
    match h {
        JointHealth::Ok => "OK",
        JointHealth::Degraded => "DEGRADED",
        JointHealth::Offline => "OFFLINE",
        JointHealth::Faulted => "FAULTED",
        JointHealth::Restarting => "RESTARTING",
    }
}

/// Angle unit of the tables and plots (prismatic joints are always in mm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Units {
    #[default]
    Deg,
    Rad,
}

impl Units {
    /// Value of a position (or position error) of a `kind` joint in display units.
    pub fn pos(self, kind: JointKind, v: f64) -> f64 {
        match (kind, self) {
            (JointKind::Prismatic, _) => v * 1e3,
            (_, Units::Deg) => v.to_degrees(),
            (_, Units::Rad) => v,
        }
    }

    /// Unit label of a position.
    pub fn pos_unit(self, kind: JointKind) -> &'static str {
        match (kind, self) {
            (JointKind::Prismatic, _) => "mm",
            (_, Units::Deg) => "°",
            (_, Units::Rad) => "rad",
        }
    }

    /// Unit label of a torque (force for prismatic joints).
    pub fn torque_unit(kind: JointKind) -> &'static str {
        match kind {
            JointKind::Prismatic => "N",
            _ => "N·m",
        }
    }
}
